//! The rules of the abstract server: which one the spec applied to an action, in one closed
//! list, each naming its clause.
//!
//! The spec decides a request in two parts: first the rule that applies (client
//! authentication, binding, revocation, expiry, reuse, scope, grace, rotation — in the order a
//! server checks them), then what that rule allows and changes. The rule is the one reading
//! of the order of checks: the harness's oracle and the load checker take it from here and
//! map it to a check of their catalogue, refined by what only they know (which revocation
//! the harness sent, the timing of concurrent requests); [`cascade`] is the one reading of
//! what a refusal or revocation does to the rest of the grant.
//!
//! Clauses: RFC 6749 §4.1.2, §5.2, §6, §10.4; RFC 6750 §2, §3.1; RFC 7009 §2, §2.1, §2.2;
//! RFC 7662 §2.2; RFC 9700 §4.14.2; the browser-apps draft's absolute cap.

use std::fmt;

use serde::Serialize;

use crate::dpop::ProofFault;
use crate::policy::Policy;

/// Which deadline of a refresh token has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expiry {
    /// The token's own lifetime (`refresh_ttl`, or what it inherited).
    Lifetime,
    /// The idle timeout: unused for too long (RFC 9700 §4.14.2).
    Idle,
    /// The grant's absolute cap (browser-apps draft).
    Cap,
}

/// The rule the spec applied to one action in one state.
///
/// Refresh rules are listed in the order a server checks them: a request falls under the
/// first that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "rule")]
pub enum Rule {
    /// An approved authorization code was exchanged for tokens (a refresh token as
    /// `offline_access` and the policy say).
    CodeExchanged,
    /// A second exchange of a code is refused; the policy says whether the code's tokens are
    /// revoked ([`cascade`]).
    CodeReplayRefused,
    /// A request for a confidential client's token without that client's authentication:
    /// `invalid_client`, nothing changes.
    ClientUnauthenticated,
    /// A refresh token presented by another client: `invalid_grant`, the token unaffected.
    OtherClientsToken,
    /// A refresh token presented by another (authenticated) client that its owner's
    /// presentation of the same request would have had refused as reuse, under
    /// `reuse_presenter = "any-client"`: `invalid_grant` as for another client's token, and
    /// reuse detection's cascade on the owner's grant ([`cascade`]).
    ReuseByOtherClient,
    /// A revoked refresh token, or one of a revoked grant: `invalid_grant`.
    RevokedRefused {
        /// The whole grant is revoked.
        grant: bool,
        /// The token itself is revoked.
        token: bool,
    },
    /// A refresh token past a deadline: `invalid_grant`. For a consumed token this rule comes
    /// first only when the policy checks expiry before reuse.
    ExpiredRefused(Expiry),
    /// A consumed refresh token came back outside its grace: `invalid_grant`, and under reuse
    /// detection the grant is revoked ([`cascade`]).
    ReuseRefused {
        /// The deadline it is also past, if any (checked after reuse under the policy).
        expired: Option<Expiry>,
        /// It was consumed under a grace window that is still open (its reuse count or its
        /// successor ended the grace, not the window).
        in_window: bool,
    },
    /// The requested scope is refused: `invalid_scope`.
    ScopeRefused {
        /// It asks for more than the grant (always refused); otherwise it is a narrower scope
        /// the policy refuses.
        widening: bool,
        /// The token presented is consumed and inside its grace.
        in_grace: bool,
    },
    /// A DPoP client's refresh whose proof is faulty (RFC 9449 §5, §8, §11.1): a bound
    /// refresh token without a proof for its key, no proof at all, a replayed proof, a proof
    /// without the server's nonce. Refused (`invalid_dpop_proof` or `invalid_grant`;
    /// `invalid_request` for a missing proof; `use_dpop_nonce` for a missing nonce) and
    /// nothing changes; where the owner's own request would be refused too, that refusal
    /// may come first, with what it does.
    ProofRefused {
        /// What is wrong with the proof.
        fault: ProofFault,
        /// The owner's request with a good proof would be refused too.
        token_refused: bool,
    },
    /// A consumed refresh token honoured inside its grace window (same or new successor).
    GraceReuse {
        /// A scope narrower than the token's was asked for.
        narrower_asked: bool,
    },
    /// A live refresh token honoured: rotated or kept as the policy's rotation says.
    Refreshed {
        /// A scope narrower than the token's was asked for.
        narrower_asked: bool,
    },
    /// A live access token honoured (at the resource).
    AccessHonoured,
    /// A DPoP-bound access token at the resource without a valid proof for its key: 401
    /// (RFC 9449 §7.1), whatever the token.
    AccessProofRefused {
        /// What is wrong with the proof.
        fault: ProofFault,
    },
    /// A dead access token refused (at the resource).
    AccessRefused {
        /// Its grant is revoked.
        grant_revoked: bool,
        /// The token itself is revoked (neither: it expired).
        token_revoked: bool,
    },
    /// Another client's token named in a revocation: not revoked (200 or a refusal).
    RevokeByOtherClient,
    /// A refresh token still honoured is revoked by its client; the policy says whether the
    /// grant goes with it ([`cascade`]).
    RefreshRevoked,
    /// A live access token is revoked by its client; the policy says whether the grant's
    /// refresh tokens go with it ([`cascade`]).
    AccessRevoked,
    /// A consumed refresh token (outside any grace, unexpired, of a live grant) is revoked by
    /// its client: 200; the policy says what, if anything, ends with it ([`cascade`]). Where
    /// nothing does, the spec may have collapsed the token's deadlines and name it a
    /// [`Rule::DeadTokenRevoked`] instead: the same answer, and nothing changes either way.
    ConsumedRevoked,
    /// A token already dead is named in a revocation: 200, nothing changes.
    DeadTokenRevoked,
    /// A live token introspected (a refresh token may also be declined as inactive).
    IntrospectedLive,
    /// A dead token introspected: `active: false`.
    IntrospectedDead,
    /// Time passes to the next deadline.
    TimePasses,
    /// The server restarts on its store: nothing changes.
    Restarted,
    /// The attacker copies a refresh token (model checking only).
    Stolen,
}

impl Rule {
    /// The clause tag (shared/rules.md) the rule applies.
    pub const fn clause(self) -> &'static str {
        match self {
            Rule::CodeExchanged | Rule::CodeReplayRefused => "RFC6749-4.1.2",
            Rule::ClientUnauthenticated | Rule::ScopeRefused { .. } | Rule::Refreshed { .. } => {
                "RFC6749-6"
            }
            Rule::OtherClientsToken => "RFC6749-10.4",
            Rule::RevokedRefused { .. } | Rule::ExpiredRefused(Expiry::Lifetime) => "RFC6749-5.2",
            Rule::ExpiredRefused(Expiry::Idle)
            | Rule::ReuseRefused { .. }
            | Rule::ReuseByOtherClient
            | Rule::GraceReuse { .. } => "RFC9700-4.14.2",
            Rule::ExpiredRefused(Expiry::Cap) => "browser-apps",
            Rule::AccessHonoured => "RFC6750-2",
            Rule::AccessRefused { .. } => "RFC6750-3.1",
            Rule::RevokeByOtherClient | Rule::ConsumedRevoked => "RFC7009-2.1",
            Rule::RefreshRevoked | Rule::AccessRevoked => "RFC7009-2",
            Rule::DeadTokenRevoked => "RFC7009-2.2",
            Rule::IntrospectedLive | Rule::IntrospectedDead => "RFC7662-2.2",
            Rule::ProofRefused {
                fault: ProofFault::NoNonce,
                ..
            } => "RFC9449-8",
            Rule::ProofRefused {
                fault: ProofFault::Replayed,
                ..
            } => "RFC9449-11.1",
            Rule::ProofRefused { .. } => "RFC9449-5",
            Rule::AccessProofRefused { .. } => "RFC9449-7.1",
            Rule::TimePasses | Rule::Restarted | Rule::Stolen => "-",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expiry = |e: &Expiry| match e {
            Expiry::Lifetime => "its lifetime",
            Expiry::Idle => "its idle timeout",
            Expiry::Cap => "the grant's absolute cap",
        };
        match self {
            Rule::CodeExchanged => f.write_str("the code is exchanged for tokens"),
            Rule::CodeReplayRefused => f.write_str("a replayed code is refused"),
            Rule::ClientUnauthenticated => f.write_str("refused: the client did not authenticate"),
            Rule::OtherClientsToken => f.write_str("refused: another client's refresh token"),
            Rule::ReuseByOtherClient => {
                f.write_str("refused: another client replayed a consumed refresh token")
            }
            Rule::RevokedRefused { grant: true, .. } => {
                f.write_str("refused: the grant is revoked")
            }
            Rule::RevokedRefused { .. } => f.write_str("refused: the refresh token is revoked"),
            Rule::ExpiredRefused(e) => write!(f, "refused: past {}", expiry(e)),
            Rule::ReuseRefused { .. } => f.write_str("refused as consumed (reuse)"),
            Rule::ScopeRefused { widening: true, .. } => f.write_str("refused: scope widening"),
            Rule::ScopeRefused { .. } => f.write_str("refused: narrowing"),
            Rule::ProofRefused { fault, .. } => write!(f, "refused: {fault}"),
            Rule::AccessProofRefused { fault } => {
                write!(f, "the access token is refused: {fault}")
            }
            Rule::GraceReuse { .. } => f.write_str("honoured inside the grace window"),
            Rule::Refreshed { .. } => f.write_str("refreshed"),
            Rule::AccessHonoured => f.write_str("the access token is honoured"),
            Rule::AccessRefused { .. } => f.write_str("the access token is refused"),
            Rule::RevokeByOtherClient => f.write_str("another client's token is not revoked"),
            Rule::RefreshRevoked => f.write_str("the refresh token is revoked"),
            Rule::AccessRevoked => f.write_str("the access token is revoked"),
            Rule::ConsumedRevoked => f.write_str("a consumed refresh token is revoked"),
            Rule::DeadTokenRevoked => f.write_str("a dead token is revoked: nothing changes"),
            Rule::IntrospectedLive => f.write_str("a live token is introspected"),
            Rule::IntrospectedDead => f.write_str("a dead token is introspected as inactive"),
            Rule::TimePasses => f.write_str("time passes"),
            Rule::Restarted => f.write_str("the server restarts"),
            Rule::Stolen => f.write_str("the attacker copies a token"),
        }
    }
}

/// What a rule does to the rest of the grant, beyond the token it names: nothing, the
/// grant's refresh tokens, its access tokens, or the whole grant.
pub use crate::policy::RevokeCascade as Cascade;

/// What `rule` does to the rest of the grant under `policy`: the one reading of reuse
/// detection (RFC 9700 §4.14.2), code replay (RFC 6749 §4.1.2) and the revocation cascades
/// (RFC 7009 §2.1).
pub fn cascade(policy: &Policy, rule: Rule) -> Cascade {
    let when = |on: bool, c: Cascade| if on { c } else { Cascade::None };
    match rule {
        Rule::ReuseRefused { .. } | Rule::ReuseByOtherClient => {
            when(policy.reuse_detection, Cascade::Grant)
        }
        Rule::CodeReplayRefused => when(policy.code_replay_revokes, Cascade::Grant),
        Rule::RefreshRevoked => policy.revoke_refresh_cascades,
        Rule::AccessRevoked => policy.revoke_access_cascades,
        Rule::ConsumedRevoked => policy.revoke_consumed_cascades,
        _ => Cascade::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascades_follow_the_policy() {
        let bcp = Policy::profile("bcp").expect("bcp");
        let reuse = Rule::ReuseRefused {
            expired: None,
            in_window: false,
        };
        assert_eq!(cascade(&bcp, reuse), Cascade::Grant);
        assert_eq!(cascade(&bcp, Rule::RefreshRevoked), Cascade::Grant);
        let floor = Policy::profile("rfc6749").expect("rfc6749");
        assert_eq!(cascade(&floor, reuse), Cascade::None);
        assert_eq!(cascade(&bcp, Rule::OtherClientsToken), Cascade::None);
        assert_eq!(cascade(&bcp, Rule::ReuseByOtherClient), Cascade::Grant);
        assert_eq!(cascade(&bcp, Rule::ConsumedRevoked), Cascade::None);
        let node = Policy::from_toml(
            "revoke_access_cascades = \"grant\"\nrevoke_consumed_cascades = \"grant\"\n",
        )
        .expect("a policy");
        assert_eq!(cascade(&node, Rule::AccessRevoked), Cascade::Grant);
        assert_eq!(cascade(&node, Rule::ConsumedRevoked), Cascade::Grant);
    }

    #[test]
    fn every_rule_names_a_clause() {
        for r in [
            Rule::ExpiredRefused(Expiry::Cap),
            Rule::ExpiredRefused(Expiry::Idle),
            Rule::ExpiredRefused(Expiry::Lifetime),
            Rule::GraceReuse {
                narrower_asked: false,
            },
        ] {
            assert!(!r.clause().is_empty(), "{r}");
        }
        assert_eq!(Rule::OtherClientsToken.clause(), "RFC6749-10.4");
        assert_eq!(Rule::ReuseByOtherClient.clause(), "RFC9700-4.14.2");
    }
}
