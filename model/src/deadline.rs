//! The deadlines of a token that time can be moved to by name: a consumed refresh
//! token's grace end, an access token's expiry, a refresh token's lifetime, idle timeout
//! and absolute cap, and the first of those three (when it stops being usable). The model's
//! `Tick` goes to whichever deadline comes next; `Action::Advance` goes to a named one, or
//! one second before it, so a walk can land inside a window as well as past it.
//!
//! Clauses: RFC 6749 §5.2 (an expired token is `invalid_grant`), RFC 9700 §4.14.2 (grace
//! window, idle timeout), the browser-apps draft (absolute cap).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::spec::TokenRef;
use crate::state::{State, NEVER};

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
