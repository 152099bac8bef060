//! `tokenlife infer`: learn the discrete knobs of the policy a server implements from its
//! answers, and print it as a policy file with one comment per knob.
//!
//! The experiments come from the model (`tokenlife_model::infer`): for two values of a knob,
//! the shortest sequence of requests after which no answer is allowed under both. Each runs
//! against the target from a fresh grant (`Harness::run_experiment`), its answers read under
//! the candidate policies. Lifetimes are not measured here: they are the target's declared
//! `[policy]` ones (the embedded server's with no `--target`), and the knobs start from the
//! `rfc6749` floor, so what the target declares does not bias the answers' reading. Then the
//! security characteristics of the inferred policy are replayed against the server
//! (`infer_shown`; not for `--format toml`, the policy file alone). Exit codes: 0 inferred,
//! 1 some answers fit no value of a knob (a contradiction, reported with its experiment),
//! 2 usage, 3 a bad target or policy file, 4 target unreachable.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokenlife_harness::{target, Harness, RunOptions, Target};
use tokenlife_model::infer::{self, Bounds, Cache, Inference, KNOBS};
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::embedded::Embedded;
use crate::infer_shown::{self, show};
use crate::outcome::{exit_code, out, outln, runtime, Failure, EXIT_FINDINGS, EXIT_OK};
use crate::policy::load_policy;

/// Arguments of `tokenlife infer`.
#[derive(Debug, clap::Args)]
pub struct InferArgs {
    /// A target file (it needs the endpoint clock for experiments that wait); without one,
    /// the embedded reference server.
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// The embedded server's profile (default `bcp`).
    #[arg(long, conflicts_with_all = ["target", "policy"])]
    pub profile: Option<String>,
    /// The embedded server's policy file.
    #[arg(long, conflicts_with = "target")]
    pub policy: Option<PathBuf>,
    /// The most steps in one experiment.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=12))]
    pub depth: u16,
    /// The most nodes the search for one experiment visits.
    #[arg(long, default_value_t = 60_000)]
    pub nodes: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Output format: the annotated policy file with a summary (human), the policy file
    /// alone (toml), or every knob's experiments as data (json).
    #[arg(long, value_enum, default_value_t)]
    pub format: InferFormat,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum InferFormat {
    /// The policy file and a summary.
    #[default]
    Human,
    /// The policy file alone.
    Toml,
    /// Every knob's candidates and experiments.
    Json,
}

/// What a run of the loop cost.
pub(crate) struct Cost {
    pub(crate) experiments: usize,
    /// Why experiments stopped before their last step (an answer no candidate reads, a
    /// token the server never issued); experiments that could not run say why in the
    /// policy file.
    pub(crate) stops: Vec<String>,
    pub(crate) requests: usize,
    pub(crate) seconds: f64,
}

/// Runs `tokenlife infer`.
pub fn run(args: InferArgs) -> u8 {
    exit_code(run_checked(&args))
}

fn run_checked(args: &InferArgs) -> Result<u8, Failure> {
    let bounds = Bounds {
        depth: usize::from(args.depth),
        nodes: args.nodes.max(1),
        ..Bounds::default()
    };
    let options = RunOptions {
        http: tokenlife_harness::http::HttpConfig {
            timeout: Duration::from_secs(args.timeout.max(1)),
            ..Default::default()
        },
        cleanup: args.target.is_some(),
        ..Default::default()
    };
    let runtime = runtime()?;
    let started = Instant::now();
    // The characteristics are replayed for the formats that carry them.
    let shows = args.format != InferFormat::Toml;
    let (inference, cost, shown) = match &args.target {
        Some(path) => {
            let target = target::load(path)
                .map_err(|e| Failure::bad_file(format!("{}: {e}", path.display())))?;
            let (inference, cost) =
                infer_target(&runtime, target.clone(), options.clone(), &bounds, started)?;
            let shown = shows.then(|| show(&runtime, target, &inference.policy, options));
            (inference, cost, shown)
        }
        None => {
            let policy = load_policy(args.profile.as_deref(), args.policy.as_ref())?;
            let server = runtime
                .block_on(Embedded::start(policy, Defects::default()))
                .map_err(|e| {
                    Failure::unreachable(format!("failed to start the embedded server: {e}"))
                })?;
            let result = infer_target(&runtime, server.target(), options.clone(), &bounds, started)
                .map(|(i, c)| {
                    let shown = shows.then(|| show(&runtime, server.target(), &i.policy, options));
                    (i, c, shown)
                });
            runtime.block_on(server.stop());
            result?
        }
    };
    let text = infer::policy_file(&inference);
    match args.format {
        InferFormat::Toml => out!("{text}"),
        InferFormat::Human => {
            out!("{text}");
            let decided = inference
                .findings
                .iter()
                .filter(|f| f.decided().is_some())
                .count();
            outln!(
                "# {decided} of {} knobs decided; {} experiments, {} requests, {:.1} s",
                KNOBS.len(),
                cost.experiments,
                cost.requests,
                cost.seconds
            );
            for why in &cost.stops {
                outln!("# an experiment stopped early: {why}");
            }
            out!(
                "{}",
                shown.as_ref().map(infer_shown::human).unwrap_or_default()
            );
        }
        InferFormat::Json => {
            let mut v = as_json(&inference, &text, &cost);
            v["characteristics"] = serde_json::to_value(&shown).unwrap_or_default();
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())
        }
    }
    let contradicted = inference.findings.iter().any(|f| f.contradiction.is_some());
    Ok(if contradicted { EXIT_FINDINGS } else { EXIT_OK })
}

/// Connects to `target` and runs the loop against it.
pub(crate) fn infer_target(
    runtime: &tokio::runtime::Runtime,
    target: Target,
    options: RunOptions,
    bounds: &Bounds,
    started: Instant,
) -> Result<(Inference, Cost), Failure> {
    let base = base_policy(&target.policy);
    let harness = runtime
        .block_on(Harness::connect(target, options, None))
        .map_err(|e| Failure::of_target(e.is_unreachable(), e))?;
    let mut cost = Cost {
        experiments: 0,
        stops: Vec::new(),
        requests: 0,
        seconds: 0.0,
    };
    let mut cache = Cache::default();
    let inference = infer::infer(&base, bounds, &mut cache, &mut |steps, readers| {
        let run = runtime.block_on(harness.run_experiment(steps, readers));
        cost.experiments += 1;
        cost.requests += run.requests;
        if let Some(why) = run.not_run {
            return Err(why);
        }
        if let Some(why) = run.stopped {
            cost.stops.push(why);
        }
        Ok(run.answers)
    });
    cost.seconds = started.elapsed().as_secs_f64();
    Ok((inference, cost))
}

/// The lifetimes of `declared` with every inferable knob at the `rfc6749` floor's value.
fn base_policy(declared: &Policy) -> Policy {
    let floor = Policy::profile("rfc6749").unwrap_or_default();
    let mut base = declared.clone();
    base.grace = None;
    for k in KNOBS {
        if let Some(p) = k.with(&base, (k.get)(&floor)) {
            base = p;
        }
    }
    base.profile = floor.profile;
    base
}

fn as_json(inference: &Inference, text: &str, cost: &Cost) -> serde_json::Value {
    let knobs: Vec<serde_json::Value> = inference
        .findings
        .iter()
        .map(|f| {
            let names =
                |vs: &[usize]| -> Vec<&str> { vs.iter().map(|v| f.knob.value(*v)).collect() };
            json!({
                "knob": f.knob.name,
                "candidates": names(&f.candidates),
                "decided": f.decided().is_some(),
                "clause": f.knob.clause,
                "experiments": f.experiments.iter().map(|e| json!({
                    "between": names(&e.between),
                    "steps": e.steps.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "answers": e.answers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "kept": names(&e.kept),
                    "not_run": e.not_run,
                })).collect::<Vec<_>>(),
                "contradiction": f.contradiction.as_ref().map(|c| json!({
                    "steps": c.steps.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "answers": c.answers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })),
            })
        })
        .collect();
    json!({
        "policy": text,
        "knobs": knobs,
        "experiments": cost.experiments,
        "requests": cost.requests,
        "stopped_early": cost.stops,
        "seconds": cost.seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_keeps_the_lifetimes_and_resets_the_knobs() {
        let declared = Policy::from_toml(
            "profile = \"grace-new\"\naccess_ttl = \"60s\"\nrefresh_ttl = \"20m\"\nnarrowing = \"refused\"",
        )
        .expect("a policy");
        let base = base_policy(&declared);
        assert_eq!(base.access_ttl.get(), 60);
        assert_eq!(base.refresh_ttl.map(|s| s.get()), Some(1200));
        assert_eq!(base.grace, None);
        let floor = Policy::profile("rfc6749").expect("floor");
        for k in KNOBS {
            assert_eq!((k.get)(&base), (k.get)(&floor), "{}", k.name);
        }
    }

    /// Through HTTP against the reference server: every knob the model says is decidable
    /// for its policy comes out exactly, every other one keeps the server's value among its
    /// candidates, and no answer contradicts.
    #[test]
    fn the_reference_server_s_decidable_knobs_are_recovered_over_http() {
        let policy = Policy::from_toml(
            "profile = \"grace-new\"\nrotation_confidential = \"never\"\n\
             revoke_access_cascades = \"grant\"\nnarrowing = \"refused\"\n\
             code_replay_revokes = false\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]",
        )
        .expect("a policy");
        let bounds = Bounds {
            depth: 6,
            nodes: 8_000,
            ..Bounds::default()
        };
        let runtime = runtime().expect("a runtime");
        let server = runtime
            .block_on(Embedded::start(policy.clone(), Defects::default()))
            .expect("the embedded server");
        let result = infer_target(
            &runtime,
            server.target(),
            RunOptions::default(),
            &bounds,
            Instant::now(),
        );
        runtime.block_on(server.stop());
        let (inference, cost) = result.expect("inferred");
        assert!(cost.stops.is_empty(), "{:?}", cost.stops);
        let mut cache = Cache::default();
        let mut decided = 0;
        for f in &inference.findings {
            let own = (f.knob.get)(&policy);
            assert!(
                f.contradiction.is_none(),
                "{}: {:?}",
                f.knob.name,
                f.contradiction
            );
            assert!(
                f.candidates.contains(&own),
                "{}: {:?}",
                f.knob.name,
                f.experiments
            );
            if infer::decidable(&policy, f.knob, &bounds, &mut cache) {
                decided += 1;
                assert_eq!(
                    f.decided(),
                    Some(own),
                    "{}: {:?}",
                    f.knob.name,
                    f.candidates
                );
            }
        }
        assert!(decided >= 8, "only {decided} knobs decidable");
        let text = infer::policy_file(&inference);
        assert!(text.contains("narrowing = \"refused\""), "{text}");
    }
}
