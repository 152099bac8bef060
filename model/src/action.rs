//! The vocabulary of the abstract server: who acts ([`Actor`]), what they do ([`Action`])
//! and what a client can observe of the answer ([`Outcome`]). The spec ([`crate::spec`])
//! says which outcomes each action may have; the harness maps each action to HTTP
//! exchanges and each response back to an outcome.
//!
//! Clauses: RFC 6749 §4.1.2, §5.2, §6; RFC 6750 §3.1; RFC 7009 §2.1; RFC 7662 §2.2.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::deadline::Deadline;
use crate::error_code::ErrorCode;
use crate::policy::ClientType;
use crate::state::{AtId, GrantId, RtId, Scope};

/// Who sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// A legitimate client, authenticating as itself.
    Client(ClientType),
    /// Someone without any client's secret: the attacker, or a confidential client's
    /// request sent without authentication. It can pose as the public client.
    Attacker,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Client(ClientType::Confidential) => f.write_str("confidential client"),
            Actor::Client(ClientType::Public) => f.write_str("public client"),
            Actor::Attacker => f.write_str("attacker"),
        }
    }
}

/// A token named in a revocation or introspection request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenRef {
    /// A refresh token.
    Refresh(RtId),
    /// An access token.
    Access(AtId),
}

impl fmt::Display for TokenRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenRef::Refresh(r) => r.fmt(f),
            TokenRef::Access(a) => a.fmt(f),
        }
    }
}

/// The `token_type_hint` of a revocation (RFC 7009 §2.1): a wrong hint never stops the lookup,
/// so the spec does not depend on it; the harness sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    /// No hint.
    None,
    /// The right token type.
    Right,
    /// The other token type.
    Wrong,
}

/// What can happen to the system: each maps to one or two HTTP exchanges in the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Authorization code flow + code exchange; `offline` asks for `offline_access`.
    Authorize {
        /// The client.
        client: ClientType,
        /// The requested scope.
        scope: Scope,
        /// Whether `offline_access` is requested.
        offline: bool,
    },
    /// A second exchange of the grant's authorization code (RFC 6749 §4.1.2).
    ReplayCode {
        /// The grant whose code is replayed.
        grant: GrantId,
    },
    /// `grant_type=refresh_token`, with an optional `scope`.
    Refresh {
        /// Who presents it.
        by: Actor,
        /// The token presented.
        rt: RtId,
        /// The requested scope; `None`: omitted.
        scope: Option<Scope>,
    },
    /// The owner refreshes (scope omitted); the server processes it but the response is lost.
    RefreshLost {
        /// The token presented.
        rt: RtId,
    },
    /// A call to the protected resource with an access token.
    UseAccess {
        /// The token.
        at: AtId,
    },
    /// RFC 7009 revocation.
    Revoke {
        /// Who asks.
        by: Actor,
        /// The token.
        token: TokenRef,
        /// The `token_type_hint`.
        hint: Hint,
    },
    /// RFC 7662 introspection by the token's client.
    Introspect {
        /// The token.
        token: TokenRef,
    },
    /// Time passes, to the next deadline.
    Tick,
    /// Time passes to one named deadline of one token, or to one second before it: a walk
    /// can land inside a window (just before its end) as well as past any deadline, not only
    /// the next. Generated walks and scenario `advance` ticks; not in the model checker's
    /// alphabet (its `Tick` reaches every deadline in turn).
    Advance {
        /// Which deadline.
        to: Deadline,
        /// Whose.
        token: TokenRef,
        /// One second before it rather than on it.
        before: bool,
    },
    /// The server restarts on its store: no change allowed.
    Restart,
    /// The attacker copies a refresh token (model checking only).
    Steal {
        /// The token.
        rt: RtId,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = |c: &ClientType| match c {
            ClientType::Confidential => "confidential client",
            ClientType::Public => "public client",
        };
        match self {
            Action::Authorize {
                client,
                scope,
                offline,
            } => write!(
                f,
                "{} authorizes scope \"{}{}\"",
                kind(client),
                scope,
                if *offline { " offline_access" } else { "" }
            ),
            Action::ReplayCode { grant } => write!(f, "the code of {grant} is exchanged again"),
            Action::Refresh { by, rt, scope } => match scope {
                None => write!(f, "{by} refreshes with {rt}"),
                Some(s) => write!(f, "{by} refreshes with {rt} asking scope \"{s}\""),
            },
            Action::RefreshLost { rt } => {
                write!(f, "owner refreshes with {rt}; the response is lost")
            }
            Action::UseAccess { at } => write!(f, "{at} is used at the resource"),
            Action::Revoke { by, token, hint } => {
                write!(f, "{by} revokes {token}")?;
                match hint {
                    Hint::None => Ok(()),
                    Hint::Right => f.write_str(" (right hint)"),
                    Hint::Wrong => f.write_str(" (wrong hint)"),
                }
            }
            Action::Introspect { token } => write!(f, "{token} is introspected"),
            Action::Tick => f.write_str("time passes to the next deadline"),
            Action::Advance { to, token, before } => write!(
                f,
                "time passes to {}the {to} of {token}",
                if *before { "just before " } else { "" }
            ),
            Action::Restart => f.write_str("the server restarts"),
            Action::Steal { rt } => write!(f, "the attacker steals {rt}"),
        }
    }
}

/// What a client can observe of one action's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// 200 token response: a new access token, the refresh token in the response (a new one,
    /// or one issued before, as a same-successor grace reuse returns), the granted scope.
    Tokens {
        /// The new access token.
        access: AtId,
        /// The refresh token in the response, if any.
        refresh: Option<RtId>,
        /// Whether that refresh token is new in this response.
        refresh_is_new: bool,
        /// The granted scope.
        scope: Scope,
    },
    /// An OAuth error response.
    Error {
        /// The HTTP status (400 or 401).
        status: u16,
        /// The `error` code.
        error: ErrorCode,
    },
    /// The protected resource: 200, or 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    Resource {
        /// Whether the token was honoured.
        ok: bool,
    },
    /// A revocation response: 200, or a 4xx refusal (another client's token).
    Revocation {
        /// Whether the answer was 200.
        ok: bool,
    },
    /// An introspection response.
    Introspection {
        /// The `active` member.
        active: bool,
    },
    /// No HTTP exchange (time, restart, theft).
    Nothing,
}

impl Outcome {
    pub(crate) fn invalid_grant() -> Outcome {
        Outcome::Error {
            status: 400,
            error: ErrorCode::InvalidGrant,
        }
    }
    pub(crate) fn invalid_scope() -> Outcome {
        Outcome::Error {
            status: 400,
            error: ErrorCode::InvalidScope,
        }
    }
    pub(crate) fn invalid_client() -> Outcome {
        Outcome::Error {
            status: 401,
            error: ErrorCode::InvalidClient,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Tokens {
                access,
                refresh,
                refresh_is_new,
                scope,
            } => {
                write!(f, "200: {access}")?;
                match refresh {
                    Some(r) if *refresh_is_new => write!(f, " + new {r}")?,
                    Some(r) => write!(f, " + {r} again")?,
                    None => f.write_str(", no refresh token")?,
                }
                write!(f, ", scope \"{scope}\"")
            }
            Outcome::Error { status, error } => write!(f, "{status} {error}"),
            Outcome::Resource { ok: true } => f.write_str("200 from the resource"),
            Outcome::Resource { ok: false } => f.write_str("401 invalid_token"),
            Outcome::Revocation { ok: true } => f.write_str("200 (revocation)"),
            Outcome::Revocation { ok: false } => f.write_str("4xx (revocation refused)"),
            Outcome::Introspection { active } => write!(f, "active: {active}"),
            Outcome::Nothing => f.write_str("-"),
        }
    }
}
