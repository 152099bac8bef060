//! The spec's unit tests.

use super::*;
use crate::policy::{CheckOrder, OrderedCheck, Policy, RefreshTtlAnchor};

fn spec(profile: &str) -> Spec {
    Spec::new(Policy::profile(profile).unwrap())
}

/// Takes the only allowed outcome of `a`.
fn one(sp: &Spec, s: &State, a: Action) -> (Outcome, State) {
    let mut outs = sp.step(s, &a).unwrap();
    assert_eq!(outs.len(), 1, "{a}: {outs:?}");
    outs.remove(0)
}

fn authorize(sp: &Spec, client: ClientType) -> State {
    let a = Action::Authorize {
        client,
        scope: Scope::ALL,
        offline: true,
    };
    one(sp, &State::default(), a).1
}

fn refresh(by: Actor, rt: u8) -> Action {
    Action::Refresh {
        by,
        rt: RtId(rt),
        scope: None,
    }
}

const CONF: Actor = Actor::Client(ClientType::Confidential);
const PUBLIC: Actor = Actor::Client(ClientType::Public);

#[test]
fn rotation_then_replay_revokes_the_family_under_bcp() {
    let sp = spec("bcp");
    let s = authorize(&sp, ClientType::Confidential);
    let (o, s) = one(&sp, &s, refresh(CONF, 0));
    assert!(matches!(
        o,
        Outcome::Tokens {
            refresh: Some(RtId(1)),
            refresh_is_new: true,
            ..
        }
    ));
    let (o, s) = one(&sp, &s, refresh(CONF, 0));
    assert_eq!(o, Outcome::invalid_grant());
    assert!(s.grants[0].revoked);
    let (o, _) = one(&sp, &s, refresh(CONF, 1));
    assert_eq!(o, Outcome::invalid_grant());
    assert!(!at_live(&s, AtId(1)));
}

#[test]
fn replay_without_reuse_detection_leaves_the_successor_alive() {
    let mut p = Policy::profile("bcp").unwrap();
    p.reuse_detection = false;
    let sp = Spec::new(p);
    let s = authorize(&sp, ClientType::Confidential);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    let (o, s) = one(&sp, &s, refresh(CONF, 0));
    assert_eq!(o, Outcome::invalid_grant());
    assert!(rt_usable(&s, RtId(1)));
}

#[test]
fn rotation_any_allows_both() {
    let sp = spec("rfc6749");
    let s = authorize(&sp, ClientType::Public);
    let outs = sp.step(&s, &refresh(PUBLIC, 0)).unwrap();
    let news: Vec<bool> = outs
        .iter()
        .map(|(o, _)| {
            matches!(
                o,
                Outcome::Tokens {
                    refresh: Some(_),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(news, [true, false]);
}

#[test]
fn client_binding_and_authentication() {
    let sp = spec("bcp");
    let s = authorize(&sp, ClientType::Confidential);
    assert_eq!(one(&sp, &s, refresh(PUBLIC, 0)).0, Outcome::invalid_grant());
    assert_eq!(
        one(&sp, &s, refresh(Actor::Attacker, 0)).0,
        Outcome::invalid_client()
    );
    // Neither refusal touched the token.
    assert!(rt_usable(&one(&sp, &s, refresh(PUBLIC, 0)).1, RtId(0)));
    let revokes = sp
        .step(
            &s,
            &Action::Revoke {
                by: PUBLIC,
                token: TokenRef::Refresh(RtId(0)),
                hint: Hint::Wrong,
            },
        )
        .unwrap();
    assert_eq!(revokes.len(), 2);
    assert!(revokes.iter().all(|(_, n)| rt_usable(n, RtId(0))));
}

#[test]
fn grace_same_returns_the_same_successor_and_grace_new_a_new_one() {
    for (profile, expected) in [
        ("grace-same", (RtId(1), false)),
        ("grace-new", (RtId(2), true)),
    ] {
        let sp = spec(profile);
        let s = authorize(&sp, ClientType::Public);
        let (_, s) = one(&sp, &s, refresh(PUBLIC, 0));
        let (o, s) = one(&sp, &s, refresh(PUBLIC, 0));
        match o {
            Outcome::Tokens {
                refresh: Some(r),
                refresh_is_new,
                ..
            } => {
                assert_eq!((r, refresh_is_new), expected, "{profile}")
            }
            other => panic!("{profile}: {other:?}"),
        }
        // After the window, the same replay is reuse.
        let mut s = s;
        advance(&mut s, 30);
        assert_eq!(
            one(&sp, &s, refresh(PUBLIC, 0)).0,
            Outcome::invalid_grant(),
            "{profile}"
        );
    }
}

#[test]
fn narrowing_narrows_the_access_token_only() {
    let sp = spec("bcp");
    let s = authorize(&sp, ClientType::Confidential);
    let a = Action::Refresh {
        by: CONF,
        rt: RtId(0),
        scope: Some(Scope::READ),
    };
    let (o, s) = one(&sp, &s, a);
    assert!(matches!(
        o,
        Outcome::Tokens {
            scope: Scope::READ,
            ..
        }
    ));
    assert_eq!(s.rts[1].scope, Scope::ALL);
    let (o, _) = one(&sp, &s, refresh(CONF, 1));
    assert!(matches!(
        o,
        Outcome::Tokens {
            scope: Scope::ALL,
            ..
        }
    ));
    let wide = State {
        grants: {
            let mut g = s.grants;
            g[0].scope = Scope::READ;
            g
        },
        ..s.clone()
    };
    let mut narrow_rt = wide.clone();
    narrow_rt.rts[1].scope = Scope::READ;
    let a = Action::Refresh {
        by: CONF,
        rt: RtId(1),
        scope: Some(Scope::ALL),
    };
    assert_eq!(one(&sp, &narrow_rt, a).0, Outcome::invalid_scope());
}

#[test]
fn tick_goes_to_the_next_deadline_and_check_order_decides_expired_replays() {
    let sp = spec("bcp");
    let s = authorize(&sp, ClientType::Confidential);
    assert_eq!(next_deadline(&s), Some(300));
    let (_, s) = one(&sp, &s, Action::Tick);
    assert!(!at_live(&s, AtId(0)));
    assert!(rt_usable(&s, RtId(0)));
    let (_, s) = one(&sp, &s, Action::Tick);
    assert!(!rt_usable(&s, RtId(0)));
    assert_eq!(one(&sp, &s, refresh(CONF, 0)).0, Outcome::invalid_grant());

    // A consumed token presented after it expired: reuse under bcp, plain expiry under
    // expiry-before-reuse.
    let mut p = Policy::profile("bcp").unwrap();
    p.check_order = CheckOrder::EXPIRY_BEFORE_REUSE;
    let ebr = Spec::new(p);
    let s = authorize(&ebr, ClientType::Confidential);
    let (_, s) = one(&ebr, &s, refresh(CONF, 0));
    let mut s = s;
    advance(&mut s, 600);
    let (_, after) = one(&ebr, &s, refresh(CONF, 0));
    assert!(!after.grants[0].revoked);
}

#[test]
fn unknown_ids_are_an_error_not_a_panic() {
    let sp = spec("bcp");
    let s = State::default();
    assert_eq!(
        sp.step(&s, &refresh(CONF, 3)),
        Err(SpecError::UnknownId("RT3".into()))
    );
    assert!(sp.step(&s, &Action::UseAccess { at: AtId(0) }).is_err());
}

/// `bcp` with its refusals checked in `order`.
fn ordered(order: [OrderedCheck; 3]) -> Spec {
    let mut p = Policy::profile("bcp").unwrap();
    p.check_order = CheckOrder::new(order).unwrap();
    Spec::new(p)
}

/// A grant of `read` only, so that asking `read write` is widening.
fn authorize_read(sp: &Spec) -> State {
    let a = Action::Authorize {
        client: ClientType::Confidential,
        scope: Scope::READ,
        offline: true,
    };
    one(sp, &State::default(), a).1
}

#[test]
fn scope_before_reuse_refuses_a_widening_replay_for_its_scope_and_keeps_the_family() {
    use OrderedCheck::{Expiry, Reuse, Scope as S};
    let widening_replay = Action::Refresh {
        by: CONF,
        rt: RtId(0),
        scope: Some(Scope::ALL),
    };
    for (order, answer, family_revoked) in [
        ([S, Reuse, Expiry], Outcome::invalid_scope(), false),
        ([Reuse, S, Expiry], Outcome::invalid_grant(), true),
        ([Reuse, Expiry, S], Outcome::invalid_grant(), true),
    ] {
        let sp = ordered(order);
        let s = authorize_read(&sp);
        let (_, s) = one(&sp, &s, refresh(CONF, 0));
        let (o, after) = one(&sp, &s, widening_replay);
        assert_eq!(
            (o, after.grants[0].revoked),
            (answer, family_revoked),
            "{order:?}"
        );
        assert_eq!(rt_usable(&after, RtId(1)), !family_revoked, "{order:?}");
    }
}

#[test]
fn scope_before_expiry_refuses_an_expired_widening_request_for_its_scope() {
    use OrderedCheck::{Expiry, Reuse, Scope as S};
    let widening = Action::Refresh {
        by: CONF,
        rt: RtId(0),
        scope: Some(Scope::ALL),
    };
    for (order, answer) in [
        ([S, Expiry, Reuse], Outcome::invalid_scope()),
        ([Expiry, S, Reuse], Outcome::invalid_grant()),
        ([Reuse, Expiry, S], Outcome::invalid_grant()),
    ] {
        let sp = ordered(order);
        let mut s = authorize_read(&sp);
        advance(&mut s, 600);
        assert_eq!(one(&sp, &s, widening).0, answer, "{order:?}");
    }
}

#[test]
fn every_order_names_a_rule_for_an_expired_consumed_widening_replay() {
    // All three refusals apply: the first of the order is the rule.
    let widening = Action::Refresh {
        by: CONF,
        rt: RtId(0),
        scope: Some(Scope::ALL),
    };
    for order in CheckOrder::ALL {
        let mut p = Policy::profile("grace-new").unwrap();
        p.check_order = order;
        let sp = Spec::new(p.clone());
        let s = authorize_read(&sp);
        let (_, mut s) = one(&sp, &s, refresh(CONF, 0));
        advance(&mut s, 600);
        let got = rule(&p, &s, &widening);
        let expected = match order.checks()[0] {
            OrderedCheck::Scope => "refused: scope widening",
            OrderedCheck::Reuse => "refused as consumed (reuse)",
            OrderedCheck::Expiry => "refused: past its lifetime",
        };
        assert_eq!(got.to_string(), expected, "{order}");
    }
}

#[test]
fn a_lifetime_anchored_at_the_access_tokens_expiry_adds_the_access_ttl() {
    for (anchor, alive_at_600) in [
        (RefreshTtlAnchor::Issue, false),
        (RefreshTtlAnchor::AccessExpiry, true),
    ] {
        let mut p = Policy::profile("bcp").unwrap();
        p.refresh_ttl_anchor = anchor;
        let sp = Spec::new(p);
        let s = authorize(&sp, ClientType::Confidential);
        let mut at_600 = s.clone();
        advance(&mut at_600, 600);
        assert_eq!(rt_usable(&at_600, RtId(0)), alive_at_600, "{anchor:?}");
        let mut at_900 = s.clone();
        advance(&mut at_900, 900);
        assert!(!rt_usable(&at_900, RtId(0)), "{anchor:?}");
        // A fresh successor counts the same way from its own issue.
        let (_, mut s) = one(&sp, &s, refresh(CONF, 0));
        advance(&mut s, 600);
        assert_eq!(rt_usable(&s, RtId(1)), alive_at_600, "{anchor:?}");
    }
}

fn cascading(knob: &str, target: &str) -> Spec {
    Spec::new(Policy::from_toml(&format!("profile = \"bcp\"\n{knob} = \"{target}\"\n")).unwrap())
}

fn revoke(token: TokenRef) -> Action {
    Action::Revoke {
        by: CONF,
        token,
        hint: Hint::Right,
    }
}

/// After authorize and one refresh (AT0, RT0 consumed; AT1, RT1 live), what revoking
/// `token` leaves alive: (AT0, AT1, RT1).
fn left_alive(sp: &Spec, token: TokenRef) -> (bool, bool, bool) {
    let s = authorize(sp, ClientType::Confidential);
    let (_, s) = one(sp, &s, refresh(CONF, 0));
    let (o, s) = one(sp, &s, revoke(token));
    assert_eq!(o, Outcome::Revocation { ok: true });
    (
        at_live(&s, AtId(0)),
        at_live(&s, AtId(1)),
        rt_usable(&s, RtId(1)),
    )
}

#[test]
fn revoking_an_access_token_ends_what_its_cascade_targets() {
    let at1 = TokenRef::Access(AtId(1));
    for (target, expected) in [
        ("none", (true, false, true)),
        ("refresh-tokens", (true, false, false)),
        ("access-tokens", (false, false, true)),
        ("grant", (false, false, false)),
    ] {
        let sp = cascading("revoke_access_cascades", target);
        assert_eq!(left_alive(&sp, at1), expected, "{target}");
    }
    // `true` keeps its old meaning: the grant's refresh tokens.
    let old = Spec::new(Policy::from_toml("revoke_access_cascades = true\n").unwrap());
    assert_eq!(left_alive(&old, at1), (true, false, false));
}

#[test]
fn revoking_a_refresh_token_ends_what_its_cascade_targets() {
    let rt1 = TokenRef::Refresh(RtId(1));
    for (target, expected) in [
        ("none", (true, true, false)),
        ("refresh-tokens", (true, true, false)),
        ("access-tokens", (false, false, false)),
        ("grant", (false, false, false)),
    ] {
        let sp = cascading("revoke_refresh_cascades", target);
        assert_eq!(left_alive(&sp, rt1), expected, "{target}");
    }
}

#[test]
fn revoking_a_consumed_refresh_token_ends_what_its_cascade_targets() {
    let rt0 = TokenRef::Refresh(RtId(0));
    for (target, expected) in [
        ("none", (true, true, true)),
        ("refresh-tokens", (true, true, false)),
        ("access-tokens", (false, false, true)),
        ("grant", (false, false, false)),
    ] {
        let sp = cascading("revoke_consumed_cascades", target);
        let s = authorize(&sp, ClientType::Confidential);
        let (_, s) = one(&sp, &s, refresh(CONF, 0));
        // (Under `none` the spec collapses a consumed token's deadlines, so it may call the
        // token dead: the same answer, and nothing changes either way.)
        if target != "none" {
            assert_eq!(
                sp.rule(&s, &revoke(rt0)),
                Ok(Rule::ConsumedRevoked),
                "{target}"
            );
        }
        assert_eq!(left_alive(&sp, rt0), expected, "{target}");
    }
    // An expired consumed token is dead: nothing cascades.
    let sp = cascading("revoke_consumed_cascades", "grant");
    let mut s = authorize(&sp, ClientType::Confidential);
    advance(&mut s, 299);
    let (_, mut s) = one(&sp, &s, refresh(CONF, 0));
    advance(&mut s, 301);
    assert_eq!(sp.rule(&s, &revoke(rt0)), Ok(Rule::DeadTokenRevoked));
}

fn ending(profile: &str, ends: &str) -> Spec {
    let text = format!("profile = \"{profile}\"\nrefresh_ends_access = \"{ends}\"\n");
    Spec::new(Policy::from_toml(&text).unwrap())
}

fn use_access(at: u8) -> Action {
    Action::UseAccess { at: AtId(at) }
}

#[test]
fn a_refresh_ends_the_access_tokens_issued_with_the_presented_refresh_token() {
    // Rotation: AT0 came with RT0, so refreshing RT0 ends AT0; AT1 lives until RT1's refresh.
    let sp = ending("bcp", "presented");
    let s = authorize(&sp, ClientType::Confidential);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    assert!(!at_live(&s, AtId(0)));
    assert!(at_live(&s, AtId(1)));
    assert_eq!(
        sp.rule(&s, &use_access(0)).unwrap(),
        Rule::AccessRefused {
            grant_revoked: false,
            token_revoked: true,
        }
    );
    // A refused refresh (a replay, here without reuse detection) ends nothing.
    let mut p = sp.policy.clone();
    p.reuse_detection = false;
    let quiet = Spec::new(p);
    let (o, s2) = one(&quiet, &s, refresh(CONF, 0));
    assert_eq!(o, Outcome::invalid_grant());
    assert!(at_live(&s2, AtId(1)));
    let (_, s) = one(&sp, &s, refresh(CONF, 1));
    assert!(!at_live(&s, AtId(1)) && at_live(&s, AtId(2)));
    // The default keeps every access token until its expiry.
    let sp = spec("bcp");
    let s = authorize(&sp, ClientType::Confidential);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    assert!(at_live(&s, AtId(0)) && at_live(&s, AtId(1)));
}

#[test]
fn without_rotation_a_refresh_ends_the_access_tokens_of_earlier_refreshes_with_it() {
    let mut p =
        Policy::from_toml("profile = \"bcp\"\nrefresh_ends_access = \"presented\"\n").unwrap();
    p.rotation_confidential = Rotation::Never;
    let sp = Spec::new(p);
    let s = authorize(&sp, ClientType::Confidential);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    assert!(!at_live(&s, AtId(0)) && at_live(&s, AtId(1)));
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    assert!(!at_live(&s, AtId(1)) && at_live(&s, AtId(2)));
}

#[test]
fn a_grace_reuse_ends_nothing_its_first_refresh_left() {
    // RT0's own access token ended with its rotation; the grace reuse of RT0 leaves AT1 (of
    // RT1) alive, and the successor's refresh ends both access tokens issued with RT1.
    let sp = ending("grace-same", "presented");
    let s = authorize(&sp, ClientType::Confidential);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    let (o, s) = one(&sp, &s, refresh(CONF, 0));
    assert!(matches!(
        o,
        Outcome::Tokens {
            refresh: Some(RtId(1)),
            refresh_is_new: false,
            ..
        }
    ));
    assert!(!at_live(&s, AtId(0)) && at_live(&s, AtId(1)) && at_live(&s, AtId(2)));
    let (_, s) = one(&sp, &s, refresh(CONF, 1));
    assert!(!at_live(&s, AtId(1)) && !at_live(&s, AtId(2)) && at_live(&s, AtId(3)));
}

fn presenting(toml: &str) -> Spec {
    Spec::new(Policy::from_toml(toml).unwrap())
}

#[test]
fn another_clients_replay_revokes_the_owners_family_only_under_any_client() {
    // RT0 rotated to RT1; the public client presents the confidential client's RT0.
    for (presenter, revoked) in [("owner", false), ("any-client", true)] {
        let sp = presenting(&format!(
            "profile = \"bcp\"\nreuse_presenter = \"{presenter}\"\n"
        ));
        let s = authorize(&sp, ClientType::Confidential);
        let (_, s) = one(&sp, &s, refresh(CONF, 0));
        let replay = refresh(PUBLIC, 0);
        let expected = if revoked {
            Rule::ReuseByOtherClient
        } else {
            Rule::OtherClientsToken
        };
        assert_eq!(sp.rule(&s, &replay).unwrap(), expected, "{presenter}");
        let (o, s) = one(&sp, &s, replay);
        assert_eq!(o, Outcome::invalid_grant(), "{presenter}");
        assert_eq!(s.grants[0].revoked, revoked, "{presenter}");
        assert_eq!(rt_usable(&s, RtId(1)), !revoked, "{presenter}");
        assert_eq!(at_live(&s, AtId(1)), !revoked, "{presenter}");
    }
}

#[test]
fn another_clients_presentation_changes_nothing_where_its_owners_is_no_refused_replay() {
    let any = "reuse_presenter = \"any-client\"\n";
    let unaffected = |sp: &Spec, s: &State, a: Action, why: &str| {
        let rule = sp.rule(s, &a).unwrap();
        let (o, n) = one(sp, s, a);
        assert!(
            matches!(rule, Rule::OtherClientsToken | Rule::ClientUnauthenticated),
            "{why}: {rule:?}"
        );
        assert!(matches!(o, Outcome::Error { .. }), "{why}: {o:?}");
        assert_eq!(&n, s, "{why}: nothing changes");
    };
    // An active token.
    let sp = presenting(&format!("profile = \"bcp\"\n{any}"));
    let s = authorize(&sp, ClientType::Confidential);
    unaffected(&sp, &s, refresh(PUBLIC, 0), "active");
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    unaffected(&sp, &s, refresh(PUBLIC, 1), "the active successor");
    // Unauthenticated: the attacker cannot present a confidential client's token as itself.
    unaffected(&sp, &s, refresh(Actor::Attacker, 0), "unauthenticated");
    // A revoked grant: the owner's replay would be refused as revoked, not as reuse.
    let (_, dead) = one(&sp, &s, refresh(CONF, 0));
    assert!(dead.grants[0].revoked);
    unaffected(&sp, &dead, refresh(PUBLIC, 0), "revoked grant");
    // Inside the grace window: the owner's presentation would be honoured.
    let sp = presenting(&format!("profile = \"grace-same\"\n{any}"));
    let s = authorize(&sp, ClientType::Confidential);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    unaffected(&sp, &s, refresh(PUBLIC, 0), "in grace");
    // Expired, under a policy that checks expiry first: refused for expiry, not reuse.
    let sp = presenting(&format!(
        "profile = \"bcp\"\ncheck_order = \"expiry-before-reuse\"\n{any}"
    ));
    let mut s = authorize(&sp, ClientType::Confidential);
    advance(&mut s, 299);
    let (_, mut s) = one(&sp, &s, refresh(CONF, 0));
    advance(&mut s, 301);
    assert!(rt_usable(&s, RtId(1)) && expiry(&s, RtId(0)).is_some());
    unaffected(&sp, &s, refresh(PUBLIC, 0), "expired, expiry first");
    // A widening scope, under a policy that checks the scope first: invalid_scope for the
    // owner, so nothing is reuse.
    let sp = presenting(&format!(
        "profile = \"bcp\"\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]\n{any}"
    ));
    let a = Action::Authorize {
        client: ClientType::Confidential,
        scope: Scope::READ,
        offline: true,
    };
    let (_, s) = one(&sp, &State::default(), a);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    let widening = Action::Refresh {
        by: PUBLIC,
        rt: RtId(0),
        scope: Some(Scope::ALL),
    };
    unaffected(&sp, &s, widening, "scope first");
    let (_, s) = one(&sp, &s, refresh(PUBLIC, 0));
    assert!(
        s.grants[0].revoked,
        "the same replay without the scope is reuse"
    );
}

#[test]
fn any_client_without_reuse_detection_changes_nothing() {
    // Like reuse detection without rotation: a valid policy, and no cascade.
    let sp = presenting(
        "profile = \"bcp\"\nreuse_detection = false\nreuse_presenter = \"any-client\"\n",
    );
    let s = authorize(&sp, ClientType::Confidential);
    let (_, s) = one(&sp, &s, refresh(CONF, 0));
    assert_eq!(
        sp.rule(&s, &refresh(PUBLIC, 0)).unwrap(),
        Rule::OtherClientsToken
    );
    let (_, n) = one(&sp, &s, refresh(PUBLIC, 0));
    assert_eq!(n, s);
}

#[test]
fn revoking_an_expired_access_token_may_cascade_where_a_live_ones_revocation_does() {
    let revoke = Action::Revoke {
        by: CONF,
        token: TokenRef::Access(AtId(0)),
        hint: Hint::None,
    };
    // bcp: revoking an access token ends nothing else, live or expired.
    let sp = spec("bcp");
    let s = authorize(&sp, ClientType::Confidential);
    let (_, expired) = one(&sp, &s, Action::Tick);
    assert!(!at_live(&expired, AtId(0)) && rt_usable(&expired, RtId(0)));
    let (_, after) = one(&sp, &expired, revoke);
    assert!(rt_usable(&after, RtId(0)));
    // A policy where it ends the refresh tokens: an expired one may end them too, or not.
    let mut p = Policy::profile("bcp").unwrap();
    p.revoke_access_cascades = crate::policy::RevokeCascade::RefreshTokens;
    let sp = Spec::new(p);
    let outs = sp.step(&expired, &revoke).unwrap();
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(outs
        .iter()
        .all(|(o, _)| *o == Outcome::Revocation { ok: true }));
    assert!(rt_usable(&outs[0].1, RtId(0)));
    assert!(!rt_usable(&outs[1].1, RtId(0)));
    // A live one's revocation has one answer: the cascade.
    let live = sp.step(&s, &revoke).unwrap();
    assert_eq!(live.len(), 1);
    assert!(!rt_usable(&live[0].1, RtId(0)));
}

fn unproven(rt: u8, fault: crate::dpop::ProofFault) -> Action {
    Action::Unproven {
        token: TokenRef::Refresh(RtId(rt)),
        fault,
    }
}

#[test]
fn a_bound_refresh_token_without_a_proof_for_its_key_is_refused_and_nothing_changes() {
    use crate::dpop::ProofFault;
    let sp = spec("bcp-dpop");
    let s = authorize(&sp, ClientType::Public);
    for fault in [
        ProofFault::OtherKey,
        ProofFault::NoProof,
        ProofFault::Replayed,
    ] {
        let outs = sp.step(&s, &unproven(0, fault)).unwrap();
        let codes: Vec<_> = outs.iter().map(|(o, _)| o.to_string()).collect();
        assert!(!outs.is_empty(), "{fault}");
        for (o, next) in &outs {
            assert!(
                matches!(o, Outcome::Error { status: 400, .. }),
                "{fault}: {o}"
            );
            assert_eq!(*next, s, "{fault}: {o} changed the state");
        }
        assert!(
            codes.contains(&"400 invalid_dpop_proof".to_string()),
            "{codes:?}"
        );
    }
    // The attacker has the token, never the key.
    for (o, next) in sp.step(&s, &refresh(Actor::Attacker, 0)).unwrap() {
        assert!(matches!(o, Outcome::Error { status: 400, .. }), "{o}");
        assert_eq!(next, s);
    }
    // Its owner, with its key, refreshes; the token is kept (rotation never).
    let (o, _) = one(&sp, &s, refresh(PUBLIC, 0));
    assert!(matches!(o, Outcome::Tokens { refresh: None, .. }), "{o}");
}

#[test]
fn a_confidential_clients_refresh_token_moves_to_a_new_key() {
    use crate::dpop::ProofFault;
    let sp = spec("fapi2");
    let s = authorize(&sp, ClientType::Confidential);
    let (o, _) = one(&sp, &s, unproven(0, ProofFault::OtherKey));
    assert!(matches!(o, Outcome::Tokens { .. }), "{o}");
    // Without any proof it is refused: the client is registered for DPoP.
    for (o, next) in sp.step(&s, &unproven(0, ProofFault::NoProof)).unwrap() {
        assert!(matches!(o, Outcome::Error { status: 400, .. }), "{o}");
        assert_eq!(next, s);
    }
    // A bearer client has no DPoP faults to present.
    let bcp = spec("bcp");
    let b = authorize(&bcp, ClientType::Confidential);
    assert!(matches!(
        bcp.step(&b, &unproven(0, ProofFault::OtherKey)),
        Err(SpecError::NoDpop(ClientType::Confidential))
    ));
}

#[test]
fn a_nonce_challenge_leaves_the_token_and_a_dead_token_may_be_refused_as_such() {
    use crate::dpop::ProofFault;
    let mut p = Policy::profile("bcp-dpop").unwrap();
    p.dpop_nonce = true;
    let sp = Spec::new(p);
    let s = authorize(&sp, ClientType::Public);
    let (o, next) = one(&sp, &s, unproven(0, ProofFault::NoNonce));
    assert_eq!(o.to_string(), "400 use_dpop_nonce");
    assert_eq!(next, s);
    // Revoked: the server may answer for the nonce or for the token.
    let (_, s) = one(
        &sp,
        &s,
        Action::Revoke {
            by: PUBLIC,
            token: TokenRef::Refresh(RtId(0)),
            hint: Hint::None,
        },
    );
    let outs: Vec<String> = sp
        .step(&s, &unproven(0, ProofFault::NoNonce))
        .unwrap()
        .iter()
        .map(|(o, _)| o.to_string())
        .collect();
    assert_eq!(outs, ["400 use_dpop_nonce", "400 invalid_grant"]);
}
