//! A token family's history under load: every request with the time it was sent (its
//! invocation) and the time its answer arrived (its completion), and what came back.
//!
//! Tokens are named, never stored: the driver numbers the refresh and access tokens of a
//! family as it first sees them (`RT0` is the one the code exchange returned), so a history
//! holds no token value and can go into any report. Times are microseconds since the load
//! started, from one monotonic clock.

use std::fmt;

use serde::Serialize;
use tokenlife_model::{ClientType, ErrorCode};

/// Microseconds since the load started.
pub type Micros = u64;

/// A refresh token of the family, numbered in the order the client first saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Rt(pub u32);

/// An access token of the family, numbered in the order the client first saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct At(pub u32);

impl fmt::Display for Rt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RT{}", self.0)
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AT{}", self.0)
    }
}

/// Who sent a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// One of the legitimate clients driving the family (a worker of the load).
    Client(u16),
    /// The attacker, replaying a refresh token it copied earlier (with the owner's client
    /// credentials: the server cannot tell it from the owner).
    Attacker,
    /// The check after a crash-restart.
    Audit,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Client(n) => write!(f, "client {n}"),
            Actor::Attacker => f.write_str("attacker"),
            Actor::Audit => f.write_str("audit"),
        }
    }
}

/// What was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "request", content = "token")]
pub enum Request {
    /// The authorization-code exchange that starts the family (RFC 6749 §4.1.3).
    Exchange,
    /// `grant_type=refresh_token` with this token (RFC 6749 §6), scope omitted.
    Refresh(Rt),
    /// A call to the protected resource (RFC 6750).
    UseAccess(At),
    /// Revocation of a refresh token (RFC 7009).
    RevokeRefresh(Rt),
    /// Revocation of an access token (RFC 7009).
    RevokeAccess(At),
    /// Introspection of a refresh token (RFC 7662).
    IntrospectRefresh(Rt),
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Exchange => f.write_str("code exchange"),
            Request::Refresh(r) => write!(f, "refresh {r}"),
            Request::UseAccess(a) => write!(f, "resource with {a}"),
            Request::RevokeRefresh(r) => write!(f, "revoke {r}"),
            Request::RevokeAccess(a) => write!(f, "revoke {a}"),
            Request::IntrospectRefresh(r) => write!(f, "introspect {r}"),
        }
    }
}

/// What came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "response")]
pub enum Response {
    /// A 200 token response: a new access token and the refresh token in it, if any.
    Tokens {
        /// The access token.
        access: At,
        /// The refresh token in the response (a new one, the presented one, or one seen before).
        refresh: Option<Rt>,
    },
    /// An OAuth error response from the token endpoint.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `error` code.
        error: ErrorCode,
    },
    /// The resource answered 200, a revocation 200, an introspection `active: true`.
    Honoured,
    /// The resource answered 401, a revocation a 4xx, an introspection `active: false`.
    Denied,
    /// A 5xx, or a body that is no OAuth response: the request may or may not have taken effect.
    Broken {
        /// The HTTP status.
        status: u16,
    },
    /// No answer (a timeout, a lost connection, a server killed mid-request): the request
    /// may or may not have taken effect, at any time after it was sent.
    Unknown,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Tokens {
                access,
                refresh: Some(r),
            } => write!(f, "200 {access} + {r}"),
            Response::Tokens {
                access,
                refresh: None,
            } => write!(f, "200 {access}, no refresh token"),
            Response::Refused { status, error } => write!(f, "{status} {error}"),
            Response::Honoured => f.write_str("honoured"),
            Response::Denied => f.write_str("refused"),
            Response::Broken { status } => write!(f, "{status}, not an OAuth answer"),
            Response::Unknown => f.write_str("no answer"),
        }
    }
}

impl Response {
    /// Whether the request may have changed the server without a definite answer saying how.
    pub fn is_uncertain(self) -> bool {
        matches!(self, Response::Unknown | Response::Broken { .. })
    }
}

/// One request and its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    /// Who sent it.
    pub actor: Actor,
    /// What was asked.
    pub request: Request,
    /// What came back.
    pub response: Response,
    /// When it was sent.
    pub invoked: Micros,
    /// When its answer arrived; `None` when none did ([`Response::Unknown`]).
    pub completed: Option<Micros>,
    /// Which server instance it went to (0 with one instance).
    pub instance: u8,
}

impl Op {
    /// The completion, or "never" for a request without an answer: it may take effect at
    /// any time after it was sent.
    pub fn done(&self) -> Micros {
        self.completed.unwrap_or(Micros::MAX)
    }

    /// The action, as it reads in a timeline.
    pub fn describe(&self) -> String {
        format!("{}: {} → {}", self.actor, self.request, self.response)
    }
}

/// A token family (one grant) and everything that was asked about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct History {
    /// The family's number in the run.
    pub family: u32,
    /// Its client's type (the policy's rotation depends on it).
    pub client: ClientType,
    /// The requests, in the order they were sent.
    pub ops: Vec<Op>,
}

impl History {
    /// An empty history.
    pub fn new(family: u32, client: ClientType) -> History {
        History {
            family,
            client,
            ops: Vec::new(),
        }
    }
}
