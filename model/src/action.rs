//! The vocabulary of the abstract server: who acts ([`Actor`]), what they do ([`Action`])
//! and what a client can observe of the answer ([`Outcome`]). The spec ([`crate::spec`])
//! says which outcomes each action may have; the harness maps each action to HTTP
//! exchanges and each response back to an outcome.
//!
//! [`Deadline`] names the deadlines of a token time can be moved to (`Action::Advance`):
//! a consumed refresh token's grace end, an access token's expiry, a refresh token's
//! lifetime, idle timeout and absolute cap, and the first of those three.
//!
//! Clauses: RFC 6749 §4.1.2, §5.2, §6; RFC 6750 §3.1; RFC 7009 §2.1; RFC 7662 §2.2;
//! RFC 9700 §4.14.2 (grace window, idle timeout); the browser-apps draft (absolute cap).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dpop::ProofFault;
use crate::error_code::ErrorCode;
use crate::policy::ClientType;
use crate::state::{AtId, GrantId, RtId, Scope, State, NEVER};

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
    /// The token's owner presents it with a faulty DPoP proof (RFC 9449): a refresh, or a
    /// call to the resource. Only for a client type the policy has use DPoP.
    Unproven {
        /// The token: a refresh token (a refresh, scope omitted) or an access token (the
        /// resource).
        token: TokenRef,
        /// What is wrong with the proof.
        fault: ProofFault,
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
            Action::Unproven {
                token: TokenRef::Refresh(rt),
                fault,
            } => write!(f, "owner refreshes with {rt} and {fault}"),
            Action::Unproven {
                token: TokenRef::Access(at),
                fault,
            } => write!(f, "{at} is used at the resource with {fault}"),
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

/// A deadline of one token that time can be moved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deadline {
    /// The end of a consumed refresh token's grace window.
    GraceEnd,
    /// An access token's expiry (`expires_in`).
    AccessExpiry,
    /// A refresh token's lifetime (`refresh_ttl`).
    RefreshExpiry,
    /// A refresh token's idle timeout.
    IdleTimeout,
    /// The absolute cap of a refresh token's family.
    AbsoluteCap,
    /// The first of a refresh token's lifetime, idle timeout and cap: when it stops being
    /// usable, whichever ends it (a chain of refreshes each just before it stays alive
    /// under any lifetimes).
    RefreshEnd,
}

impl Deadline {
    /// Every deadline, in the order the format lists them.
    pub const ALL: [Deadline; 6] = [
        Deadline::GraceEnd,
        Deadline::AccessExpiry,
        Deadline::RefreshExpiry,
        Deadline::IdleTimeout,
        Deadline::AbsoluteCap,
        Deadline::RefreshEnd,
    ];

    /// Its name (in a scenario file, `advance = "..."`).
    pub const fn name(self) -> &'static str {
        match self {
            Deadline::GraceEnd => "grace-end",
            Deadline::AccessExpiry => "access-expiry",
            Deadline::RefreshExpiry => "refresh-expiry",
            Deadline::IdleTimeout => "idle-timeout",
            Deadline::AbsoluteCap => "absolute-cap",
            Deadline::RefreshEnd => "refresh-end",
        }
    }

    /// The deadline `name` names, if it is one.
    pub fn parse(name: &str) -> Option<Deadline> {
        Deadline::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether it is an access token's deadline (else a refresh token's).
    pub const fn of_access(self) -> bool {
        matches!(self, Deadline::AccessExpiry)
    }

    /// The seconds from now to this deadline of `token` in `s`, if it is still to come
    /// (a passed deadline is 0 in the model, an absent one [`NEVER`]).
    pub fn remaining(self, s: &State, token: TokenRef) -> Option<u32> {
        let d = match (self, token) {
            (Deadline::AccessExpiry, TokenRef::Access(a)) if s.has_at(a) => s.ats[a.0 as usize].exp,
            (_, TokenRef::Refresh(r)) if s.has_rt(r) => {
                let t = &s.rts[r.0 as usize];
                match self {
                    Deadline::GraceEnd => t.grace,
                    Deadline::RefreshExpiry => t.exp,
                    Deadline::IdleTimeout => t.idle,
                    Deadline::AbsoluteCap => s.grants[t.family as usize].cap,
                    Deadline::RefreshEnd => [t.exp, t.idle, s.grants[t.family as usize].cap]
                        .into_iter()
                        .filter(|d| *d > 0)
                        .min()
                        .unwrap_or(0),
                    Deadline::AccessExpiry => return None,
                }
            }
            _ => return None,
        };
        (d > 0 && d != NEVER).then_some(d)
    }
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
