//! A model checker's counterexample as a scenario file, and whether a live server's answers
//! followed it.
//!
//! `tokenlife check --write-scenario` writes each violated property's shortest
//! counterexample with [`scenario`]; `tokenlife infer` writes the violated security
//! characteristics' the same way and replays them ([`Harness::replay`](crate::Harness::replay)),
//! then asks [`departure`] where, if anywhere, the server's answers left the counterexample.
//! The file comes out of the one scenario writer (`random::write_scenario`), with:
//!
//! - `[requires]`: the policy conditions the trace needs. A condition is needed when some
//!   other value of it makes the spec forbid the trace's answers (a rotation-never theft
//!   needs `rotation_public = "never"`: under `always` the client's refresh rotates); one
//!   under which every value allows them is left out.
//! - `expect` on each step the policy decides: exactly one outcome allowed there, and every
//!   step before it decided too (after a step with a choice, a server that chose the other
//!   way is read in another state, where a pin could contradict the model).
//!
//! Clauses: those of the property (the model's `PROPERTIES`); the actions' (RFC 6749 §6,
//! RFC 7009, RFC 7662, RFC 6750).

use std::collections::BTreeMap;

use tokenlife_model::check::PropertyReport;
use tokenlife_model::explore::TraceStep;
use tokenlife_model::observe::observe;
use tokenlife_model::policy::{
    CheckOrder, Grace, GraceSuccessor, Narrowing, RevokeCascade, Rotation, Seconds,
};
use tokenlife_model::spec::next_deadline;
use tokenlife_model::{Action, Outcome, Policy, Spec, State};

use crate::oracle::owner_of;
use crate::random::{write_scenario, Header};
use crate::scenario::{Expect, Requires};

/// The most states followed at once while reading a trace under a policy (a trace is short
/// and nearly every step has one outcome: this bound is never met in practice).
const MAX_STATES: usize = 256;

/// A counterexample written as a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The scenario's name: the property's id.
    pub name: String,
    /// The file's text.
    pub text: String,
    /// For each step of the trace, its step number in the scenario (1-based); `None` for a
    /// step that is no request (the attacker's theft).
    pub steps: Vec<Option<usize>>,
}

/// The scenario replaying `property`'s counterexample `trace` under `policy`; `policy_name`
/// names the policy in the description (a profile, a file).
pub fn scenario(
    property: &PropertyReport,
    policy: &Policy,
    policy_name: &str,
    trace: &[TraceStep],
) -> Written {
    let requires = requires(policy, trace);
    let expects = pins(policy, trace);
    let actions: Vec<Action> = trace.iter().map(|t| t.action).collect();
    let outcomes: Vec<Option<Outcome>> = trace.iter().map(|t| Some(t.outcome)).collect();
    let states = path(policy, trace);
    let description = format!(
        "The model's shortest counterexample ({} steps) to `{}` [{}]: {}; under policy {}",
        trace.len(),
        property.id,
        property.clause,
        property.name,
        policy_name
    );
    let owner = |a: &Action| {
        let i = actions.iter().position(|b| b == a)?;
        let s = states.get(i)?;
        match *a {
            Action::Refresh { rt, .. } | Action::RefreshLost { rt } if s.has_rt(rt) => {
                Some(s.rt_grant(rt).client)
            }
            Action::Revoke { token, .. } => Some(owner_of(s, token)),
            _ => None,
        }
    };
    let text = write_scenario(
        &Header {
            name: property.id,
            description: &description,
            requires: Some(&requires),
        },
        &actions,
        &outcomes,
        &expects,
        owner,
    );
    let mut n = 0;
    let steps = trace
        .iter()
        .map(|t| {
            (!matches!(t.action, Action::Steal { .. })).then(|| {
                n += 1;
                n
            })
        })
        .collect();
    Written {
        name: property.id.to_string(),
        text,
        steps,
    }
}

/// The states a server following `policy` may be in before each step of `trace`, reading
/// each answer as the trace says (`None` past a step the spec does not allow).
fn states_along(policy: &Policy, trace: &[TraceStep]) -> Vec<Option<Vec<State>>> {
    let spec = Spec::new(policy.clone());
    let mut set = vec![State::default()];
    let mut out = Vec::with_capacity(trace.len() + 1);
    for t in trace {
        out.push(Some(set.clone()));
        let mut next: Vec<State> = Vec::new();
        for s in &set {
            let Ok(outs) = spec.step(s, &t.action) else {
                continue;
            };
            for (o, mut n) in outs {
                if o == t.outcome && next.len() < MAX_STATES {
                    observe(policy, s, &t.action, &o, &mut n);
                    if !next.contains(&n) {
                        next.push(n);
                    }
                }
            }
        }
        if next.is_empty() {
            out.resize(trace.len() + 1, None);
            return out;
        }
        set = next;
    }
    out.push(Some(set));
    out
}

/// Whether the spec under `policy` allows every answer of `trace`.
fn allowed(policy: &Policy, trace: &[TraceStep]) -> bool {
    states_along(policy, trace)
        .last()
        .is_some_and(Option::is_some)
}

/// The first state before each step along `trace` under `policy` (as far as it goes).
fn path(policy: &Policy, trace: &[TraceStep]) -> Vec<State> {
    states_along(policy, trace)
        .into_iter()
        .map_while(|set| set.and_then(|s| s.into_iter().next()))
        .collect()
}

/// The policy conditions `trace` needs: each `[requires]` field some other value of which
/// forbids the trace's answers, at `policy`'s value.
pub fn requires(policy: &Policy, trace: &[TraceStep]) -> Requires {
    let p = policy;
    // Whether some valid alternative to `p` forbids the trace.
    let needs = |alternatives: Vec<Policy>| {
        alternatives
            .into_iter()
            .filter(|q| q != p && q.validate().is_ok())
            .any(|q| !allowed(&q, trace))
    };
    let with = |f: &dyn Fn(&mut Policy)| {
        let mut q = p.clone();
        f(&mut q);
        q
    };
    const ROTATIONS: [Rotation; 3] = [Rotation::Never, Rotation::Always, Rotation::Any];
    let on_off = |on: bool, set: &dyn Fn(&mut Policy, bool)| vec![with(&|q| set(q, !on))];
    let mut r = Requires::default();
    if needs(
        ROTATIONS
            .iter()
            .map(|v| with(&|q| q.rotation_confidential = *v))
            .collect(),
    ) {
        r.rotation_confidential = Some(p.rotation_confidential);
    }
    if needs(
        ROTATIONS
            .iter()
            .map(|v| with(&|q| q.rotation_public = *v))
            .collect(),
    ) {
        r.rotation_public = Some(p.rotation_public);
    }
    let some_grace = Grace {
        window: Some(tokenlife_model::infer::table::DEFAULT_GRACE_WINDOW),
        successor: GraceSuccessor::New,
        max_reuse: None,
    };
    if needs(vec![with(&|q| {
        q.grace = if p.grace.is_some() {
            None
        } else {
            Some(some_grace)
        }
    })]) {
        r.grace = Some(p.grace.is_some());
    }
    if let Some(g) = p.grace {
        let other = match g.successor {
            GraceSuccessor::New => GraceSuccessor::Same,
            GraceSuccessor::Same => GraceSuccessor::New,
        };
        if needs(vec![with(&|q| {
            q.grace = Some(Grace {
                successor: other,
                ..g
            })
        })]) {
            r.grace_successor = Some(g.successor);
        }
    }
    if needs(on_off(p.reuse_detection, &|q, v| q.reuse_detection = v)) {
        r.reuse_detection = Some(p.reuse_detection);
    }
    if needs(
        CheckOrder::ALL
            .iter()
            .map(|o| with(&|q| q.check_order = *o))
            .collect(),
    ) {
        r.check_order = Some(p.check_order);
    }
    let cascade = |on: bool| {
        if on {
            RevokeCascade::None
        } else {
            RevokeCascade::Grant
        }
    };
    let refresh_cascades = p.revoke_refresh_cascades != RevokeCascade::None;
    if needs(vec![with(&|q| {
        q.revoke_refresh_cascades = cascade(refresh_cascades)
    })]) {
        r.revoke_refresh_cascades = Some(refresh_cascades);
    }
    let access_cascades = p.revoke_access_cascades != RevokeCascade::None;
    if needs(vec![with(&|q| {
        q.revoke_access_cascades = cascade(access_cascades)
    })]) {
        r.revoke_access_cascades = Some(access_cascades);
    }
    // A lifetime the policy lacks, given one: ten access-token lifetimes, so the trace's
    // deadlines come first unless it waits that long.
    let long = Seconds(p.access_ttl.get().saturating_mul(10));
    let toggle = |v: Option<Seconds>| if v.is_some() { None } else { Some(long) };
    if needs(vec![with(&|q| q.refresh_ttl = toggle(p.refresh_ttl))]) {
        r.refresh_ttl = Some(p.refresh_ttl.is_some());
    }
    if needs(vec![with(&|q| q.absolute_cap = toggle(p.absolute_cap))]) {
        r.absolute_cap = Some(p.absolute_cap.is_some());
    }
    if needs(vec![with(&|q| q.idle_timeout = toggle(p.idle_timeout))]) {
        r.idle_timeout = Some(p.idle_timeout.is_some());
    }
    if needs(
        [Narrowing::Allowed, Narrowing::Ignored, Narrowing::Refused]
            .iter()
            .map(|n| with(&|q| q.narrowing = *n))
            .collect(),
    ) {
        r.narrowing = Some(p.narrowing);
    }
    if needs(on_off(p.offline_access_required, &|q, v| {
        q.offline_access_required = v
    })) {
        r.offline_access_required = Some(p.offline_access_required);
    }
    if needs(on_off(p.code_replay_revokes, &|q, v| {
        q.code_replay_revokes = v
    })) {
        r.code_replay_revokes = Some(p.code_replay_revokes);
    }
    r
}

/// The expectation each step of `trace` pins: where `policy` allows exactly one outcome and
/// allowed exactly one at every step before.
pub fn pins(policy: &Policy, trace: &[TraceStep]) -> Vec<Option<Expect>> {
    let spec = Spec::new(policy.clone());
    let sets = states_along(policy, trace);
    let mut decided = true;
    trace
        .iter()
        .zip(sets)
        .map(|(t, set)| {
            let mut allowed: Vec<Outcome> = Vec::new();
            for s in set.unwrap_or_default() {
                for (o, _) in spec.step(&s, &t.action).unwrap_or_default() {
                    if !allowed.contains(&o) {
                        allowed.push(o);
                    }
                }
            }
            decided &= allowed.len() == 1;
            if decided {
                expect_of(&t.action, &t.outcome)
            } else {
                None
            }
        })
        .collect()
}

/// The expectation a scenario step writes for `outcome` of `action` (none for time passing
/// or a theft).
pub fn expect_of(action: &Action, outcome: &Outcome) -> Option<Expect> {
    Some(match *outcome {
        Outcome::Tokens {
            refresh_is_new: true,
            ..
        } if matches!(action, Action::Refresh { .. } | Action::RefreshLost { .. }) => {
            Expect::Rotated
        }
        Outcome::Tokens { .. } => Expect::Tokens,
        Outcome::Error { error, .. } => Expect::Error(error),
        Outcome::Resource { ok } | Outcome::Revocation { ok } => {
            if ok {
                Expect::Ok
            } else {
                Expect::Rejected
            }
        }
        Outcome::Introspection { active } => {
            if active {
                Expect::Active
            } else {
                Expect::Inactive
            }
        }
        _ => return None,
    })
}

/// The seconds of time `trace` lets pass under `policy` (each `Tick` to the next
/// deadline), and how many times it does.
pub fn waits(policy: &Policy, trace: &[TraceStep]) -> (u32, u32) {
    let states = path(policy, trace);
    trace
        .iter()
        .zip(states)
        .filter(|(t, _)| t.action == Action::Tick)
        .fold((0, 0), |(secs, n), (_, s)| {
            (secs.saturating_add(next_deadline(&s).unwrap_or(0)), n + 1)
        })
}

/// Where a replay's answers left the counterexample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    /// The trace's step (1-based).
    pub step: usize,
    /// What the counterexample answers there.
    pub model: Outcome,
    /// What the server's answer was read as, if it was read at all.
    pub server: Option<Outcome>,
}

/// The first step of `trace` whose answer in a replay (`outcomes`, by scenario step, as
/// [`Harness::replay`](crate::Harness::replay) reads them) is not the counterexample's;
/// `steps` maps the trace to the scenario ([`Written::steps`]). Time passing has no answer
/// to compare (a replay that stopped there left no answer for the next step).
pub fn departure(
    trace: &[TraceStep],
    steps: &[Option<usize>],
    outcomes: &BTreeMap<usize, Outcome>,
) -> Option<Departure> {
    trace.iter().zip(steps).enumerate().find_map(|(i, (t, n))| {
        let n = (*n)?;
        if t.action == Action::Tick {
            return None;
        }
        let server = outcomes.get(&n).copied();
        (server != Some(t.outcome)).then_some(Departure {
            step: i + 1,
            model: t.outcome,
            server,
        })
    })
}

/// The trace a replay took: `trace`'s actions with the answers the server gave (`outcomes`,
/// by scenario step; `steps` maps the trace to the scenario), a theft and time passing as
/// the trace has them; `None` when some request has no answer read (the replay stopped).
pub fn answered(
    trace: &[TraceStep],
    steps: &[Option<usize>],
    outcomes: &BTreeMap<usize, Outcome>,
) -> Option<Vec<TraceStep>> {
    trace
        .iter()
        .zip(steps)
        .map(|(t, n)| match n {
            Some(n) if t.action != Action::Tick => outcomes.get(n).map(|o| TraceStep {
                action: t.action,
                outcome: *o,
            }),
            _ => Some(t.clone()),
        })
        .collect()
}

/// Whether `trace` breaks the `always` property `id` under `policy`: the spec allows its
/// answers, and every state they leave the model in violates the property. A replay whose
/// answers differ from the counterexample's (a rotation the counterexample did not make)
/// may break it all the same.
pub fn breaks(policy: &Policy, id: &str, trace: &[TraceStep]) -> bool {
    let Some(p) = tokenlife_model::model::property(id) else {
        return false;
    };
    if p.kind != tokenlife_model::model::Kind::Always {
        return false;
    }
    let model = tokenlife_model::model::LifecycleModel::new(
        policy.clone(),
        tokenlife_model::model::Bounds::default(),
    );
    match states_along(policy, trace).pop().flatten() {
        Some(set) => !set.is_empty() && set.iter().all(|s| !(p.condition)(&model, s)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife_model::check::check;
    use tokenlife_model::model::Bounds;

    fn counterexample(policy: &Policy, id: &str) -> (PropertyReport, Vec<TraceStep>) {
        let report = check(policy, Bounds::default(), 1);
        let p = report
            .properties
            .into_iter()
            .find(|p| p.id == id)
            .expect("the property");
        let trace = p.counterexample.clone().expect("a counterexample");
        (p, trace)
    }

    fn never() -> Policy {
        Policy::from_toml(
            "profile = \"bcp\"\nrotation_public = \"never\"\nrotation_confidential = \"never\"",
        )
        .expect("a policy")
    }

    #[test]
    fn the_theft_of_a_never_rotated_token_needs_public_rotation_never() {
        let p = never();
        let (prop, trace) = counterexample(&p, "theft-bound");
        let w = scenario(&prop, &p, "never.toml", &trace);
        let sc = crate::scenario::parse("theft-bound.toml", &w.text).expect(&w.text);
        assert_eq!(sc.name, "theft-bound");
        assert!(sc.description.contains("theft-bound") && sc.description.contains("never.toml"));
        // The theft is no request: one step fewer than the trace.
        assert_eq!(sc.steps.len(), trace.len() - 1, "{}", w.text);
        assert_eq!(w.steps.iter().flatten().count(), sc.steps.len());
        assert_eq!(
            sc.requires,
            Requires {
                rotation_public: Some(Rotation::Never),
                ..Requires::default()
            },
            "{}",
            w.text
        );
        // Every step is decided under rotation never: each is pinned, the last the
        // attacker's success.
        assert!(sc.steps.iter().all(|s| s.expect.is_some()), "{}", w.text);
        assert_eq!(sc.steps.last().and_then(|s| s.expect), Some(Expect::Tokens));
        assert!(sc.requires.unmet(&p).is_none());
        assert!(sc.requires.unmet(&Policy::default()).is_some());
    }

    #[test]
    fn a_step_with_a_choice_ends_the_pins() {
        // Under rfc6749 a refresh may rotate or not: the theft's refresh is not pinned, nor
        // anything after it.
        let p = Policy::profile("rfc6749").expect("rfc6749");
        let (prop, trace) = counterexample(&p, "theft-bound");
        let pins = pins(&p, &trace);
        let first_refresh = trace
            .iter()
            .position(|t| matches!(t.action, Action::Refresh { .. }))
            .expect("a refresh");
        assert!(pins[0].is_some());
        assert!(
            pins[first_refresh..].iter().all(Option::is_none),
            "{pins:?}"
        );
        let w = scenario(&prop, &p, "rfc6749", &trace);
        crate::scenario::parse("x.toml", &w.text).expect(&w.text);
    }

    fn refused() -> Outcome {
        Outcome::Error {
            status: 400,
            error: tokenlife_model::ErrorCode::InvalidGrant,
        }
    }

    #[test]
    fn departure_names_the_first_step_the_server_answered_otherwise() {
        let p = never();
        let (prop, trace) = counterexample(&p, "theft-bound");
        let w = scenario(&prop, &p, "never", &trace);
        let mut outcomes: BTreeMap<usize, Outcome> = trace
            .iter()
            .zip(&w.steps)
            .filter_map(|(t, n)| n.map(|n| (n, t.outcome)))
            .collect();
        assert_eq!(departure(&trace, &w.steps, &outcomes), None);
        let last = *w.steps.last().and_then(Option::as_ref).expect("a step");
        outcomes.insert(last, refused());
        let d = departure(&trace, &w.steps, &outcomes).expect("a departure");
        assert_eq!(d.step, trace.len());
        assert_eq!(d.server, Some(refused()));
        outcomes.remove(&last);
        assert_eq!(
            departure(&trace, &w.steps, &outcomes).map(|d| d.server),
            Some(None)
        );
    }

    #[test]
    fn waits_add_up_the_ticks() {
        let p = Policy::default();
        let (_, trace) = counterexample(&p, "lost-response-liveness");
        assert_eq!(waits(&p, &trace), (0, 0));
        let tick = TraceStep {
            action: Action::Tick,
            outcome: Outcome::Nothing,
        };
        let mut longer = trace[..1].to_vec();
        longer.push(tick);
        assert_eq!(waits(&p, &longer), (p.access_ttl.get(), 1));
    }

    #[test]
    fn a_replay_that_rotated_where_the_trace_kept_may_break_the_property_all_the_same() {
        // rfc6749's theft keeps the token at the client's refresh; a server that kept it at
        // the client's refresh but rotated at the attacker's still honoured the theft.
        let p = Policy::profile("rfc6749").expect("rfc6749");
        let (prop, trace) = counterexample(&p, "theft-bound");
        assert!(breaks(&p, "theft-bound", &trace));
        let w = scenario(&prop, &p, "rfc6749", &trace);
        let outcomes: BTreeMap<usize, Outcome> = trace
            .iter()
            .zip(&w.steps)
            .filter_map(|(t, n)| n.map(|n| (n, t.outcome)))
            .collect();
        assert_eq!(answered(&trace, &w.steps, &outcomes), Some(trace.clone()));
        let mut partial = outcomes.clone();
        let last = *w.steps.last().and_then(Option::as_ref).expect("a step");
        partial.remove(&last);
        assert_eq!(answered(&trace, &w.steps, &partial), None);
        // The attacker refused: the theft bound held on this path.
        let mut held = trace.clone();
        if let Some(t) = held.last_mut() {
            t.outcome = refused();
        }
        assert!(!breaks(&p, "theft-bound", &held));
        assert!(!breaks(&p, "no-such-property", &trace));
    }
}
