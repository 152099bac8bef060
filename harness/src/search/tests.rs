use super::*;
use tokenlife_model::spec::next_deadline;
use tokenlife_model::state::RtId;
use tokenlife_model::Spec;

fn profile(name: &str) -> Policy {
    Policy::profile(name).unwrap_or_default()
}

fn none() -> HashSet<Pair> {
    HashSet::new()
}

#[test]
fn a_seed_and_a_budget_give_the_same_walks_within_the_budget() {
    let p = profile("grace-new");
    let reach = Reach::full(true);
    let a = plan(&p, reach, 7, 400, 8, &none());
    assert_eq!(a.walks, plan(&p, reach, 7, 400, 8, &none()).walks);
    assert_ne!(a.walks, plan(&p, reach, 8, 400, 8, &none()).walks);
    assert!(a.requests <= 400 && a.requests > 300, "{}", a.requests);
    let counted: u64 = a.walks.iter().flatten().map(requests).sum();
    assert_eq!(counted, a.requests);
    for w in &a.walks {
        assert!(matches!(w[0], Action::Authorize { .. }), "{w:?}");
        assert!(w.len() <= 8);
    }
    // A bigger budget plans the smaller one's walks first, then more.
    let b = plan(&p, reach, 7, 800, 8, &none());
    assert!(b.walks.starts_with(&a.walks[..a.walks.len() - 1]));
    assert!(b.walks.len() > a.walks.len());
    assert!(plan(&p, reach, 7, 0, 8, &none()).walks.is_empty());
}

#[test]
fn what_the_cover_planned_is_not_planned_again() {
    let p = profile("bcp");
    let reach = Reach::full(false);
    let first = plan(&p, reach, 3, 300, 8, &none());
    let mut walker = Walker::new(&p, 8, reach);
    let mut covered = none();
    for w in &first.walks {
        let mut s = State::default();
        for a in w {
            covered.insert((fingerprint(&s), *a));
            let Ok(mut outs) = walker.spec.step(&s, a) else {
                break;
            };
            let (o, mut post) = outs.swap_remove(0);
            observe(&p, &s, a, &o, &mut post);
            s = post;
        }
    }
    let again = plan(&p, reach, 3, 300, 8, &covered);
    // The deadline probes come first whatever was covered; the aimed walks differ.
    assert_eq!(again.probes, first.probes);
    assert_ne!(again.walks.get(again.probes), first.walks.get(first.probes));
    assert!(walker.enabled_timed(&State::default()).len() > 1);
}

#[test]
fn every_pair_an_aimed_walk_reaches_is_reachable_and_short_bounds_are_complete() {
    let p = profile("strict");
    let reach = Reach::full(false);
    let r = reachable(&p, reach, 4);
    assert!(r.complete);
    let got = plan(&p, reach, 1, 400, 4, &none());
    assert!(got.probes > 0 && got.walks.len() > got.probes);
    let walker = Walker::new(&p, 4, reach);
    for (i, w) in got.walks.iter().enumerate() {
        let mut s = State::default();
        for a in w {
            // A probe may present a token its client no longer holds (a replay), which the
            // alphabet leaves to the attacker; every step is still one the spec takes.
            if i >= got.probes {
                assert!(r.has(&(fingerprint(&s), *a)), "{a} in {w:?}");
                assert!(r.situations.contains(&situation(&p, &s, a)));
            }
            let Ok(mut outs) = walker.spec.step(&s, a) else {
                panic!("{a} in {w:?}");
            };
            let (o, mut post) = outs.swap_remove(0);
            observe(&p, &s, a, &o, &mut post);
            s = post;
        }
    }
    assert!(r.pairs.len() > got.planned_pairs);
}

/// Whether `walk` shows a grace window that restarts at each reuse: a consumed token
/// honoured inside its window after time passed, then presented again after the window
/// but before the restarted one would end (`window` seconds after the first reuse).
fn lines_up_two_reuses(p: &Policy, walk: &[Action], window: u32) -> bool {
    let spec = Spec::new(p.clone());
    let mut s = State::default();
    let mut now = 0u32;
    let mut consumed_at: [Option<u32>; 16] = [None; 16];
    let mut reused_at: [Option<u32>; 16] = [None; 16];
    for a in walk {
        let rule = spec.rule(&s, a).ok();
        let by = match *a {
            Action::Tick => next_deadline(&s).unwrap_or(0),
            Action::Advance { to, token, before } => {
                to.remaining(&s, token)
                    .map_or(0, |d| if before { d - 1 } else { d })
            }
            _ => 0,
        };
        now += by;
        if let Action::Refresh { rt: RtId(r), .. } | Action::RefreshLost { rt: RtId(r) } = *a {
            let r = r as usize;
            match rule {
                Some(Rule::GraceReuse { .. }) if consumed_at[r].is_some_and(|c| c < now) => {
                    reused_at[r] = Some(now);
                }
                Some(Rule::ReuseRefused { .. })
                    if reused_at[r].is_some_and(|t| now < t + window) =>
                {
                    return true;
                }
                Some(Rule::Refreshed { .. }) => consumed_at[r] = Some(now),
                _ => {}
            }
        }
        let Ok(mut outs) = spec.step(&s, a) else {
            return false;
        };
        if outs.is_empty() {
            return false;
        }
        let (o, mut post) = outs.swap_remove(0);
        observe(p, &s, a, &o, &mut post);
        s = post;
    }
    false
}

#[test]
fn the_search_lines_up_a_second_grace_reuse_that_uniform_walks_never_reach() {
    // grace-same: a 30 s window and 300 s access tokens, so "the next deadline" after a
    // rotation is the window's end, and only a jump to just before it lands inside.
    let p = profile("grace-same");
    let reach = Reach::full(true);
    let aimed = plan(&p, reach, 1, DEFAULT_BUDGET, 8, &none());
    let hits = aimed
        .walks
        .iter()
        .filter(|w| lines_up_two_reuses(&p, w, 30))
        .count();
    assert!(hits > 0, "no aimed walk of {}", aimed.walks.len());
    let uniform = crate::random::sequences(&p, 1, 2_000, 8, reach);
    assert!(!uniform.iter().any(|w| lines_up_two_reuses(&p, w, 30)));
}

#[test]
fn a_situation_names_its_rule_and_the_deadlines_in_order() {
    let p = profile("grace-same");
    let mut s = State::default();
    let spec = Spec::new(p.clone());
    let auth = Action::Authorize {
        client: tokenlife_model::ClientType::Public,
        scope: tokenlife_model::state::Scope::ALL,
        offline: true,
    };
    let start = situation(&p, &s, &auth);
    assert_eq!(start.deadlines(), "none");
    let (o, mut post) = spec.step(&s, &auth).unwrap().swap_remove(0);
    observe(&p, &s, &auth, &o, &mut post);
    s = post;
    let refresh = Action::Refresh {
        by: Actor::Client(tokenlife_model::ClientType::Public),
        rt: RtId(0),
        scope: None,
    };
    // Access 300 s, refresh 600 s.
    assert_eq!(situation(&p, &s, &refresh).deadlines(), "access<refresh");
    let (o, mut post) = spec.step(&s, &refresh).unwrap().swap_remove(0);
    observe(&p, &s, &refresh, &o, &mut post);
    // The old token's 30 s window comes first; both access tokens end together.
    let after = situation(&p, &post, &refresh);
    assert_eq!(after.deadlines(), "grace<access<refresh");
    assert!(after.to_string().starts_with("GraceReuse"), "{after}");
}
