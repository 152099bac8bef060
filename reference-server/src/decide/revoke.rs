//! Revocation's decision (RFC 7009 §2.1): which token to revoke and what cascades, from the
//! token the lookup found (in [`super::lookup_order`]), its grant and, under a grace policy,
//! its successor. Unknown tokens and other clients' tokens get a 200 and nothing changes
//! (§2.2); so does a token already dead.

use tokenlife_model::Policy;

use super::{at_live, effective_status, in_grace, rt_expiry, rt_usable, Refusal, SeenRefresh};
use crate::clock::UnixTime;
use crate::defects::{Defect, Defects};
use crate::secret::TokenHash;
use crate::store::{AccessRow, GrantId, GrantRow, RtStatus};

/// The token the lookup found, with what was read beside it.
// One per request, moved once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FoundToken {
    /// A refresh token, and its successor when [`super::needs_successor`] says so.
    Refresh {
        /// The token and its grant.
        token: SeenRefresh,
        /// Its successor and the successor's grant.
        successor: Option<SeenRefresh>,
    },
    /// An access token and its grant.
    Access(AccessRow, Option<GrantRow>),
}

impl FoundToken {
    /// The token's grant, if it was found.
    fn grant(&self) -> Option<&GrantRow> {
        match self {
            FoundToken::Refresh { token, .. } => token.grant.as_ref(),
            FoundToken::Access(_, g) => g.as_ref(),
        }
    }
}

/// What a revocation request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeDecision {
    /// 200 and nothing to change: an unknown token, or one already dead.
    Nothing,
    /// 200, and the token is left alone: it belongs to another client.
    OtherClients,
    /// An error instead of the 200 (`revoke-wrong-response`).
    Refuse(Refusal),
    /// 200 after revoking every live grant of this resource owner (`revoke-too-much`).
    EveryGrantOf {
        /// The resource owner.
        subject: String,
    },
    /// 200 after revoking a refresh token.
    Refresh {
        /// The token.
        hash: TokenHash,
        /// It is consumed (honoured inside its grace window), not active.
        consumed: bool,
        /// Its grant.
        grant_id: GrantId,
        /// What goes with it.
        cascade: Option<Cascade>,
    },
    /// 200 after revoking an access token.
    Access {
        /// The token.
        hash: TokenHash,
        /// Its grant.
        grant_id: GrantId,
        /// The grant's refresh tokens go with it.
        cascade_to_refresh: bool,
    },
}

/// What revoking a refresh token takes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cascade {
    /// The grant, every token of it included.
    Grant,
    /// The grant's refresh tokens only, its access tokens left alive (`revoke-keeps-access`).
    RefreshOnly,
}

/// Decides a revocation by `client_id` at `now`. `derived` is the successor derived from the
/// presented token, when [`super::needs_derived`].
pub fn decide_revoke(
    policy: &Policy,
    defects: &Defects,
    found: Option<&FoundToken>,
    client_id: &str,
    derived: Option<&TokenHash>,
    now: UnixTime,
) -> RevokeDecision {
    let Some(found) = found else {
        if defects.has(Defect::RevokeWrongResponse) {
            return RevokeDecision::Refuse(Refusal::invalid_request("unknown token"));
        }
        return RevokeDecision::Nothing;
    };
    let owner = match found {
        FoundToken::Refresh { token, .. } => &token.row.client_id,
        FoundToken::Access(t, _) => &t.client_id,
    };
    if *owner != *client_id && !defects.has(Defect::RevokeOtherClient) {
        return RevokeDecision::OtherClients;
    }
    if defects.has(Defect::RevokeTooMuch) {
        return match found.grant() {
            Some(g) => RevokeDecision::EveryGrantOf {
                subject: g.subject.clone(),
            },
            None => RevokeDecision::Nothing,
        };
    }
    match found {
        FoundToken::Refresh { token, successor } => {
            // A token still honoured is revoked: a live one, or a consumed one whose grace
            // reuse would still be honoured. A dead one is "invalid" and left alone (§2.2).
            let t = &token.row;
            let usable = rt_usable(defects, token, now);
            let in_grace_window = !usable
                && effective_status(defects, token) == RtStatus::Consumed
                && token
                    .grant
                    .as_ref()
                    .is_some_and(|g| !g.revoked && rt_expiry(defects, t, g, now).is_none())
                && in_grace(policy, defects, t, derived, successor.as_ref(), now);
            if !usable && !in_grace_window {
                return RevokeDecision::Nothing;
            }
            let cascade = policy.revoke_refresh_cascades.then(|| {
                if defects.has(Defect::RevokeKeepsAccess) {
                    Cascade::RefreshOnly
                } else {
                    Cascade::Grant
                }
            });
            RevokeDecision::Refresh {
                hash: t.hash.clone(),
                consumed: in_grace_window,
                grant_id: t.grant_id.clone(),
                cascade,
            }
        }
        FoundToken::Access(t, g) => {
            if !at_live(t, g.as_ref(), now) {
                return RevokeDecision::Nothing;
            }
            RevokeDecision::Access {
                hash: t.hash.clone(),
                grant_id: t.grant_id.clone(),
                cascade_to_refresh: policy.revoke_access_cascades,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn render(d: &RevokeDecision) -> String {
        match d {
            RevokeDecision::Nothing => "200".into(),
            RevokeDecision::OtherClients => "200, another client's".into(),
            RevokeDecision::Refuse(e) => refusal(e),
            RevokeDecision::EveryGrantOf { subject } => format!("200, every grant of {subject}"),
            RevokeDecision::Refresh {
                consumed, cascade, ..
            } => {
                let mut s = "revoke rt".to_string();
                if *consumed {
                    s += " (consumed)";
                }
                match cascade {
                    Some(Cascade::Grant) => s += " +grant",
                    Some(Cascade::RefreshOnly) => s += " +refresh-of-grant",
                    None => {}
                }
                s
            }
            RevokeDecision::Access {
                cascade_to_refresh, ..
            } => {
                let cascade = if *cascade_to_refresh {
                    " +refresh-of-grant"
                } else {
                    ""
                };
                format!("revoke at{cascade}")
            }
        }
    }

    fn refresh(f: impl FnOnce(&mut SeenRefresh)) -> Option<FoundToken> {
        let mut token = seen(rt("t"));
        f(&mut token);
        Some(FoundToken::Refresh {
            token,
            successor: None,
        })
    }

    /// `t` consumed `ago` seconds ago by a rotation to the derived successor, which is active.
    fn in_grace_window(ago: i64) -> Option<FoundToken> {
        Some(FoundToken::Refresh {
            token: seen(consumed("t", ago, &TokenHash::of("DERIVED"))),
            successor: Some(seen(rt("DERIVED"))),
        })
    }

    fn access(f: impl FnOnce(&mut AccessRow, &mut GrantRow)) -> Option<FoundToken> {
        let mut g = grant();
        let mut t = AccessRow {
            hash: TokenHash::of("at"),
            grant_id: g.id.clone(),
            client_id: g.client_id.clone(),
            scope: scope("read"),
            expires_at: NOW + 10,
            revoked: false,
        };
        f(&mut t, &mut g);
        Some(FoundToken::Access(t, Some(g)))
    }

    /// (case, policy, defects, what the lookup found, caller, expected decision)
    type Row = (
        &'static str,
        Policy,
        Vec<Defect>,
        Option<FoundToken>,
        &'static str,
        &'static str,
    );

    #[test]
    fn the_revocation_table() {
        use Defect::*;
        let cascades_access = || {
            let mut p = profile("bcp");
            p.revoke_access_cascades = true;
            p
        };
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("unknown token", profile("bcp"), vec![], None, "a", "200"),
            ("unknown token, revoke-wrong-response", profile("bcp"), vec![RevokeWrongResponse], None, "a", "400 invalid_request"),
            ("another client's token", profile("bcp"), vec![], refresh(|_| {}), "b", "200, another client's"),
            ("another client's token, revoke-other-client", profile("bcp"), vec![RevokeOtherClient], refresh(|_| {}), "b", "revoke rt +grant"),
            ("revoke-too-much", profile("bcp"), vec![RevokeTooMuch], refresh(|_| {}), "a", "200, every grant of alice"),
            ("revoke-too-much without a grant", profile("bcp"), vec![RevokeTooMuch], refresh(|t| t.grant = None), "a", "200"),
            ("a live refresh token cascades to its grant", profile("bcp"), vec![], refresh(|_| {}), "a", "revoke rt +grant"),
            ("no cascade", profile("rfc6749"), vec![], refresh(|_| {}), "a", "revoke rt"),
            ("revoke-keeps-access", profile("bcp"), vec![RevokeKeepsAccess], refresh(|_| {}), "a", "revoke rt +refresh-of-grant"),
            ("a consumed token is dead already", profile("bcp"), vec![], refresh(|t| t.row.status = RtStatus::Consumed), "a", "200"),
            ("a revoked token", profile("bcp"), vec![], refresh(|t| t.row.status = RtStatus::Revoked), "a", "200"),
            ("an expired token", profile("bcp"), vec![], refresh(|t| t.row.expires_at = Some(NOW)), "a", "200"),
            ("a token of a revoked grant", profile("bcp"), vec![], refresh(|t| t.grant.as_mut().unwrap().revoked = true), "a", "200"),
            ("a consumed token still inside its grace window", profile("grace-same"), vec![], in_grace_window(5), "a", "revoke rt (consumed) +grant"),
            ("a consumed token past its grace window", profile("grace-same"), vec![], in_grace_window(30), "a", "200"),
            ("restart-forgets: a remembered token is consumed", profile("bcp"), vec![RestartForgets], refresh(|t| t.forgotten = true), "a", "200"),
            ("a live access token", profile("bcp"), vec![], access(|_, _| {}), "a", "revoke at"),
            ("a live access token, cascading", cascades_access(), vec![], access(|_, _| {}), "a", "revoke at +refresh-of-grant"),
            ("an expired access token", profile("bcp"), vec![], access(|t, _| t.expires_at = NOW), "a", "200"),
            ("a revoked access token", profile("bcp"), vec![], access(|t, _| t.revoked = true), "a", "200"),
            ("an access token of a revoked grant", profile("bcp"), vec![], access(|_, g| g.revoked = true), "a", "200"),
        ];
        for (name, policy, d, found, client, expected) in table {
            let derived = super::super::needs_derived(&policy).then(|| TokenHash::of("DERIVED"));
            let got = decide_revoke(
                &policy,
                &defects(&d),
                found.as_ref(),
                client,
                derived.as_ref(),
                NOW,
            );
            assert_eq!(render(&got), expected, "{name}");
        }
    }
}
