//! Sender-constrained tokens (RFC 9449, DPoP): which client types hold a key their tokens
//! are bound to, and what that binding means for a refresh token.
//!
//! RFC 9449 §5: a refresh token issued to a public client that presented a DPoP proof is
//! bound to that proof's key, and every later presentation needs a proof for the same key.
//! A confidential client's refresh token is not bound (client authentication already
//! constrains it): its client may move to a new key on a refresh, and the new access token
//! is bound to the new key. A client registered for DPoP (`dpop_bound_access_tokens`,
//! RFC 9449 §5.2) has every token request without a proof refused. RFC 9700 §2.2.2: public
//! clients' refresh tokens must be sender-constrained or rotated.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a client type's tokens are constrained to their sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SenderConstraint {
    /// Bearer tokens: whoever holds them may use them (client authentication aside).
    #[default]
    None,
    /// DPoP (RFC 9449): the client proves possession of a key on every token request and
    /// every resource call; access tokens are bound to that key, and a public client's
    /// refresh token too.
    Dpop,
}

impl SenderConstraint {
    /// The name used in policy files.
    pub const fn name(self) -> &'static str {
        match self {
            SenderConstraint::None => "none",
            SenderConstraint::Dpop => "dpop",
        }
    }
}

impl fmt::Display for SenderConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
