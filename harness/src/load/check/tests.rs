//! The history checker's tests: hand-made histories, and histories of a correct and of a
//! buggy server made by the model.

use rand::SeedableRng as _;
use tokenlife_model::policy::{Grace, Seconds, PROFILES};
use tokenlife_model::ClientType;

use super::super::history::{Actor, At, Micros};
use super::super::sim::{simulate, SimOptions};
use super::*;

const MS: Micros = 1_000;

/// A history under construction: the code exchange (AT0 + RT0, answered at 1 ms) first.
struct B(History);

fn tokens(at: u32, rt: Option<u32>) -> Response {
    Response::Tokens {
        access: At(at),
        refresh: rt.map(Rt),
    }
}

fn grant() -> Response {
    Response::Refused {
        status: 400,
        error: ErrorCode::InvalidGrant,
    }
}

impl B {
    fn new() -> B {
        let mut h = History::new(7, ClientType::Confidential);
        h.ops.push(Op {
            actor: Actor::Client(0),
            request: Request::Exchange,
            response: tokens(0, Some(0)),
            invoked: 0,
            completed: Some(MS),
            instance: 0,
        });
        B(h)
    }

    /// A request sent at `from` ms and answered at `to` ms (`None`: no answer).
    fn op(mut self, request: Request, response: Response, from: u64, to: Option<u64>) -> B {
        self.0.ops.push(Op {
            actor: Actor::Client(1),
            request,
            response,
            invoked: from * MS,
            completed: to.map(|t| t * MS),
            instance: 0,
        });
        self
    }

    fn refresh(self, rt: u32, response: Response, from: u64, to: u64) -> B {
        self.op(Request::Refresh(Rt(rt)), response, from, Some(to))
    }

    fn kinds(&self, profile: &str) -> Vec<Check> {
        let p = Policy::profile(profile).unwrap();
        kinds_under(&p, &self.0)
    }
}

fn kinds_under(p: &Policy, h: &History) -> Vec<Check> {
    check(p, Clock::real(2), h)
        .into_iter()
        .map(|v| v.check)
        .collect()
}

#[test]
fn a_sequential_chain_is_accepted() {
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .op(Request::UseAccess(At(1)), Response::Honoured, 4, Some(5))
        .refresh(1, tokens(2, Some(2)), 6, 7)
        .op(
            Request::IntrospectRefresh(Rt(1)),
            Response::Denied,
            8,
            Some(9),
        )
        .op(
            Request::RevokeRefresh(Rt(2)),
            Response::Honoured,
            10,
            Some(11),
        )
        .refresh(2, grant(), 12, 13)
        .op(Request::UseAccess(At(2)), Response::Denied, 14, Some(15));
    assert_eq!(b.kinds("bcp"), vec![]);
}

#[test]
fn a_lost_race_under_bcp_kills_the_family() {
    // Two clients race on RT0: one rotates, the other is a replay and revokes the family.
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 5)
        .refresh(0, grant(), 3, 6)
        // Sent before the refusal was answered: it may have gone first.
        .refresh(1, tokens(2, Some(2)), 5, 7);
    assert_eq!(b.kinds("bcp"), vec![]);
    // Sent after the refusal was answered: the family was dead.
    let b = b.refresh(2, tokens(3, Some(3)), 8, 9);
    assert_eq!(b.kinds("bcp"), vec![checks::REFRESH_FAMILY]);
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 5)
        .refresh(0, grant(), 3, 6)
        .op(Request::UseAccess(At(1)), Response::Honoured, 7, Some(8));
    assert_eq!(b.kinds("bcp"), vec![checks::REFRESH_FAMILY]);
    // Without reuse detection the winner's chain lives on.
    assert_eq!(b.kinds("rfc6749"), vec![]);
}

#[test]
fn a_double_spend_is_caught_whatever_the_timing() {
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 60)
        .refresh(0, tokens(2, Some(2)), 3, 61);
    assert_eq!(b.kinds("bcp"), vec![checks::RACE]);
    let v = check(&Policy::default(), Clock::real(2), &b.0);
    assert_eq!(v[0].ops, vec![0, 1, 2]);
    assert!(
        v[0].message
            .contains("RT0 was rotated 2 times (to RT1, RT2)"),
        "{}",
        v[0].message
    );
    // Under a grace window a second successor is a grace reuse (grace-new) or the
    // wrong successor (grace-same).
    assert_eq!(b.kinds("grace-new"), vec![]);
    assert_eq!(b.kinds("grace-same"), vec![checks::REFRESH_GRACE]);
    let same = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 60)
        .refresh(0, tokens(2, Some(1)), 3, 61);
    assert_eq!(same.kinds("grace-same"), vec![]);
    assert_eq!(same.kinds("grace-new"), vec![checks::REFRESH_GRACE]);
}

#[test]
fn a_replay_honoured_after_a_restart_is_caught() {
    let b = B::new().refresh(0, tokens(1, Some(1)), 2, 3).op(
        Request::IntrospectRefresh(Rt(0)),
        Response::Honoured,
        5,
        Some(6),
    );
    assert_eq!(b.kinds("bcp"), vec![checks::INTROSPECT_DEAD]);
    // Overlapping the rotation, the introspection may have gone first.
    let b = B::new().refresh(0, tokens(1, Some(1)), 2, 5).op(
        Request::IntrospectRefresh(Rt(0)),
        Response::Honoured,
        4,
        Some(6),
    );
    assert_eq!(b.kinds("bcp"), vec![]);
    let b = B::new()
        .refresh(0, tokens(1, None), 2, 3)
        .refresh(0, tokens(2, Some(2)), 4, 5)
        .refresh(0, tokens(3, None), 6, 7);
    assert_eq!(b.kinds("rfc6749"), vec![checks::REFRESH_REPLAY]);
}

#[test]
fn unknown_outcomes_are_accepted_both_ways() {
    // RT0's refresh got no answer; the client retries with RT0.
    let happened = B::new()
        .op(Request::Refresh(Rt(0)), Response::Unknown, 2, None)
        .refresh(0, grant(), 4, 5);
    assert_eq!(happened.kinds("bcp"), vec![]);
    let did_not = B::new()
        .op(Request::Refresh(Rt(0)), Response::Unknown, 2, None)
        .refresh(0, tokens(1, Some(1)), 4, 5)
        .refresh(1, tokens(2, Some(2)), 6, 7);
    assert_eq!(did_not.kinds("bcp"), vec![]);
    // A revocation without an answer: the token may be dead, or not.
    let b = B::new()
        .op(Request::RevokeRefresh(Rt(0)), Response::Unknown, 2, None)
        .refresh(0, grant(), 4, 5);
    assert_eq!(b.kinds("bcp"), vec![]);
    let b = B::new()
        .op(Request::RevokeRefresh(Rt(0)), Response::Unknown, 2, None)
        .refresh(0, tokens(1, Some(1)), 4, 5);
    assert_eq!(b.kinds("bcp"), vec![]);
    // A 5xx is a violation in itself, and its effect is unknown.
    let b = B::new()
        .refresh(0, Response::Broken { status: 500 }, 2, 3)
        .refresh(0, grant(), 4, 5);
    assert_eq!(b.kinds("bcp"), vec![checks::TOKEN_RESPONSE]);
}

#[test]
fn overlapping_requests_linearize_either_way() {
    // A revocation overlapping a refresh: the refresh may have gone first.
    let b = B::new()
        .op(
            Request::RevokeRefresh(Rt(0)),
            Response::Honoured,
            2,
            Some(6),
        )
        .refresh(0, tokens(1, Some(1)), 3, 7)
        .refresh(1, tokens(2, Some(2)), 5, 8);
    assert_eq!(b.kinds("bcp"), vec![]);
    // (The refresh went first, so the revocation found RT0 consumed and did nothing.)
    // Once the revocation was answered, RT0 is never honoured again.
    let b = b.refresh(0, tokens(3, Some(3)), 9, 10);
    assert!(b.kinds("bcp").contains(&checks::REVOKE_REFRESH));
    // A refresh overlapping the revocation cannot prove the revocation killed a live
    // token (it may have consumed RT0 first), so the family is not surely dead ...
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 7)
        .op(
            Request::RevokeRefresh(Rt(0)),
            Response::Honoured,
            3,
            Some(6),
        )
        .refresh(1, tokens(2, Some(2)), 8, 9);
    assert_eq!(b.kinds("bcp"), vec![]);
}

#[test]
fn a_forgotten_rotation_is_caught() {
    // RT1 was acknowledged; nothing could have ended it; the server refuses it.
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .refresh(1, grant(), 10, 11);
    assert_eq!(b.kinds("bcp"), vec![checks::REFRESH_ACCEPTED]);
    // A concurrent replay explains it.
    let b = b.refresh(0, grant(), 9, 12);
    assert_eq!(b.kinds("bcp"), vec![]);
    // An access token refused at the resource for no reason.
    let b = B::new().op(Request::UseAccess(At(0)), Response::Denied, 2, Some(3));
    assert_eq!(b.kinds("bcp"), vec![checks::RESOURCE_LIVE]);
    // Near a deadline a refusal proves nothing.
    let p = Policy {
        access_ttl: Seconds(1),
        ..Policy::default()
    };
    assert_eq!(kinds_under(&p, &b.0), vec![]);
}

#[test]
fn wrong_refusals_and_rotation_against_the_policy() {
    let b = B::new().refresh(0, tokens(1, Some(1)), 2, 3).refresh(
        0,
        Response::Refused {
            status: 400,
            error: ErrorCode::InvalidRequest,
        },
        4,
        5,
    );
    assert_eq!(b.kinds("bcp"), vec![checks::TOKEN_ERROR_CODE]);
    let kept = B::new().refresh(0, tokens(1, None), 2, 3);
    assert_eq!(kept.kinds("bcp"), vec![checks::REFRESH_ROTATION]);
    assert_eq!(kept.kinds("rfc6749"), vec![]);
    let mut never = Policy::profile("rfc6749").unwrap();
    never.rotation_confidential = Rotation::Never;
    let rotated = B::new().refresh(0, tokens(1, Some(1)), 2, 3);
    assert_eq!(
        kinds_under(&never, &rotated.0),
        vec![checks::REFRESH_ROTATION]
    );
    let reissued =
        B::new()
            .refresh(0, tokens(1, Some(1)), 2, 3)
            .refresh(1, tokens(2, Some(0)), 4, 5);
    assert_eq!(reissued.kinds("bcp"), vec![checks::REFRESH_ROTATION]);
}

#[test]
fn grace_rules() {
    let mut p = Policy::profile("grace-new").unwrap();
    p.grace = Some(Grace {
        window: Some(Seconds(30)),
        successor: GraceSuccessor::New,
        max_reuse: Some(1),
    });
    let twice = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .refresh(0, tokens(2, Some(2)), 4, 5);
    assert_eq!(kinds_under(&p, &twice.0), vec![]);
    let thrice = twice.refresh(0, tokens(3, Some(3)), 6, 7);
    assert_eq!(kinds_under(&p, &thrice.0), vec![checks::REFRESH_GRACE]);
    // Outside the window (30 s + the 2 s tolerance).
    let late = B::new().refresh(0, tokens(1, Some(1)), 2, 3).refresh(
        0,
        tokens(2, Some(2)),
        33_000,
        33_001,
    );
    assert_eq!(late.kinds("grace-new"), vec![checks::REFRESH_GRACE]);
    assert_eq!(
        kinds_under(&Policy::profile("grace-new").unwrap(), &late.0),
        vec![checks::REFRESH_GRACE]
    );
    let frozen = check(
        &Policy::profile("grace-new").unwrap(),
        Clock::Frozen,
        &late.0,
    );
    assert_eq!(frozen, vec![]);
    // After the successor was used, a reuse is a replay.
    let used = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .refresh(1, tokens(2, Some(2)), 4, 5)
        .refresh(0, tokens(3, Some(1)), 6, 7);
    assert_eq!(used.kinds("grace-same"), vec![checks::REFRESH_GRACE]);
    // ... unless a refresh without an answer may have been the first rotation.
    let unseen = B::new()
        .op(Request::Refresh(Rt(0)), Response::Unknown, 1, None)
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .refresh(1, tokens(2, Some(2)), 4, 5)
        .refresh(0, tokens(3, Some(3)), 6, 7);
    assert_eq!(unseen.kinds("grace-new"), vec![]);
}

#[test]
fn access_token_revocation_and_its_cascade() {
    let b = B::new()
        .op(Request::RevokeAccess(At(0)), Response::Honoured, 2, Some(3))
        .op(Request::UseAccess(At(0)), Response::Honoured, 4, Some(5));
    assert_eq!(b.kinds("bcp"), vec![checks::REVOKE_ACCESS]);
    let p = Policy {
        revoke_access_cascades: tokenlife_model::policy::RevokeCascade::RefreshTokens,
        ..Policy::default()
    };
    let b = B::new()
        .op(Request::RevokeAccess(At(0)), Response::Honoured, 2, Some(3))
        .refresh(0, tokens(1, Some(1)), 4, 5);
    assert_eq!(kinds_under(&p, &b.0), vec![checks::REVOKE_ACCESS_CASCADE]);
    assert_eq!(b.kinds("bcp"), vec![]);
}

#[test]
fn a_lifetime_anchored_at_the_access_tokens_expiry_excuses_no_early_refusal() {
    // RT0 refused 700 s after its issue: past bcp's 600 s, but under the anchor it lives
    // 300 s + 600 s.
    let b = B::new().refresh(0, grant(), 700_000, 700_001);
    assert_eq!(b.kinds("bcp"), vec![]);
    let p = Policy {
        refresh_ttl_anchor: tokenlife_model::policy::RefreshTtlAnchor::AccessExpiry,
        ..Policy::default()
    };
    assert_eq!(kinds_under(&p, &b.0), vec![checks::REFRESH_ACCEPTED]);
}

#[test]
fn every_cascade_target_excuses_what_it_ends() {
    use tokenlife_model::policy::RevokeCascade::{AccessTokens, Grant, RefreshTokens};
    // RT0 refused, and AT0 refused at the resource, after a revocation answered 200.
    let after = |revoke: Request| {
        B::new()
            .op(revoke, Response::Honoured, 2, Some(3))
            .refresh(0, grant(), 4, 5)
            .op(Request::UseAccess(At(0)), Response::Denied, 6, Some(7))
    };
    let with = |f: &dyn Fn(&mut Policy)| {
        let mut p = Policy::default();
        f(&mut p);
        p
    };
    let at_revoked = after(Request::RevokeAccess(At(0)));
    // AT0's own revocation explains its refusal; RT0's needs the cascade.
    let none = with(&|p| p.revoke_access_cascades = tokenlife_model::policy::RevokeCascade::None);
    assert_eq!(
        kinds_under(&none, &at_revoked.0),
        vec![checks::REFRESH_ACCEPTED]
    );
    for target in [RefreshTokens, Grant] {
        let p = with(&|p| p.revoke_access_cascades = target);
        assert_eq!(kinds_under(&p, &at_revoked.0), vec![], "{target}");
    }
    // AT1 (of a rotation) refused after AT0's revocation ended the grant's access tokens.
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .op(Request::RevokeAccess(At(0)), Response::Honoured, 4, Some(5))
        .op(Request::UseAccess(At(1)), Response::Denied, 6, Some(7));
    assert_eq!(kinds_under(&none, &b.0), vec![checks::RESOURCE_LIVE]);
    for target in [AccessTokens, Grant] {
        let p = with(&|p| p.revoke_access_cascades = target);
        assert_eq!(kinds_under(&p, &b.0), vec![], "{target}");
    }
    // Under the cascade to the grant, AT1 and RT1 honoured after AT0's revocation was
    // answered: the cascade was not applied.
    let kept = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .op(Request::RevokeAccess(At(0)), Response::Honoured, 4, Some(5))
        .op(Request::UseAccess(At(1)), Response::Honoured, 6, Some(7))
        .refresh(1, tokens(2, Some(2)), 8, 9);
    assert_eq!(kinds_under(&none, &kept.0), vec![]);
    assert_eq!(
        kinds_under(&with(&|p| p.revoke_access_cascades = Grant), &kept.0),
        vec![checks::REVOKE_ACCESS_CASCADE, checks::REVOKE_ACCESS_CASCADE]
    );
    // A consumed RT0 revoked: RT1 and AT1 refused only where its cascade reaches them.
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .op(
            Request::RevokeRefresh(Rt(0)),
            Response::Honoured,
            4,
            Some(5),
        )
        .op(Request::UseAccess(At(1)), Response::Denied, 6, Some(7))
        .refresh(1, grant(), 8, 9);
    // (A live refresh token's revocation is taken to cascade nowhere here, so that only
    // the consumed token's cascade can explain the refusals.)
    let consumed = |c| {
        with(&move |p| {
            p.revoke_refresh_cascades = tokenlife_model::policy::RevokeCascade::None;
            p.revoke_consumed_cascades = c;
        })
    };
    assert_eq!(
        kinds_under(
            &consumed(tokenlife_model::policy::RevokeCascade::None),
            &b.0
        ),
        vec![checks::RESOURCE_LIVE, checks::REFRESH_ACCEPTED]
    );
    assert_eq!(kinds_under(&consumed(Grant), &b.0), vec![]);
    assert_eq!(
        kinds_under(&consumed(RefreshTokens), &b.0),
        vec![checks::RESOURCE_LIVE]
    );
    assert_eq!(
        kinds_under(&consumed(AccessTokens), &b.0),
        vec![checks::REFRESH_ACCEPTED]
    );
}

fn policies() -> Vec<Policy> {
    let mut all: Vec<Policy> = PROFILES
        .iter()
        .filter_map(|p| Policy::profile(p.name))
        .collect();
    let bcp = Policy::default();
    all.push(Policy {
        revoke_access_cascades: tokenlife_model::policy::RevokeCascade::RefreshTokens,
        ..bcp.clone()
    });
    all.push(Policy {
        check_order: tokenlife_model::policy::CheckOrder::EXPIRY_BEFORE_REUSE,
        revoke_refresh_cascades: tokenlife_model::policy::RevokeCascade::None,
        ..bcp.clone()
    });
    all.push(Policy {
        check_order: tokenlife_model::policy::CheckOrder::new([
            tokenlife_model::policy::OrderedCheck::Scope,
            tokenlife_model::policy::OrderedCheck::Expiry,
            tokenlife_model::policy::OrderedCheck::Reuse,
        ])
        .unwrap(),
        refresh_ttl_anchor: tokenlife_model::policy::RefreshTtlAnchor::AccessExpiry,
        ..bcp.clone()
    });
    {
        use tokenlife_model::policy::RevokeCascade::{self, AccessTokens, Grant, RefreshTokens};
        for c in RevokeCascade::ALL {
            all.push(Policy {
                revoke_consumed_cascades: c,
                ..bcp.clone()
            });
        }
        for c in [AccessTokens, Grant] {
            all.push(Policy {
                revoke_access_cascades: c,
                ..bcp.clone()
            });
        }
        for c in [RefreshTokens, AccessTokens] {
            all.push(Policy {
                revoke_refresh_cascades: c,
                revoke_consumed_cascades: c,
                ..bcp.clone()
            });
        }
    }
    all.push(Policy {
        rotation_public: Rotation::Never,
        rotation_confidential: Rotation::Never,
        reuse_detection: false,
        ..bcp.clone()
    });
    all.push(Policy {
        grace: Some(Grace {
            window: Some(Seconds(30)),
            successor: GraceSuccessor::New,
            max_reuse: Some(1),
        }),
        ..bcp.clone()
    });
    all.push(Policy {
        grace: Some(Grace {
            window: None,
            successor: GraceSuccessor::Same,
            max_reuse: Some(2),
        }),
        revoke_refresh_cascades: tokenlife_model::policy::RevokeCascade::None,
        ..bcp.clone()
    });
    // A refresh ending the access tokens issued with the presented token (DOT), rotating,
    // keeping, and with a grace reuse.
    let ends = tokenlife_model::policy::RefreshEndsAccess::Presented;
    for base in [
        bcp.clone(),
        Policy {
            rotation_public: Rotation::Never,
            rotation_confidential: Rotation::Never,
            revoke_access_cascades: tokenlife_model::policy::RevokeCascade::RefreshTokens,
            ..bcp.clone()
        },
        Policy::profile("grace-same").unwrap(),
        Policy::profile("grace-new").unwrap(),
    ] {
        all.push(Policy {
            refresh_ends_access: ends,
            ..base
        });
    }
    all
}

#[test]
fn a_refresh_ending_the_presented_tokens_access_token_is_judged_as_declared() {
    let ends = Policy {
        refresh_ends_access: tokenlife_model::policy::RefreshEndsAccess::Presented,
        ..Policy::default()
    };
    // AT0 came with RT0: refused after RT0's refresh was sent, as the policy declares.
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .op(Request::UseAccess(At(0)), Response::Denied, 4, Some(5))
        .op(Request::UseAccess(At(1)), Response::Honoured, 6, Some(7));
    assert_eq!(kinds_under(&ends, &b.0), vec![]);
    assert_eq!(b.kinds("bcp"), vec![checks::RESOURCE_LIVE]);
    // Honoured after the refresh was answered: the knob's check, under the knob only.
    let b = B::new().refresh(0, tokens(1, Some(1)), 2, 3).op(
        Request::UseAccess(At(0)),
        Response::Honoured,
        4,
        Some(5),
    );
    assert_eq!(kinds_under(&ends, &b.0), vec![checks::REFRESH_ENDS_ACCESS]);
    assert_eq!(b.kinds("bcp"), vec![]);
    // Overlapping the refresh: either order is allowed.
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 6)
        .op(Request::UseAccess(At(0)), Response::Honoured, 3, Some(4))
        .op(Request::UseAccess(At(0)), Response::Denied, 4, Some(5));
    assert_eq!(kinds_under(&ends, &b.0), vec![]);
    // AT1 came with RT1: RT0's replay (refused) ends nothing, RT1's refresh ends AT1 only.
    let quiet = Policy {
        reuse_detection: false,
        ..ends.clone()
    };
    let b = B::new()
        .refresh(0, tokens(1, Some(1)), 2, 3)
        .refresh(0, grant(), 4, 5)
        .op(Request::UseAccess(At(1)), Response::Denied, 6, Some(7));
    assert_eq!(kinds_under(&quiet, &b.0), vec![checks::RESOURCE_LIVE]);
}

#[test]
fn every_history_of_a_correct_server_is_accepted() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for p in policies() {
        for client in [ClientType::Confidential, ClientType::Public] {
            for _ in 0..400 {
                let h = simulate(&p, client, &mut rng, SimOptions::default());
                let v = check(&p, Clock::real(2), &h);
                assert!(
                    v.is_empty(),
                    "{} / {client:?}: {v:#?}\n{:#?}",
                    p.profile,
                    h.ops.iter().map(Op::describe).collect::<Vec<_>>()
                );
                let v = check(&p, Clock::Frozen, &h);
                assert!(v.is_empty(), "frozen clock: {v:?}");
            }
        }
    }
}

#[test]
fn a_buggy_server_is_caught_in_its_histories() {
    use tokenlife_model::spec::Mutation;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xbad);
    let p = Policy::default();
    // (A use of a revoked access token is rare in a short random history.)
    for (m, check_id, least) in [
        (Mutation::ForgetConsume, checks::RACE, 100),
        (Mutation::ReplayKeepsAccess, checks::REFRESH_FAMILY, 50),
        (Mutation::ForgetAccessRevocation, checks::REVOKE_ACCESS, 4),
    ] {
        // Less overlap than the default, so that more requests surely follow others.
        let o = SimOptions {
            mutation: Some(m),
            spread: 400,
            steps: 14,
            ..SimOptions::default()
        };
        let caught = (0..400)
            .filter(|_| {
                let h = simulate(&p, ClientType::Confidential, &mut rng, o);
                check(&p, Clock::real(2), &h)
                    .iter()
                    .any(|v| v.check == check_id)
            })
            .count();
        assert!(
            caught >= least,
            "{m:?}: only {caught} of 400 histories caught as {}",
            check_id.id
        );
    }
}
