//! Revocation's decision (RFC 7009 §2.1): which token to revoke and what cascades, from the
//! token the lookup found (in [`super::lookup_order`]), its grant and, under a grace policy,
//! its successor. Unknown tokens and other clients' tokens get a 200 and nothing changes
//! (§2.2); so does a token already dead.

use tokenlife_model::policy::RevokeCascade;
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
        /// It is consumed (honoured inside its grace window, or past it where the policy has
        /// a consumed token's revocation end more), not active.
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
        /// What goes with it.
        cascade: Option<Cascade>,
    },
}

/// What a revocation takes with it besides the token (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cascade {
    /// The grant, every token of it included.
    Grant,
    /// The grant's refresh tokens only, its access tokens left alive (also what
    /// `revoke-keeps-access` leaves of a refresh token's cascade to the grant).
    RefreshOnly,
    /// The grant's access tokens only, its refresh tokens left alive.
    AccessOnly,
}

/// The server's cascade for a policy's target; `revoke-keeps-access` drops the access
/// tokens from a refresh token's.
fn cascade_of(target: RevokeCascade, keeps_access: bool) -> Option<Cascade> {
    match (target, keeps_access) {
        (RevokeCascade::None, _) | (RevokeCascade::AccessTokens, true) => None,
        (RevokeCascade::RefreshTokens, _) | (RevokeCascade::Grant, true) => {
            Some(Cascade::RefreshOnly)
        }
        (RevokeCascade::AccessTokens, false) => Some(Cascade::AccessOnly),
        (RevokeCascade::Grant, false) => Some(Cascade::Grant),
    }
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
            let keeps_access = defects.has(Defect::RevokeKeepsAccess);
            if usable || in_grace_window {
                return RevokeDecision::Refresh {
                    hash: t.hash.clone(),
                    consumed: in_grace_window,
                    grant_id: t.grant_id.clone(),
                    cascade: cascade_of(policy.revoke_refresh_cascades, keeps_access),
                };
            }
            // A consumed token past any grace, unexpired, of a live grant: "invalid" (§2.2),
            // unless the policy has its revocation end more (node-oidc-provider: the grant).
            // (The stored status: a token only remembered as consumed is active in the store.)
            let consumed_live_grant = t.status == RtStatus::Consumed
                && token
                    .grant
                    .as_ref()
                    .is_some_and(|g| !g.revoked && rt_expiry(defects, t, g, now).is_none());
            match cascade_of(policy.revoke_consumed_cascades, false) {
                Some(cascade) if consumed_live_grant => RevokeDecision::Refresh {
                    hash: t.hash.clone(),
                    consumed: true,
                    grant_id: t.grant_id.clone(),
                    cascade: Some(cascade),
                },
                _ => RevokeDecision::Nothing,
            }
        }
        FoundToken::Access(t, g) => {
            if !at_live(t, g.as_ref(), now) {
                return RevokeDecision::Nothing;
            }
            RevokeDecision::Access {
                hash: t.hash.clone(),
                grant_id: t.grant_id.clone(),
                cascade: cascade_of(policy.revoke_access_cascades, false),
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
                s + cascade_text(*cascade)
            }
            RevokeDecision::Access { cascade, .. } => {
                format!("revoke at{}", cascade_text(*cascade))
            }
        }
    }

    fn cascade_text(c: Option<Cascade>) -> &'static str {
        match c {
            Some(Cascade::Grant) => " +grant",
            Some(Cascade::RefreshOnly) => " +refresh-of-grant",
            Some(Cascade::AccessOnly) => " +access-of-grant",
            None => "",
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
            refresh_hash: None,
            dpop_jkt: None,
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
        let with = |f: &dyn Fn(&mut Policy)| {
            let mut p = profile("bcp");
            f(&mut p);
            p
        };
        let cascades_access = || with(&|p| p.revoke_access_cascades = RefreshTokens);
        let access_to = |c| with(&move |p| p.revoke_access_cascades = c);
        let refresh_to = |c| with(&move |p| p.revoke_refresh_cascades = c);
        let consumed_to = |c| with(&move |p| p.revoke_consumed_cascades = c);
        let consumed = || refresh(|t| t.row.status = RtStatus::Consumed);
        use RevokeCascade::{AccessTokens, Grant, RefreshTokens};
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
            ("a live access token, cascading to the grant's access tokens", access_to(AccessTokens), vec![], access(|_, _| {}), "a", "revoke at +access-of-grant"),
            ("a live access token, cascading to the grant", access_to(Grant), vec![], access(|_, _| {}), "a", "revoke at +grant"),
            ("a live refresh token, cascading to its refresh tokens only", refresh_to(RefreshTokens), vec![], refresh(|_| {}), "a", "revoke rt +refresh-of-grant"),
            ("a live refresh token, cascading to its access tokens only", refresh_to(AccessTokens), vec![], refresh(|_| {}), "a", "revoke rt +access-of-grant"),
            ("revoke-keeps-access drops the access tokens from an access-only cascade", refresh_to(AccessTokens), vec![RevokeKeepsAccess], refresh(|_| {}), "a", "revoke rt"),
            ("a consumed token, cascading to the grant", consumed_to(Grant), vec![], consumed(), "a", "revoke rt (consumed) +grant"),
            ("a consumed token, cascading to its refresh tokens", consumed_to(RefreshTokens), vec![], consumed(), "a", "revoke rt (consumed) +refresh-of-grant"),
            ("a consumed token, cascading to its access tokens", consumed_to(AccessTokens), vec![], consumed(), "a", "revoke rt (consumed) +access-of-grant"),
            ("a consumed and expired token is dead, whatever its cascade", consumed_to(Grant), vec![],
                refresh(|t| { t.row.status = RtStatus::Consumed; t.row.expires_at = Some(NOW); }), "a", "200"),
            ("a consumed token of a revoked grant is dead", consumed_to(Grant), vec![],
                refresh(|t| { t.row.status = RtStatus::Consumed; t.grant.as_mut().unwrap().revoked = true; }), "a", "200"),
            ("a revoked token is not consumed", consumed_to(Grant), vec![], refresh(|t| t.row.status = RtStatus::Revoked), "a", "200"),
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
