use super::*;
use crate::policy::Policy;

/// A policy from a profile with knobs overridden.
fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml).unwrap_or_else(|e| panic!("{toml}: {e}"))
}

fn show(steps: &[Step]) -> String {
    steps
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The distinguishing sequence for `knob` between values `a` and `b` on `base`, after
/// checking that replaying it on both specs gives no common sequence of answers.
fn experiment(base: &Policy, knob: &str, a: &str, b: &str) -> Vec<Step> {
    let k = table::knob(knob).expect("a knob of the table");
    let at = |v: &str| k.values.iter().position(|x| *x == v).expect("a value");
    let pa = k.with(base, at(a)).expect("valid");
    let pb = k.with(base, at(b)).expect("valid");
    let (sa, sb) = (Spec::new(pa), Spec::new(pb));
    let Verdict::Distinguishing(steps) = distinguish(&sa, &sb, &Bounds::default()) else {
        panic!("{knob}: {a} and {b} are indistinguishable");
    };
    let ta = traces(&sa, &steps);
    let tb = traces(&sb, &steps);
    assert!(!ta.is_empty() && !tb.is_empty());
    for t in &ta {
        assert_eq!(t.len(), steps.len(), "{knob}: every step can be taken");
        assert!(
            !tb.contains(t),
            "{knob}: {t:?} is allowed by both {a} and {b}"
        );
    }
    steps
}

#[test]
fn every_knob_has_a_shortest_experiment_that_tells_two_values_apart() {
    let bcp = Policy::profile("bcp").expect("bcp");
    let rfc = Policy::profile("rfc6749").expect("rfc6749");
    // (base, knob, a, b, length). The lengths are minimal: an authorization answers the
    // same under both values of every knob but offline_access_required, and a value that
    // changes what a refresh does only after a first refresh consumed a token needs that
    // refresh, the request it changes and, where that request's answer is the same
    // invalid_grant under both, one more request that shows what it ended.
    let cases = [
        (&bcp, "rotation_public", "always", "never", 2),
        (&bcp, "rotation_confidential", "always", "never", 2),
        (&bcp, "grace_successor", "none", "new", 3),
        (&bcp, "grace_successor", "new", "same", 3),
        (&bcp, "reuse_detection", "false", "true", 4),
        // Reuse against expiry: a consumed token must expire while its successor lives,
        // so the first refresh comes just before the access token's expiry.
        (
            &bcp,
            "check_order",
            "reuse-before-expiry",
            "expiry-before-reuse",
            6,
        ),
        (
            &bcp,
            "check_order",
            "reuse-before-expiry",
            "[scope, reuse, expiry]",
            3,
        ),
        (
            &bcp,
            "check_order",
            "[scope, reuse, expiry]",
            "[scope, expiry, reuse]",
            5,
        ),
        (&bcp, "revoke_refresh_cascades", "none", "grant", 3),
        (&bcp, "revoke_refresh_cascades", "none", "refresh-tokens", 5),
        (&bcp, "revoke_access_cascades", "none", "refresh-tokens", 3),
        (&bcp, "revoke_access_cascades", "none", "access-tokens", 4),
        (&bcp, "revoke_consumed_cascades", "none", "grant", 4),
        (&rfc, "narrowing", "allowed", "ignored", 2),
        (&bcp, "narrowing", "ignored", "refused", 2),
        (&bcp, "offline_access_required", "false", "true", 1),
        (&bcp, "code_replay_revokes", "false", "true", 3),
        (&bcp, "successor_lifetime", "fresh", "inherited", 5),
        (&bcp, "refresh_ends_access", "none", "presented", 3),
        // Rotate, the other client presents the consumed token (refused either way), then
        // what it ended shows.
        (&bcp, "reuse_presenter", "owner", "any-client", 4),
    ];
    // The anchor only says how `refresh_ttl` is counted: set with the lifetime from issue
    // kept (as measured), its two values are the same tokens.
    let unobservable = ["refresh_ttl_anchor"];
    for k in KNOBS {
        assert!(
            cases.iter().any(|c| c.1 == k.name) || unobservable.contains(&k.name),
            "{}: no experiment pinned",
            k.name
        );
    }
    let anchor = knob("refresh_ttl_anchor").expect("in the table");
    let ae = anchor.with(&bcp, 1).expect("valid");
    assert_eq!(ae.refresh_lifetime(), bcp.refresh_lifetime());
    let small = Bounds {
        depth: 4,
        nodes: 5_000,
        grants: 2,
    };
    assert!(matches!(
        distinguish(&Spec::new(bcp.clone()), &Spec::new(ae), &small),
        Verdict::Indistinguishable { .. }
    ));
    for (base, knob, a, b, len) in cases {
        let steps = experiment(base, knob, a, b);
        assert_eq!(steps.len(), len, "{knob}: {a} vs {b}: {}", show(&steps));
    }
}

#[test]
fn time_is_a_wait_both_specs_agree_on() {
    // A successor that inherits the remaining lifetime dies at the first token's 600 s, one
    // with a fresh lifetime lives 600 s from the rotation: the first wait is to one second
    // before the access token's expiry (300 s), the second to the first token's deadline.
    let steps = experiment(
        &Policy::profile("bcp").expect("bcp"),
        "successor_lifetime",
        "fresh",
        "inherited",
    );
    assert_eq!(steps[1], Step::Wait { seconds: 299 }, "{}", show(&steps));
    assert_eq!(steps[3], Step::Wait { seconds: 301 }, "{}", show(&steps));
}

#[test]
fn rotation_any_cannot_be_told_from_a_server_that_rotates() {
    let bounds = Bounds {
        depth: 5,
        nodes: 5_000,
        grants: 2,
    };
    let any = policy("rotation = \"any\"");
    let always = policy("rotation = \"always\"");
    assert!(matches!(
        distinguish(&Spec::new(any.clone()), &Spec::new(always.clone()), &bounds),
        Verdict::Indistinguishable { .. }
    ));
    // Against a server that rotates, the loop keeps both and the file carries `any`.
    let server = Spec::new(always);
    let mut cache = Cache::default();
    let rfc = Policy::profile("rfc6749").expect("rfc6749");
    let out = infer(&rfc, &bounds, &mut cache, &mut |s, _| {
        Ok(answer_with(&server, s).into())
    });
    let rot = &out.findings[0];
    assert_eq!(rot.knob.name, "rotation_public");
    assert_eq!(rot.candidates, vec![0, 1], "consistent with any and always");
    assert_eq!(out.policy.rotation_public, crate::policy::Rotation::Any);
    assert_eq!(out.context.rotation_public, crate::policy::Rotation::Always);
}

/// A small seeded generator (the model crate has no randomness of its own).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn the_loop_recovers_every_decidable_knob_of_random_policies() {
    let bounds = Bounds {
        depth: 6,
        nodes: 8_000,
        grants: 2,
    };
    let base = Policy::profile("rfc6749").expect("rfc6749");
    let mut rng = Lcg(12);
    let mut cache = Cache::default();
    let mut decided = 0;
    for round in 0..12 {
        let mut p = base.clone();
        for k in KNOBS {
            if let Some(q) = k.with(&p, rng.below(k.values.len())) {
                p = q;
            }
        }
        let server = Spec::new(p.clone());
        let out = infer(&base, &bounds, &mut cache, &mut |s, _| {
            Ok(answer_with(&server, s).into())
        });
        for f in &out.findings {
            let own = (f.knob.get)(&p);
            assert!(
                f.contradiction.is_none(),
                "round {round}: {}: {:?}",
                f.knob.name,
                f.contradiction
            );
            assert!(
                f.candidates.contains(&own),
                "round {round}: {} = {} dropped: {:?}\n{}",
                f.knob.name,
                f.knob.value(own),
                f.experiments,
                p.to_toml()
            );
            if decidable(&p, f.knob, &bounds, &mut cache) {
                decided += 1;
                assert_eq!(
                    f.decided(),
                    Some(own),
                    "round {round}: {} is decidable but left {:?}\n{}",
                    f.knob.name,
                    f.candidates,
                    p.to_toml()
                );
            }
        }
    }
    assert!(decided > 60, "only {decided} knobs were decidable");
}

/// The answers of a server following `spec` that picks among the outcomes the spec allows
/// at random: a rotation-`any` server that keeps its token now and then.
fn answer_varying(spec: &Spec, steps: &[Step], rng: &mut Lcg) -> Vec<Outcome> {
    let mut s = State::default();
    let mut out = Vec::new();
    for step in steps {
        let Some(pairs) = product::step_all(spec, std::slice::from_ref(&s), step) else {
            break;
        };
        if pairs.is_empty() {
            break;
        }
        let (o, n) = pairs[rng.below(pairs.len())].clone();
        out.push(o);
        s = n;
    }
    out
}

#[test]
fn a_server_whose_choices_vary_keeps_its_own_values() {
    let bounds = Bounds {
        depth: 6,
        nodes: 8_000,
        grants: 2,
    };
    let base = Policy::profile("rfc6749").expect("rfc6749");
    let mut rng = Lcg(5);
    let mut cache = Cache::default();
    for round in 0..6 {
        let mut p = policy("rotation = \"any\"");
        for k in KNOBS.iter().skip(2) {
            if let Some(q) = k.with(&p, rng.below(k.values.len())) {
                p = q;
            }
        }
        let server = Spec::new(p.clone());
        let mut choices = Lcg(round);
        let out = infer(&base, &bounds, &mut cache, &mut |s, _| {
            Ok(answer_varying(&server, s, &mut choices).into())
        });
        for f in &out.findings {
            let own = (f.knob.get)(&p);
            assert!(
                f.contradiction.is_none() && f.candidates.contains(&own),
                "round {round}: {} = {} not kept: {:?} {:?}\n{}\n{:#?}",
                f.knob.name,
                f.knob.value(own),
                f.candidates,
                f.contradiction,
                p.to_toml(),
                f.experiments
            );
        }
        assert_eq!(out.policy.rotation_public, crate::policy::Rotation::Any);
    }
}

#[test]
fn the_policy_file_reads_back_with_one_comment_per_knob() {
    let bounds = Bounds {
        depth: 6,
        nodes: 8_000,
        grants: 2,
    };
    let server = Spec::new(policy(
        "profile = \"grace-same\"\nrevoke_access_cascades = \"grant\"\nnarrowing = \"ignored\"",
    ));
    let base = Policy::profile("rfc6749").expect("rfc6749");
    let out = infer(&base, &bounds, &mut Cache::default(), &mut |s, _| {
        Ok(answer_with(&server, s).into())
    });
    let text = policy_file(&out);
    let back = Policy::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.to_toml(), out.policy.to_toml(), "{text}");
    for k in KNOBS {
        let heads = text
            .lines()
            .filter(|l| l.starts_with(&format!("# {}: ", k.name)))
            .count();
        assert_eq!(heads, 1, "{}: {text}", k.name);
    }
    assert!(
        text.contains(
            "# grace_successor: decided\n#   experiment (\"none\" vs \"new\", kept \"same\")"
        ),
        "{text}"
    );
    assert!(
        text.contains("# rotation_public: consistent with \"any\", \"always\""),
        "{text}"
    );
    assert!(text.contains("rotation_public = \"any\""), "{text}");
    assert!(text.contains("narrowing = \"ignored\""), "{text}");
}

#[test]
fn an_answerer_that_stops_where_the_spec_goes_on_is_not_allowed() {
    let spec = Spec::new(Policy::profile("bcp").expect("bcp"));
    let steps = experiment(
        &Policy::profile("bcp").expect("bcp"),
        "reuse_detection",
        "false",
        "true",
    );
    let answers = answer_with(&spec, &steps);
    assert!(allows(&spec, &steps, &answers));
    // Stopped before the last step, which bcp could take: an unreadable answer.
    assert!(!allows(&spec, &steps, &answers[..answers.len() - 1]));
    // A server that never rotates stops where bcp's RT1 does not exist for it.
    let never = Spec::new(policy("rotation = \"never\""));
    let kept = answer_with(&never, &steps);
    assert!(kept.len() < steps.len());
    assert!(allows(&never, &steps, &kept));
    assert!(!allows(&spec, &steps, &kept));
}

#[test]
fn answers_no_value_allows_are_a_contradiction_with_their_experiment() {
    let bounds = Bounds {
        depth: 5,
        nodes: 5_000,
        grants: 2,
    };
    let server = Spec::new(Policy::profile("bcp").expect("bcp"));
    let base = Policy::profile("rfc6749").expect("rfc6749");
    // A server whose refresh of a public client's token answers with a resource page.
    let out = infer(&base, &bounds, &mut Cache::default(), &mut |steps, _| {
        let mut answers = answer_with(&server, steps);
        let public_refresh = steps.iter().position(|s| {
            matches!(
                s,
                Step::Act {
                    action: crate::action::Action::Refresh {
                        by: crate::action::Actor::Client(crate::policy::ClientType::Public),
                        ..
                    }
                }
            )
        });
        if let Some(i) = public_refresh {
            answers[i] = Outcome::Resource { ok: true };
        }
        Ok(answers.into())
    });
    let rot = &out.findings[0];
    let c = rot.contradiction.as_ref().expect("a contradiction");
    assert_eq!(c.knob, "rotation_public");
    assert_eq!(c.answers.last(), Some(&Outcome::Resource { ok: true }));
    assert_eq!(c.steps.len(), 2);
    // The other knobs are still inferred.
    let reuse = out
        .findings
        .iter()
        .find(|f| f.knob.name == "reuse_detection")
        .expect("in the table");
    assert_eq!(reuse.decided(), Some(1));
    assert!(policy_file(&out).contains("# rotation_public: CONTRADICTION"));
}

#[test]
fn an_experiment_that_cannot_run_drops_no_value() {
    let bounds = Bounds {
        depth: 5,
        nodes: 5_000,
        grants: 2,
    };
    let server = Spec::new(Policy::profile("bcp").expect("bcp"));
    let base = Policy::profile("rfc6749").expect("rfc6749");
    // A target whose clock cannot move: every experiment that waits cannot run.
    let out = infer(&base, &bounds, &mut Cache::default(), &mut |steps, _| {
        if steps.iter().any(|s| matches!(s, Step::Wait { .. })) {
            Err("no clock".into())
        } else {
            Ok(answer_with(&server, steps).into())
        }
    });
    let successor = out
        .findings
        .iter()
        .find(|f| f.knob.name == "successor_lifetime")
        .expect("in the table");
    assert!(successor.contradiction.is_none());
    assert_eq!(successor.candidates, vec![0, 1]);
    assert_eq!(
        successor.experiments[0].not_run.as_deref(),
        Some("no clock")
    );
    assert!(policy_file(&out).contains("not run: no clock"));
}

/// A real clock runs each wait a little shorter or longer than designed. Its answers, read
/// against the steps as run, never cost the server's own value of a knob nor contradict;
/// read against the designed steps (as before the answerer could say what it ran), the same
/// answers do: a replay designed at a token's deadline but run two seconds before it
/// "shows" reuse checked before expiry on a server that checks expiry first.
#[test]
fn answers_are_read_against_the_steps_as_run() {
    let bounds = Bounds {
        depth: 6,
        nodes: 8_000,
        grants: 2,
    };
    let served = policy(
        "profile = \"bcp\"\naccess_ttl = \"5s\"\nrefresh_ttl = \"10s\"\n\
         check_order = \"expiry-before-reuse\"",
    );
    let server = Spec::new(served.clone());
    let mut base = Policy::profile("rfc6749").expect("rfc6749");
    base.access_ttl = served.access_ttl;
    base.refresh_ttl = served.refresh_ttl;
    let early = |steps: &[Step]| -> Vec<Step> {
        steps
            .iter()
            .map(|s| match s {
                Step::Wait { seconds } => Step::Wait {
                    seconds: seconds.saturating_sub(2).max(1),
                },
                other => *other,
            })
            .collect()
    };
    let lost = |honest: bool| {
        let out = infer(&base, &bounds, &mut Cache::default(), &mut |steps, _| {
            let run = early(steps);
            let outcomes = answer_with(&server, &run);
            Ok(Answers {
                steps: honest.then_some(run),
                outcomes,
            })
        });
        out.findings
            .iter()
            .filter(|f| f.contradiction.is_some() || !f.candidates.contains(&(f.knob.get)(&served)))
            .map(|f| f.knob.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(lost(true), Vec::<&str>::new());
    assert!(
        !lost(false).is_empty(),
        "the designed steps misread nothing"
    );
}

#[test]
fn another_clients_replay_is_told_apart_by_the_owners_next_request() {
    let bcp = Policy::profile("bcp").expect("bcp");
    let steps = experiment(&bcp, "reuse_presenter", "owner", "any-client");
    let other = steps.iter().position(|s| {
        matches!(
            s,
            Step::Act {
                action: crate::action::Action::Refresh {
                    by: crate::action::Actor::Client(crate::policy::ClientType::Public),
                    rt: crate::state::RtId(0),
                    ..
                }
            }
        )
    });
    assert_eq!(other, Some(2), "{}", show(&steps));
    // Without reuse detection the two values are one policy: nothing to tell apart, and the
    // file carries "owner".
    let floor = policy("profile = \"bcp\"\nreuse_detection = false");
    let k = knob("reuse_presenter").expect("in the table");
    let any = k.with(&floor, 1).expect("valid");
    let small = Bounds {
        depth: 5,
        nodes: 5_000,
        grants: 2,
    };
    assert!(matches!(
        distinguish(&Spec::new(floor), &Spec::new(any), &small),
        Verdict::Indistinguishable { .. }
    ));
    // Against a server that acts on any client's replay, the loop decides it.
    let server = Spec::new(policy(
        "profile = \"bcp\"\nreuse_presenter = \"any-client\"",
    ));
    let bounds = Bounds {
        depth: 6,
        nodes: 8_000,
        grants: 2,
    };
    let base = Policy::profile("rfc6749").expect("rfc6749");
    let out = infer(&base, &bounds, &mut Cache::default(), &mut |s, _| {
        Ok(answer_with(&server, s).into())
    });
    let f = out
        .findings
        .iter()
        .find(|f| f.knob.name == "reuse_presenter")
        .expect("in the table");
    assert_eq!(f.decided(), Some(1), "{:?}", f.experiments);
    assert!(policy_file(&out).contains("reuse_presenter = \"any-client\""));
}
