//! Which check an action exercises, and which one a divergence breaks.
//!
//! The spec names the rule it applies to the action ([`Rule`], one closed list, in the order
//! a server checks a request); [`check_of`] is the one table from a rule to a check of the
//! catalogue, refined by what only the harness knows: which revocations it sent and with
//! which hint, whether the target restarted, and how a dead grant died (observation flags).
//! Clauses: those of `spec` (RFC 6749 §4.1.2, §5.2, §6, §10.4; RFC 6750 §3.1; RFC 7009 §2.1,
//! §2.2; RFC 7662 §2.2; RFC 9700 §4.14.2).

use tokenlife_model::dpop::ProofFault;
use tokenlife_model::spec::{self, Expiry, Rule, TokenRef};
use tokenlife_model::state::{seen_grant, seen_rt, RtId};
use tokenlife_model::{Action, ErrorCode, Outcome, Policy, State};

use crate::checks::{self, Check};
use crate::oracle::{History, Observed};

/// The check an action exercises in state `s` (before looking at the response). The caller
/// must have checked the action's ids against the state (the oracle's `expected` does).
pub fn classify(p: &Policy, s: &State, a: &Action, h: &History) -> Check {
    check_of(p, s, a, spec::rule(p, s, a), h)
}

/// The table: the check `rule` exercises, refined by the harness's history.
pub fn check_of(p: &Policy, s: &State, a: &Action, rule: Rule, h: &History) -> Check {
    let durable = |c: Check| if h.restarted { restart_or(c) } else { c };
    match rule {
        Rule::CodeExchanged => checks::AUTHORIZE_TOKENS,
        Rule::CodeReplayRefused => checks::CODE_REPLAY,
        Rule::ClientUnauthenticated if matches!(a, Action::Revoke { .. }) => checks::REVOKE_OK,
        Rule::ClientUnauthenticated => checks::REFRESH_CLIENT_AUTH,
        // Refused either way; under `reuse_presenter = "any-client"` the owner's family goes
        // too, which its later requests show under the family's check.
        Rule::OtherClientsToken | Rule::ReuseByOtherClient => checks::REFRESH_BINDING,
        Rule::RevokedRefused { grant, token } => match presented(a) {
            Some(rt) => durable(revoked_refresh_check(p, s, rt, grant, token, h)),
            None => checks::REFRESH_REVOKED,
        },
        Rule::ExpiredRefused(e)
        | Rule::ReuseRefused {
            expired: Some(e @ (Expiry::Cap | Expiry::Idle)),
            ..
        } => match e {
            Expiry::Cap => checks::REFRESH_CAP,
            Expiry::Idle => checks::REFRESH_IDLE,
            Expiry::Lifetime => checks::REFRESH_EXPIRED,
        },
        Rule::ReuseRefused {
            in_window: true, ..
        }
        | Rule::ScopeRefused { in_grace: true, .. }
        | Rule::GraceReuse { .. } => durable(checks::REFRESH_GRACE),
        Rule::ReuseRefused { .. } => durable(checks::REFRESH_REPLAY),
        Rule::ProofRefused { fault, .. } => match fault {
            ProofFault::OtherKey => checks::DPOP_BOUND_KEY,
            ProofFault::NoProof => checks::DPOP_PROOF_REQUIRED,
            ProofFault::Replayed => checks::DPOP_REPLAY,
            ProofFault::NoNonce => checks::DPOP_NONCE,
            ProofFault::WrongAth => checks::DPOP_RESOURCE,
        },
        Rule::AccessProofRefused { .. } => checks::DPOP_RESOURCE,
        Rule::ScopeRefused { widening: true, .. } => checks::REFRESH_WIDENING,
        Rule::ScopeRefused { .. } => checks::REFRESH_NARROWER,
        // The retry of a refresh just answered `use_dpop_nonce`: a refusal now is that
        // challenge having consumed the token (RFC 9449 §8).
        Rule::Refreshed { .. }
            if presented(a)
                .is_some_and(|rt| s.rt_grant(rt).seen & seen_grant::NONCE_PENDING != 0) =>
        {
            checks::DPOP_NONCE
        }
        Rule::Refreshed { narrower_asked } => {
            match presented(a).and_then(|rt| survived_revocation_check(p, s, rt, h)) {
                Some(c) => c,
                None if narrower_asked => checks::REFRESH_NARROWER,
                None => checks::REFRESH_ACCEPTED,
            }
        }
        Rule::AccessHonoured => match a {
            Action::UseAccess { at } if h.others_revoked.contains(&TokenRef::Access(*at)) => {
                checks::REVOKE_OTHER_CLIENT
            }
            _ => checks::RESOURCE_LIVE,
        },
        Rule::AccessRefused {
            grant_revoked,
            token_revoked,
        } => {
            let Action::UseAccess { at } = *a else {
                return checks::RESOURCE_DEAD;
            };
            let family = s.ats[at.0 as usize].family;
            let own = TokenRef::Access(at);
            let by_cascade = || {
                family_revocation(p, s, h, family, own)
                    .filter(|_| !dead_by_replay_or_code(s, family))
            };
            if token_revoked && h.revoked.contains_key(&own) {
                revoked_token_check(h, own, checks::REVOKE_ACCESS)
            } else if let Some(c) = by_cascade().filter(|_| token_revoked || grant_revoked) {
                c
            } else if token_revoked && s.ats[at.0 as usize].seen_ended {
                // Ended by a refresh with the refresh token it was issued with.
                checks::REFRESH_ENDS_ACCESS
            } else if token_revoked || grant_revoked {
                dead_grant_check(s, family)
            } else {
                checks::RESOURCE_DEAD
            }
        }
        Rule::IntrospectedLive => checks::INTROSPECT_LIVE,
        Rule::IntrospectedDead => checks::INTROSPECT_DEAD,
        Rule::RevokeByOtherClient
        | Rule::RefreshRevoked
        | Rule::AccessRevoked
        | Rule::ConsumedRevoked
        | Rule::DeadTokenRevoked => checks::REVOKE_OK,
        Rule::TimePasses | Rule::Stolen => checks::CLOCK,
        Rule::Restarted => checks::RESTART_DURABLE,
    }
}

/// The refresh token a refresh presents.
fn presented(a: &Action) -> Option<RtId> {
    match *a {
        Action::Refresh { rt, .. }
        | Action::RefreshLost { rt }
        | Action::Unproven {
            token: TokenRef::Refresh(rt),
            ..
        } => Some(rt),
        _ => None,
    }
}

/// A live refresh token honoured: the check of the revocation it must have survived, if
/// any, since a refusal would be that revocation reaching too far (whatever scope the
/// refresh asks for: a dead grant is refused before its scope is looked at).
///
/// Its owner's revocation of an access token of the same family comes first: the target
/// accepted it, so it certainly happened there, and whether it reaches the family's refresh
/// tokens is exactly what `revoke.access-cascades-to-refresh` pins. Another client's attempt
/// on the token itself comes next: it must have had no effect at all, so it explains a
/// refusal only when nothing the owner did can.
fn survived_revocation_check(p: &Policy, s: &State, rt: RtId, h: &History) -> Option<Check> {
    let family = s.rts[rt.0 as usize].family;
    let access_revoked = h
        .revoked
        .keys()
        .any(|k| matches!(k, TokenRef::Access(a) if s.ats[a.0 as usize].family == family));
    if access_revoked && !access_revocation_cascades(p) {
        Some(checks::REVOKE_ACCESS_CASCADE)
    } else if let Some(c) = consumed_revocation_survived(p, s, h, family, TokenRef::Refresh(rt))
        .filter(|_| p.revoke_consumed_cascades != spec::Cascade::None)
    {
        // (Where nothing cascades, only a divergence names it: see `classify_divergence`.)
        Some(c)
    } else if h.others_revoked.contains(&TokenRef::Refresh(rt)) {
        Some(checks::REVOKE_OTHER_CLIENT)
    } else {
        None
    }
}

/// Whether revoking an access token revokes its grant's refresh tokens, read from the
/// spec's cascade table.
fn access_revocation_cascades(p: &Policy) -> bool {
    spec::cascade(p, Rule::AccessRevoked).ends_refresh_tokens()
}

/// Whether a cascade reaches a token of this kind.
fn reaches(c: spec::Cascade, t: TokenRef) -> bool {
    match t {
        TokenRef::Refresh(_) => c.ends_refresh_tokens(),
        TokenRef::Access(_) => c.ends_access_tokens(),
    }
}

/// A refresh token of `family` its owner revoked once it was seen consumed: the rule that
/// revocation fell under (a consumed token past any grace, or one inside it).
fn consumed_revocations<'h>(
    s: &'h State,
    h: &'h History,
    family: u8,
) -> impl Iterator<Item = RtId> + 'h {
    h.revoked.keys().filter_map(move |k| match *k {
        TokenRef::Refresh(r)
            if s.rts[r.0 as usize].family == family
                && s.rts[r.0 as usize].seen & seen_rt::CONSUMED != 0 =>
        {
            Some(r)
        }
        _ => None,
    })
}

/// The check of the owner's revocation, in `own`'s family, that ended `own` (a token other
/// than the one revoked) by its cascade, read from the spec's cascade table: an access
/// token's first, then a consumed refresh token's, then a live refresh token's.
fn family_revocation(
    p: &Policy,
    s: &State,
    h: &History,
    family: u8,
    own: TokenRef,
) -> Option<Check> {
    let of_family = |k: &TokenRef| match *k {
        TokenRef::Refresh(r) => s.rts[r.0 as usize].family == family,
        TokenRef::Access(a) => s.ats[a.0 as usize].family == family,
    };
    let revoked: Vec<TokenRef> = h
        .revoked
        .keys()
        .copied()
        .filter(|k| *k != own && of_family(k))
        .collect();
    let access = revoked.iter().any(|k| matches!(k, TokenRef::Access(_)));
    if access && reaches(spec::cascade(p, Rule::AccessRevoked), own) {
        return Some(checks::REVOKE_ACCESS_CASCADE);
    }
    if consumed_revocations(s, h, family).any(|r| TokenRef::Refresh(r) != own)
        && reaches(spec::cascade(p, Rule::ConsumedRevoked), own)
    {
        return Some(checks::REVOKE_CONSUMED);
    }
    let live_refresh = revoked.iter().any(|k| match *k {
        TokenRef::Refresh(r) => s.rts[r.0 as usize].seen & seen_rt::CONSUMED == 0,
        TokenRef::Access(_) => false,
    });
    if live_refresh && reaches(spec::cascade(p, Rule::RefreshRevoked), own) {
        return Some(match own {
            TokenRef::Access(_) => checks::REVOKE_CASCADE,
            TokenRef::Refresh(_) => checks::REFRESH_REVOKED,
        });
    }
    None
}

/// A token the policy says is live, refused: the owner's revocation in its family whose
/// declared cascade does not reach it, which reached too far (an access token's first, then
/// a consumed refresh token's, then a live refresh token's reaching an access token).
fn revocation_reached_too_far(p: &Policy, s: &State, h: &History, own: TokenRef) -> Option<Check> {
    let family = match own {
        TokenRef::Refresh(r) => s.rts[r.0 as usize].family,
        TokenRef::Access(a) => s.ats[a.0 as usize].family,
    };
    let others = |access: bool| {
        h.revoked.keys().any(|k| {
            *k != own
                && match *k {
                    TokenRef::Access(a) => access && s.ats[a.0 as usize].family == family,
                    TokenRef::Refresh(r) => {
                        !access
                            && s.rts[r.0 as usize].family == family
                            && s.rts[r.0 as usize].seen & seen_rt::CONSUMED == 0
                    }
                }
        })
    };
    if others(true) && !reaches(spec::cascade(p, Rule::AccessRevoked), own) {
        return Some(checks::REVOKE_ACCESS_CASCADE);
    }
    if let Some(c) = consumed_revocation_survived(p, s, h, family, own) {
        return Some(c);
    }
    let refresh_cascade = spec::cascade(p, Rule::RefreshRevoked);
    (matches!(own, TokenRef::Access(_)) && others(false) && !reaches(refresh_cascade, own))
        .then_some(checks::REVOKE_CASCADE)
}

/// A token honoured after its owner revoked a consumed refresh token of its family whose
/// declared cascade does not reach it: a refusal is that revocation reaching too far.
fn consumed_revocation_survived(
    p: &Policy,
    s: &State,
    h: &History,
    family: u8,
    own: TokenRef,
) -> Option<Check> {
    let revoked = consumed_revocations(s, h, family).any(|r| TokenRef::Refresh(r) != own);
    (revoked && !reaches(spec::cascade(p, Rule::ConsumedRevoked), own))
        .then_some(checks::REVOKE_CONSUMED)
}

/// Whether another authenticated client presented a refresh token of `own`'s family.
fn presented_by_another_client(s: &State, h: &History, own: TokenRef) -> bool {
    let family = match own {
        TokenRef::Refresh(r) => s.rts[r.0 as usize].family,
        TokenRef::Access(a) => s.ats[a.0 as usize].family,
    };
    h.others_presented
        .iter()
        .any(|r| s.rts[r.0 as usize].family == family)
}

/// Whether the grant died of a replay or a replayed code rather than a revocation.
fn dead_by_replay_or_code(s: &State, family: u8) -> bool {
    s.grants[family as usize].seen & (seen_grant::DEAD_REPLAY | seen_grant::DEAD_CODE) != 0
}

/// A revoked refresh token, or one of a revoked grant: the check of whatever revoked it.
fn revoked_refresh_check(
    p: &Policy,
    s: &State,
    rt: RtId,
    grant: bool,
    token: bool,
    h: &History,
) -> Check {
    let own = TokenRef::Refresh(rt);
    if token && h.revoked.contains_key(&own) {
        return revoked_token_check(h, own, checks::REVOKE_REFRESH);
    }
    let family = s.rts[rt.0 as usize].family;
    if !grant {
        // Revoked without its own revocation or its grant's: another token's cascade to the
        // grant's refresh tokens (an access token's, where nothing else says otherwise).
        return family_revocation(p, s, h, family, own).unwrap_or(checks::REVOKE_ACCESS_CASCADE);
    }
    match dead_grant_check(s, family) {
        // The family died by a revocation request: of an AT, a consumed RT or a live RT.
        c if c == checks::REVOKE_CASCADE => {
            family_revocation(p, s, h, family, own).unwrap_or(checks::REFRESH_REVOKED)
        }
        c => c,
    }
}

/// Why a grant is dead, as the check that killed it.
fn dead_grant_check(s: &State, family: u8) -> Check {
    let seen = s.grants[family as usize].seen;
    if seen & seen_grant::DEAD_REPLAY != 0 {
        checks::REFRESH_FAMILY
    } else if seen & seen_grant::DEAD_CODE != 0 {
        checks::CODE_REPLAY_REVOKES
    } else {
        checks::REVOKE_CASCADE
    }
}

fn revoked_token_check(h: &History, t: TokenRef, plain: Check) -> Check {
    match h.revoked.get(&t) {
        Some(spec::Hint::Wrong) => checks::REVOKE_HINT,
        _ => plain,
    }
}

fn restart_or(c: Check) -> Check {
    // After a restart, a dead token honoured again is a durability bug first.
    if c == checks::REFRESH_REPLAY || c == checks::REFRESH_REVOKED || c == checks::REVOKE_REFRESH {
        checks::RESTART_DURABLE
    } else {
        c
    }
}

/// The check a divergence breaks: the action's own check, refined by how the response
/// differs from what was allowed.
pub fn classify_divergence(
    p: &Policy,
    s: &State,
    a: &Action,
    h: &History,
    expected: &[Outcome],
    observed: &Observed,
) -> Check {
    let rule = spec::rule(p, s, a);
    let primary = check_of(p, s, a, rule, h);
    let all_errors = expected.iter().all(|o| matches!(o, Outcome::Error { .. }));
    let all_tokens = expected.iter().all(|o| matches!(o, Outcome::Tokens { .. }));
    // A live token refused: a revocation in its family reached further than declared.
    // (Introspected inactive counts too: it is how a token's end shows there.)
    let refused = matches!(
        observed,
        Observed::Error { .. }
            | Observed::Resource { ok: false }
            | Observed::Introspection { active: false }
    );
    let own = match *a {
        Action::Refresh { rt, .. } | Action::RefreshLost { rt } => Some(TokenRef::Refresh(rt)),
        Action::UseAccess { at } => Some(TokenRef::Access(at)),
        Action::Introspect { token } => Some(token),
        _ => None,
    };
    if refused
        && matches!(
            rule,
            Rule::Refreshed { .. } | Rule::AccessHonoured | Rule::IntrospectedLive
        )
        && primary != checks::REVOKE_ACCESS_CASCADE
    {
        if let Some(c) = own.and_then(|t| revocation_reached_too_far(p, s, h, t)) {
            return c;
        }
        // Nothing the owner did ends it: another client's presentation of a token of its
        // family did, which binding says must leave the family alone (where the policy acts
        // on reuse whoever presents, the spec already has the family dead).
        if primary != checks::REVOKE_OTHER_CLIENT
            && own.is_some_and(|t| presented_by_another_client(s, h, t))
        {
            return checks::REFRESH_BINDING;
        }
    }
    match observed {
        // A dead token refused for its scope: the server never noticed it was dead.
        Observed::Error {
            error: ErrorCode::InvalidScope,
            ..
        } if all_errors
            && primary != checks::REFRESH_WIDENING
            && primary != checks::REFRESH_NARROWER =>
        {
            primary
        }
        // A token refused for its scope, answered as dead instead. Live: the server killed
        // it, and a revocation it had to survive names the check (the scope was never looked
        // at). Consumed or expired too: the server checked that before the scope, against the
        // policy's order, and the scope check the policy puts first names it.
        Observed::Error {
            error: ErrorCode::InvalidGrant,
            ..
        } if all_errors && matches!(rule, Rule::ScopeRefused { .. }) => match presented(a) {
            Some(rt) if !spec::rt_usable(s, rt) => primary,
            rt => rt
                .and_then(|rt| survived_revocation_check(p, s, rt, h))
                .unwrap_or(checks::TOKEN_ERROR_CODE),
        },
        Observed::Error { .. } if all_errors => checks::TOKEN_ERROR_CODE,
        Observed::Tokens { scope, refresh, .. } if all_tokens => {
            let scope_differs = scope.is_some_and(|got| {
                expected
                    .iter()
                    .all(|o| matches!(o, Outcome::Tokens { scope, .. } if *scope != got))
            });
            if scope_differs {
                match a {
                    Action::Refresh { scope: None, .. } | Action::RefreshLost { .. } => {
                        checks::REFRESH_OMITTED_SCOPE
                    }
                    Action::Refresh { scope: Some(_), .. } => checks::REFRESH_NARROWER,
                    _ => primary,
                }
            } else if matches!(a, Action::Authorize { .. }) {
                let rt_expected = expected.iter().any(|o| {
                    matches!(
                        o,
                        Outcome::Tokens {
                            refresh: Some(_),
                            ..
                        }
                    )
                });
                if rt_expected != refresh.is_some() {
                    checks::AUTHORIZE_OFFLINE
                } else {
                    primary
                }
            } else if let Rule::Refreshed { narrower_asked } = rule {
                // Tokens answered as allowed but shaped otherwise: the revocation the token
                // survived (which names the step's check) is not what differs.
                if narrower_asked {
                    checks::REFRESH_NARROWER
                } else {
                    checks::REFRESH_ROTATION
                }
            } else {
                primary
            }
        }
        _ => primary,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokenlife_model::spec::Hint;
    use tokenlife_model::state::{AtId, Scope};
    use tokenlife_model::{Actor, ClientType, Spec};

    use super::*;

    const OWNER: Actor = Actor::Client(ClientType::Confidential);
    const OTHER: Actor = Actor::Client(ClientType::Public);

    /// The reported trace: authorize; the other client tries to revoke RT0; the owner
    /// revokes AT0 (declared not to cascade). Returns the state, the history and RT0's
    /// refresh by its owner.
    fn other_then_access_revoked(p: &Policy) -> (State, History, Action) {
        let spec = Spec::new(p.clone());
        let steps = [
            Action::Authorize {
                client: ClientType::Confidential,
                scope: Scope::ALL,
                offline: true,
            },
            Action::Revoke {
                by: OTHER,
                token: TokenRef::Refresh(RtId(0)),
                hint: Hint::Right,
            },
            Action::Revoke {
                by: OWNER,
                token: TokenRef::Access(AtId(0)),
                hint: Hint::Right,
            },
        ];
        let mut s = State::default();
        for a in &steps {
            s = spec.step(&s, a).unwrap().swap_remove(0).1;
        }
        let mut h = History::default();
        h.others_revoked.insert(TokenRef::Refresh(RtId(0)));
        h.revoked.insert(TokenRef::Access(AtId(0)), Hint::Right);
        let refresh = Action::Refresh {
            by: OWNER,
            rt: RtId(0),
            scope: None,
        };
        (s, h, refresh)
    }

    fn no_access_cascade() -> Policy {
        let mut p = Policy::profile("bcp").unwrap();
        p.revoke_access_cascades = spec::Cascade::None;
        p
    }

    #[test]
    fn a_refresh_after_an_access_revocation_exercises_the_cascade_not_the_other_client() {
        let p = no_access_cascade();
        let (s, h, refresh) = other_then_access_revoked(&p);
        assert!(matches!(
            spec::rule(&p, &s, &refresh),
            Rule::Refreshed { .. }
        ));
        assert_eq!(
            classify(&p, &s, &refresh, &h),
            checks::REVOKE_ACCESS_CASCADE
        );
        // Refused (the target's revocation of AT0 ended the grant): the cascade diverged.
        let (expected, _): (Vec<Outcome>, Vec<State>) = Spec::new(p.clone())
            .step(&s, &refresh)
            .unwrap()
            .into_iter()
            .unzip();
        let refused = Observed::Error {
            status: 400,
            error: ErrorCode::InvalidGrant,
        };
        assert_eq!(
            classify_divergence(&p, &s, &refresh, &h, &expected, &refused),
            checks::REVOKE_ACCESS_CASCADE
        );
    }

    #[test]
    fn a_narrowed_refresh_refused_after_an_access_revocation_is_the_cascade() {
        let p = no_access_cascade();
        let (s, h, _) = other_then_access_revoked(&p);
        let narrowed = Action::Refresh {
            by: OWNER,
            rt: RtId(0),
            scope: Some(Scope::READ),
        };
        assert_eq!(
            classify(&p, &s, &narrowed, &h),
            checks::REVOKE_ACCESS_CASCADE
        );
        assert_eq!(
            classify(&p, &s, &narrowed, &History::default()),
            checks::REFRESH_NARROWER
        );
    }

    #[test]
    fn another_clients_attempt_is_named_when_the_owner_revoked_nothing() {
        let p = no_access_cascade();
        let (s, mut h, refresh) = other_then_access_revoked(&p);
        h.revoked.clear();
        assert_eq!(classify(&p, &s, &refresh, &h), checks::REVOKE_OTHER_CLIENT);
        h.others_revoked.clear();
        assert_eq!(classify(&p, &s, &refresh, &h), checks::REFRESH_ACCEPTED);
    }

    #[test]
    fn an_honoured_refresh_shaped_otherwise_is_rotation_whatever_it_survived() {
        let p = no_access_cascade();
        let (s, h, refresh) = other_then_access_revoked(&p);
        let (expected, _): (Vec<Outcome>, Vec<State>) = Spec::new(p.clone())
            .step(&s, &refresh)
            .unwrap()
            .into_iter()
            .unzip();
        // bcp rotates: an answer without a new refresh token is not what was allowed.
        let kept = Observed::Tokens {
            access: crate::secret::Secret::new("at1"),
            refresh: None,
            scope: Some(Scope::ALL),
        };
        assert_eq!(
            classify_divergence(&p, &s, &refresh, &h, &expected, &kept),
            checks::REFRESH_ROTATION
        );
    }
}

#[cfg(test)]
mod cascade_tests {
    #![allow(clippy::unwrap_used)]

    use tokenlife_model::spec::Hint;
    use tokenlife_model::state::{AtId, Scope};
    use tokenlife_model::{Actor, ClientType, Spec};

    use super::*;

    const OWNER: Actor = Actor::Client(ClientType::Confidential);

    /// Authorize, rotate RT0 to RT1, then the owner revokes `revoked`: the state under `p`
    /// and the history.
    fn rotated_then_revoked(p: &Policy, revoked: TokenRef) -> (State, History) {
        let spec = Spec::new(p.clone());
        let steps = [
            Action::Authorize {
                client: ClientType::Confidential,
                scope: Scope::ALL,
                offline: true,
            },
            Action::Refresh {
                by: OWNER,
                rt: RtId(0),
                scope: None,
            },
            Action::Revoke {
                by: OWNER,
                token: revoked,
                hint: Hint::Right,
            },
        ];
        let mut s = State::default();
        for a in &steps {
            let (o, mut next) = spec.step(&s, a).unwrap().swap_remove(0);
            tokenlife_model::observe::observe(p, &s, a, &o, &mut next);
            s = next;
        }
        let mut h = History::default();
        h.revoked.insert(revoked, Hint::Right);
        (s, h)
    }

    fn policy(toml: &str) -> Policy {
        Policy::from_toml(toml).unwrap()
    }

    const REFRESH_RT1: Action = Action::Refresh {
        by: OWNER,
        rt: RtId(1),
        scope: None,
    };

    #[test]
    fn a_refresh_refused_after_a_consumed_tokens_revocation_names_that_revocation() {
        // Declared: nothing cascades (bcp); the server ended the grant.
        let p = policy("profile = \"bcp\"\n");
        let (s, h) = rotated_then_revoked(&p, TokenRef::Refresh(RtId(0)));
        assert_eq!(classify(&p, &s, &REFRESH_RT1, &h), checks::REFRESH_ACCEPTED);
        let expected: Vec<Outcome> = Spec::new(p.clone())
            .step(&s, &REFRESH_RT1)
            .unwrap()
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        let refused = Observed::Error {
            status: 400,
            error: ErrorCode::InvalidGrant,
        };
        assert_eq!(
            classify_divergence(&p, &s, &REFRESH_RT1, &h, &expected, &refused),
            checks::REVOKE_CONSUMED
        );
        // Declared: the grant ends (node-oidc-provider); the refusal is that cascade's.
        let node = policy("profile = \"bcp\"\nrevoke_consumed_cascades = \"grant\"\n");
        let (s, h) = rotated_then_revoked(&node, TokenRef::Refresh(RtId(0)));
        assert!(matches!(
            spec::rule(&node, &s, &REFRESH_RT1),
            Rule::RevokedRefused { grant: true, .. }
        ));
        assert_eq!(
            classify(&node, &s, &REFRESH_RT1, &h),
            checks::REVOKE_CONSUMED
        );
        let use_at1 = Action::UseAccess { at: AtId(1) };
        assert_eq!(classify(&node, &s, &use_at1, &h), checks::REVOKE_CONSUMED);
    }

    #[test]
    fn an_access_token_ended_by_another_access_tokens_revocation_is_that_cascade() {
        let use_at1 = Action::UseAccess { at: AtId(1) };
        for target in ["access-tokens", "grant"] {
            let p = policy(&format!(
                "profile = \"bcp\"\nrevoke_access_cascades = \"{target}\"\n"
            ));
            let (s, h) = rotated_then_revoked(&p, TokenRef::Access(AtId(0)));
            assert!(matches!(
                spec::rule(&p, &s, &use_at1),
                Rule::AccessRefused { .. }
            ));
            assert_eq!(
                classify(&p, &s, &use_at1, &h),
                checks::REVOKE_ACCESS_CASCADE,
                "{target}"
            );
        }
        // Declared to end nothing else, the server ended AT1: the same check names it.
        let p = policy("profile = \"bcp\"\n");
        let (s, h) = rotated_then_revoked(&p, TokenRef::Access(AtId(0)));
        assert_eq!(classify(&p, &s, &use_at1, &h), checks::RESOURCE_LIVE);
        let refused = Observed::Resource { ok: false };
        let expected = [Outcome::Resource { ok: true }];
        assert_eq!(
            classify_divergence(&p, &s, &use_at1, &h, &expected, &refused),
            checks::REVOKE_ACCESS_CASCADE
        );
    }

    #[test]
    fn an_access_token_a_refresh_ended_is_named_after_that_refresh() {
        let p = policy("profile = \"bcp\"\nrefresh_ends_access = \"presented\"\n");
        let spec = Spec::new(p.clone());
        let mut s = State::default();
        for a in [
            Action::Authorize {
                client: ClientType::Confidential,
                scope: Scope::ALL,
                offline: true,
            },
            Action::Refresh {
                by: OWNER,
                rt: RtId(0),
                scope: None,
            },
        ] {
            let (o, mut next) = spec.step(&s, &a).unwrap().swap_remove(0);
            tokenlife_model::observe::observe(&p, &s, &a, &o, &mut next);
            s = next;
        }
        let h = History::default();
        let use_at0 = Action::UseAccess { at: AtId(0) };
        assert_eq!(classify(&p, &s, &use_at0, &h), checks::REFRESH_ENDS_ACCESS);
        // A server that kept AT0 alive breaks the same check.
        let honoured = Observed::Resource { ok: true };
        let expected = [Outcome::Resource { ok: false }];
        assert_eq!(
            classify_divergence(&p, &s, &use_at0, &h, &expected, &honoured),
            checks::REFRESH_ENDS_ACCESS
        );
        let use_at1 = Action::UseAccess { at: AtId(1) };
        assert_eq!(classify(&p, &s, &use_at1, &h), checks::RESOURCE_LIVE);
    }

    #[test]
    fn a_live_access_token_introspected_inactive_after_a_consumed_revocation_is_that_revocation() {
        // Declared to end nothing (bcp), the server ended the grant when the consumed RT0
        // was revoked: the successor's access token introspects inactive.
        let p = policy("profile = \"bcp\"\n");
        let (s, h) = rotated_then_revoked(&p, TokenRef::Refresh(RtId(0)));
        let introspect_at1 = Action::Introspect {
            token: TokenRef::Access(AtId(1)),
        };
        assert!(matches!(
            spec::rule(&p, &s, &introspect_at1),
            Rule::IntrospectedLive
        ));
        let inactive = Observed::Introspection { active: false };
        let expected = [Outcome::Introspection { active: true }];
        assert_eq!(
            classify_divergence(&p, &s, &introspect_at1, &h, &expected, &inactive),
            checks::REVOKE_CONSUMED
        );
        // After AT0's revocation (declared to end nothing else), AT1 inactive is that
        // revocation reaching too far, as at the resource.
        let (s, h) = rotated_then_revoked(&p, TokenRef::Access(AtId(0)));
        assert_eq!(
            classify_divergence(&p, &s, &introspect_at1, &h, &expected, &inactive),
            checks::REVOKE_ACCESS_CASCADE
        );
    }

    /// Authorize, rotate RT0 to RT1, then the public client presents the confidential
    /// client's consumed RT0: the observed state under `p` and the history.
    fn rotated_then_presented_by_other(p: &Policy) -> (State, History) {
        let spec = Spec::new(p.clone());
        let mut s = State::default();
        let mut h = History::default();
        for a in [
            Action::Authorize {
                client: ClientType::Confidential,
                scope: Scope::ALL,
                offline: true,
            },
            REFRESH_RT0,
            Action::Refresh {
                by: Actor::Client(ClientType::Public),
                rt: RtId(0),
                scope: None,
            },
        ] {
            if matches!(a, Action::Refresh { by, .. } if by != OWNER) {
                assert_eq!(classify(p, &s, &a, &h), checks::REFRESH_BINDING);
                h.others_presented.insert(RtId(0));
            }
            let (o, mut next) = spec.step(&s, &a).unwrap().swap_remove(0);
            tokenlife_model::observe::observe(p, &s, &a, &o, &mut next);
            s = next;
        }
        (s, h)
    }

    const REFRESH_RT0: Action = Action::Refresh {
        by: OWNER,
        rt: RtId(0),
        scope: None,
    };

    #[test]
    fn a_family_dead_after_another_clients_replay_is_judged_by_whose_reuse_counts() {
        let use_at1 = Action::UseAccess { at: AtId(1) };
        // Declared: reuse counts whoever presents. The family is dead, by reuse detection.
        let any = policy("profile = \"bcp\"\nreuse_presenter = \"any-client\"\n");
        let (s, h) = rotated_then_presented_by_other(&any);
        assert!(matches!(
            spec::rule(&any, &s, &use_at1),
            Rule::AccessRefused {
                grant_revoked: true,
                ..
            }
        ));
        assert_eq!(classify(&any, &s, &use_at1, &h), checks::REFRESH_FAMILY);
        assert_eq!(classify(&any, &s, &REFRESH_RT1, &h), checks::REFRESH_FAMILY);
        // A server that kept the family alive breaks reuse detection's check.
        let expected = [Outcome::Resource { ok: false }];
        let honoured = Observed::Resource { ok: true };
        assert_eq!(
            classify_divergence(&any, &s, &use_at1, &h, &expected, &honoured),
            checks::REFRESH_FAMILY
        );
        // Declared: only the owner's reuse counts (bcp). A server that ended the family
        // broke the binding the other client's presentation was judged by.
        let bcp = policy("profile = \"bcp\"\n");
        let (s, h) = rotated_then_presented_by_other(&bcp);
        assert_eq!(classify(&bcp, &s, &use_at1, &h), checks::RESOURCE_LIVE);
        let expected = [Outcome::Resource { ok: true }];
        let refused = Observed::Resource { ok: false };
        assert_eq!(
            classify_divergence(&bcp, &s, &use_at1, &h, &expected, &refused),
            checks::REFRESH_BINDING
        );
        let introspect_at1 = Action::Introspect {
            token: TokenRef::Access(AtId(1)),
        };
        assert_eq!(
            classify_divergence(
                &bcp,
                &s,
                &introspect_at1,
                &h,
                &[Outcome::Introspection { active: true }],
                &Observed::Introspection { active: false }
            ),
            checks::REFRESH_BINDING
        );
        // Without the presentation in the history, the same refusal is the plain check.
        assert_eq!(
            classify_divergence(&bcp, &s, &use_at1, &History::default(), &expected, &refused),
            checks::RESOURCE_LIVE
        );
    }
}
