//! `tokenlife infer`'s security characteristics, demonstrated: the model's verdicts on the
//! characteristics (theft bound, lost-response liveness, one live refresh token per family:
//! the model's `Group::Characteristic` properties) for the inferred policy, and each
//! violated one's shortest counterexample replayed against the server as a scenario.
//!
//! The counterexample becomes a scenario file as `tokenlife check --write-scenario` writes it
//! (`tokenlife_harness::counterexample`), and runs through the harness judged by the
//! inferred policy (`Harness::replay`), so the transcript holds the server's own answers with
//! every token redacted. A characteristic is *shown live* only when every answer is the
//! counterexample's; otherwise the report says where the server went another way (a server
//! that rotates under rotation `any` does not follow a counterexample in which it keeps the
//! token) or why it could not run. A counterexample that lets time pass needs the endpoint
//! clock, unless on a real clock its waits fit in [`REAL_CLOCK_SECONDS`].
//!
//! A module of its own beside `infer.rs`: it is the CLI's wiring of the model checker, the
//! scenario writer and the harness, none of which knows the others' parts of it.

use std::time::Instant;

use serde::Serialize;
use tokenlife_harness::counterexample::{self, Departure};
use tokenlife_harness::report::ScenarioStatus;
use tokenlife_harness::target::ClockConfig;
use tokenlife_harness::{Harness, RunOptions, Target};
use tokenlife_model::check::{check, PropertyReport, Status};
use tokenlife_model::explore::TraceStep;
use tokenlife_model::model::{Bounds, Group};
use tokenlife_model::{Action, Policy};

/// The most real seconds a replay on a real-clock target may wait for time to pass.
pub const REAL_CLOCK_SECONDS: u32 = 5;

/// The characteristics of one policy, as shown against one server.
#[derive(Clone, Debug, Serialize)]
pub struct Characteristics {
    /// The model's bounds for the verdicts.
    pub bounds: Bounds,
    /// One per characteristic, in the model's order.
    pub properties: Vec<Characteristic>,
    /// Seconds the verdicts and replays took.
    pub seconds: f64,
}

/// One characteristic.
#[derive(Clone, Debug, Serialize)]
pub struct Characteristic {
    /// The property's id.
    pub id: &'static str,
    /// The property, as a sentence.
    pub property: &'static str,
    /// Its clause.
    pub clause: &'static str,
    /// The model's verdict under the policy.
    pub status: Status,
    /// The replay of its counterexample, when it is violated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<Shown>,
}

/// A counterexample replayed against the server.
#[derive(Clone, Debug, Serialize)]
pub struct Shown {
    /// Whether every answer was the counterexample's.
    pub live: bool,
    /// The counterexample's steps (a theft counts, though it is no request).
    pub steps: usize,
    /// What the replay showed, as a sentence.
    pub message: String,
    /// The replay, numbered as the counterexample's steps (tokens redacted).
    pub transcript: Vec<String>,
}

/// What the violation of characteristic `id` looks like from a client's side.
fn violation(id: &str, name: &str) -> String {
    match id {
        "theft-bound" => "a stolen refresh token keeps working after the client refreshes".into(),
        "lost-response-liveness" => {
            "a client that lost a refresh response and retried at once lost access".into()
        }
        "one-live-refresh-token" => {
            "a family holds two live unconsumed refresh tokens at once".into()
        }
        _ => format!("violated: {name}"),
    }
}

/// The model's verdicts on the characteristics under `policy`, each violated one replayed
/// against `target` judged by `policy`.
pub fn show(
    runtime: &tokio::runtime::Runtime,
    mut target: Target,
    policy: &Policy,
    options: RunOptions,
) -> Characteristics {
    let started = Instant::now();
    let bounds = Bounds::default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = check(policy, bounds, threads);
    let real = match &target.clock {
        ClockConfig::Real { skew } => Some(skew.get()),
        ClockConfig::Endpoint { .. } => None,
    };
    target.policy = policy.clone();
    let mut target = Some(target);
    let mut harness: Option<Result<Harness, String>> = None;
    let mut characteristics = Vec::new();
    for p in report
        .properties
        .iter()
        .filter(|p| p.group == Group::Characteristic)
    {
        let shown = match (p.status, &p.counterexample) {
            (Status::Violated, Some(trace)) => {
                let h = harness.get_or_insert_with(|| {
                    let t = target.take().ok_or("no target")?;
                    runtime
                        .block_on(Harness::connect(t, options.clone(), None))
                        .map_err(|e| e.to_string())
                });
                Some(demonstrate(runtime, h, p, policy, trace, real))
            }
            _ => None,
        };
        characteristics.push(Characteristic {
            id: p.id,
            property: p.name,
            clause: p.clause,
            status: p.status,
            shown,
        });
    }
    Characteristics {
        bounds,
        properties: characteristics,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Replays `p`'s counterexample `trace` through `harness`.
fn demonstrate(
    runtime: &tokio::runtime::Runtime,
    harness: &mut Result<Harness, String>,
    p: &PropertyReport,
    policy: &Policy,
    trace: &[TraceStep],
    real: Option<u32>,
) -> Shown {
    let sentence = violation(p.id, p.name);
    let shown = |live: bool, why: String, transcript: Vec<String>| Shown {
        live,
        steps: trace.len(),
        message: format!("{sentence}: {why}"),
        transcript,
    };
    let not_shown = |why: String| shown(false, format!("not shown: {why}"), Vec::new());
    if let Some(skew) = real {
        let (seconds, ticks) = counterexample::waits(policy, trace);
        let real_seconds = seconds.saturating_add(ticks.saturating_mul(skew + 1));
        if ticks > 0 && real_seconds > REAL_CLOCK_SECONDS {
            return not_shown(format!(
                "needs the endpoint clock (time passes {seconds} s in it; the target has a real clock)"
            ));
        }
    }
    let written = counterexample::scenario(p, policy, "the inferred policy", trace);
    let file = format!("{}.toml", written.name);
    let sc = match tokenlife_harness::scenario::parse(&file, &written.text) {
        Ok(sc) => sc,
        Err(e) => return not_shown(format!("the scenario does not load: {e}")),
    };
    let h = match harness {
        Ok(h) => h,
        Err(e) => return not_shown(format!("could not connect: {e}")),
    };
    let run = runtime.block_on(h.replay(&sc));
    let transcript = numbered(trace, &written.steps, &run.result.transcript);
    let reason = run.result.reason.clone().unwrap_or_default();
    if matches!(
        run.result.status,
        ScenarioStatus::Skipped | ScenarioStatus::Untestable
    ) {
        return not_shown(reason);
    }
    let Some(took) = counterexample::answered(trace, &written.steps, &run.outcomes)
        .filter(|_| run.result.steps_run == sc.steps.len())
    else {
        let at = counterexample::departure(trace, &written.steps, &run.outcomes)
            .map_or(String::new(), |d| format!(" at step {}", d.step));
        return shown(
            false,
            format!("not shown: the replay stopped{at}: {reason}"),
            transcript,
        );
    };
    let live = counterexample::breaks(policy, p.id, &took);
    let departed = counterexample::departure(trace, &written.steps, &run.outcomes);
    let why = match (live, departed) {
        (true, None) => format!("shown live in {} steps", trace.len()),
        (true, Some(d)) => format!(
            "shown live in {} steps (the server's answers were not the counterexample's from \
             step {} on, and broke the property all the same)",
            trace.len(),
            d.step
        ),
        (
            false,
            Some(Departure {
                step,
                model,
                server,
            }),
        ) => format!(
            "not shown: the server's answers did not follow the counterexample (step {step}: \
             the server answered {}, the counterexample has {model})",
            server.map_or("nothing the policy allows".to_string(), |o| o.to_string())
        ),
        (false, None) => "not shown: the replay followed the counterexample, yet the model \
             does not read its answers as breaking the property"
            .into(),
    };
    shown(live, why, transcript)
}

/// The replay's transcript numbered as the counterexample's steps, a theft (no request)
/// shown in its place.
fn numbered(trace: &[TraceStep], steps: &[Option<usize>], transcript: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (t, n)) in trace.iter().zip(steps).enumerate() {
        let i = i + 1;
        match n {
            None if matches!(t.action, Action::Steal { .. }) => {
                out.push(format!("{i}. {} (no request)", t.action));
            }
            None => {}
            Some(n) => {
                let prefix = format!("{n}. ");
                match transcript.iter().find(|l| l.starts_with(&prefix)) {
                    Some(line) => out.push(format!("{i}. {}", &line[prefix.len()..])),
                    // The replay stopped before this step.
                    None => break,
                }
            }
        }
    }
    out
}

/// The characteristics as the human output's closing comment lines.
pub fn human(c: &Characteristics) -> String {
    let mut out = format!(
        "# Security characteristics of the inferred policy (the model, at bound grants={} refreshes={}); each violated one replayed against the server:\n",
        c.bounds.grants, c.bounds.refreshes
    );
    for ch in &c.properties {
        let mark = match ch.status {
            Status::Violated => "✗",
            Status::Holds => "✓",
            _ => "-",
        };
        match &ch.shown {
            Some(s) => {
                out.push_str(&format!(
                    "#   {mark} {} [{}]: {}\n",
                    ch.id, ch.clause, s.message
                ));
                for line in &s.transcript {
                    out.push_str(&format!("#       {line}\n"));
                }
            }
            None => out.push_str(&format!(
                "#   {mark} {} [{}]: {} — {}\n",
                ch.id,
                ch.clause,
                ch.status.as_str(),
                ch.property
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::Embedded;
    use tokenlife_server::Defects;

    fn runtime() -> tokio::runtime::Runtime {
        crate::outcome::runtime().expect("a runtime")
    }

    fn shown_against(server_policy: &Policy, judged_by: &Policy) -> Characteristics {
        let rt = runtime();
        let server = rt
            .block_on(Embedded::start(server_policy.clone(), Defects::default()))
            .expect("the embedded server");
        let c = show(&rt, server.target(), judged_by, RunOptions::default());
        rt.block_on(server.stop());
        c
    }

    fn never() -> Policy {
        Policy::from_toml(
            "profile = \"bcp\"\nrotation_public = \"never\"\nrotation_confidential = \"never\"",
        )
        .expect("a policy")
    }

    fn by_id<'a>(c: &'a Characteristics, id: &str) -> &'a Characteristic {
        c.properties
            .iter()
            .find(|ch| ch.id == id)
            .expect("the characteristic")
    }

    /// A server that never rotates: its theft bound is violated, and the counterexample
    /// replays live, the server's answers in the transcript, no token in it.
    #[test]
    fn a_never_rotating_server_shows_its_theft_live() {
        let p = never();
        let c = shown_against(&p, &p);
        assert_eq!(c.properties.len(), 3);
        let theft = by_id(&c, "theft-bound");
        assert_eq!(theft.status, Status::Violated);
        let s = theft.shown.as_ref().expect("replayed");
        assert!(s.live, "{s:?}");
        assert_eq!(
            s.message,
            "a stolen refresh token keeps working after the client refreshes: shown live in 4 steps"
        );
        assert_eq!(s.transcript.len(), 4, "{:?}", s.transcript);
        assert!(s.transcript[1].contains("steals") && s.transcript[1].ends_with("(no request)"));
        assert!(
            s.transcript[3].starts_with("4. attacker refreshes") && s.transcript[3].contains("200")
        );
        assert_eq!(by_id(&c, "lost-response-liveness").status, Status::Holds);
        let text = human(&c);
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
        assert!(text.contains("shown live in 4 steps"), "{text}");
        let json = serde_json::to_value(&c).expect("json");
        assert_eq!(json["properties"][0]["shown"]["live"], true);
    }

    /// Under rotation `any` (rfc6749) the theft's counterexample keeps the token, but the
    /// reference server rotates: the replay says honestly that its answers went another way.
    /// Under bcp the lost response replays live.
    #[test]
    fn a_server_that_chose_otherwise_is_reported_as_not_following() {
        let rfc = Policy::profile("rfc6749").expect("rfc6749");
        let c = shown_against(&rfc, &rfc);
        let s = by_id(&c, "theft-bound").shown.clone().expect("replayed");
        assert!(!s.live);
        assert!(
            s.message
                .contains("not shown: the server's answers did not follow the counterexample"),
            "{}",
            s.message
        );
        let bcp = Policy::default();
        let c = shown_against(&bcp, &bcp);
        let s = by_id(&c, "lost-response-liveness")
            .shown
            .clone()
            .expect("replayed");
        assert!(s.live, "{s:?}");
        assert!(
            s.message.ends_with("shown live in 3 steps"),
            "{}",
            s.message
        );
    }

    /// A counterexample that waits is not replayed on a real clock when its waits exceed a
    /// few seconds.
    #[test]
    fn waits_beyond_a_few_real_seconds_need_the_endpoint_clock() {
        let p = Policy::default();
        let report = check(&p, Bounds::default(), 1);
        let prop = report
            .properties
            .iter()
            .find(|q| q.id == "theft-bound")
            .expect("theft-bound");
        let authorize = Action::Authorize {
            client: tokenlife_model::ClientType::Public,
            scope: tokenlife_model::state::Scope::ALL,
            offline: true,
        };
        let spec = tokenlife_model::Spec::new(p.clone());
        let first = spec
            .step(&tokenlife_model::State::default(), &authorize)
            .expect("a step")[0]
            .0;
        let trace = vec![
            TraceStep {
                action: authorize,
                outcome: first,
            },
            TraceStep {
                action: Action::Tick,
                outcome: tokenlife_model::Outcome::Nothing,
            },
        ];
        let mut unused: Result<Harness, String> = Err("unused".into());
        let s = demonstrate(&runtime(), &mut unused, prop, &p, &trace, Some(0));
        assert!(
            s.message.contains("not shown: needs the endpoint clock"),
            "{}",
            s.message
        );
    }
}
