//! `tokenlife infer`: learn the discrete knobs of the policy a server implements from its
//! answers, and print it as a policy file with one comment per knob.
//!
//! The experiments come from the model (`tokenlife_model::infer`): for two values of a knob,
//! the shortest sequence of requests after which no answer is allowed under both. Each runs
//! against the target from a fresh grant (`Harness::run_experiment`), its answers read under
//! the candidate policies. Before them the lifetimes are measured by probes
//! (`Harness::measure_lifetimes`): the experiments wait for them, so the base policy carries
//! the measured ones (the target's declared ones where a lifetime could not be measured),
//! and the knobs start from the `rfc6749` floor, so what the target declares does not bias
//! the answers' reading. `--budget` bounds the wall time of the lifetimes and experiments:
//! the lifetimes' probes stay within it, and an experiment that no longer fits is reported
//! as not run. Then the security characteristics of the inferred policy are replayed
//! against the server (`infer_shown`; not for `--format toml`, the policy file alone).
//! Exit codes: 0 inferred, 1 some answers fit no value of a knob (a contradiction, reported
//! with its experiment), 2 usage, 3 a bad target or policy file, 4 target unreachable.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokenlife_harness::session::LifetimesRun;
use tokenlife_harness::{target, Harness, RunOptions, Target};
use tokenlife_model::infer::{self, Bounds, Cache, Inference, Step, KNOBS};
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::embedded::Embedded;
use crate::infer_shown::{self, show};
use crate::outcome::{exit_code, out, outln, runtime, Failure, EXIT_FINDINGS, EXIT_OK};
use crate::policy::load_policy;

/// Arguments of `tokenlife infer`.
#[derive(Debug, clap::Args)]
pub struct InferArgs {
    /// A target file (with the endpoint clock or a real one); without one, the embedded
    /// reference server.
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
    /// The most wall time the whole inference takes (`90s`, `5m`, `1h`): a real clock's
    /// lifetimes are measured only as far as it allows, and experiments that no longer fit
    /// are reported as not run.
    #[arg(long, default_value = "5m", value_parser = crate::duration::parse_budget)]
    pub budget: Duration,
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
    /// Experiments not run because the budget was spent.
    over_budget: usize,
    /// The lifetimes measured, and what measuring them cost.
    lifetimes: LifetimesRun,
    /// The policy the target declares, which the measured lifetimes are compared with
    /// (`None`: a target file without `[policy]`, which declares nothing).
    declared: Option<Policy>,
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
    let deadline = started + args.budget;
    // The characteristics are replayed for the formats that carry them.
    let shows = args.format != InferFormat::Toml;
    let (inference, cost, shown) = match &args.target {
        Some(path) => {
            let target = target::load(path)
                .map_err(|e| Failure::bad_file(format!("{}: {e}", path.display())))?;
            let (inference, cost) = infer_target(
                &runtime,
                target.clone(),
                options.clone(),
                &bounds,
                started,
                deadline,
            )?;
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
            let result = infer_target(
                &runtime,
                server.target(),
                options.clone(),
                &bounds,
                started,
                deadline,
            )
            .map(|(i, c)| {
                let shown = shows.then(|| show(&runtime, server.target(), &i.policy, options));
                (i, c, shown)
            });
            runtime.block_on(server.stop());
            result?
        }
    };
    let text = infer::policy_file_measured(
        &inference,
        &cost.lifetimes.lifetimes,
        cost.declared.as_ref(),
    );
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
            outln!(
                "# lifetimes: {} probes, {} of the requests",
                cost.lifetimes.probes,
                cost.lifetimes.requests
            );
            if cost.over_budget > 0 {
                outln!(
                    "# {} experiments not run: the budget ({} s) was spent",
                    cost.over_budget,
                    args.budget.as_secs()
                );
            }
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
    deadline: Instant,
) -> Result<(Inference, Cost), Failure> {
    // A target file without `[policy]` declares no lifetime to compare the measured ones with.
    let start = base_policy(&target.policy);
    let declared = target.policy_declared.then(|| target.policy.clone());
    let harness = runtime
        .block_on(Harness::connect(target, options, None))
        .map_err(|e| Failure::of_target(e.is_unreachable(), e))?;
    let lifetimes = measure(runtime, &harness, deadline);
    let base = lifetimes.lifetimes.apply(&start);
    let mut cost = Cost {
        experiments: 0,
        stops: Vec::new(),
        requests: 0,
        seconds: 0.0,
        over_budget: 0,
        lifetimes,
        declared,
    };
    let skew = harness.real_clock_skew();
    let mut cache = Cache::default();
    let inference = infer::infer(&base, bounds, &mut cache, &mut |steps, readers| {
        if let Some(why) = over_budget(steps, skew, deadline) {
            cost.over_budget += 1;
            return Err(why);
        }
        let run = runtime.block_on(harness.run_experiment(steps, readers));
        cost.experiments += 1;
        cost.requests += run.requests;
        if let Some(why) = run.not_run {
            return Err(why);
        }
        if let Some(why) = run.stopped {
            cost.stops.push(why);
        }
        Ok(infer::Answers {
            steps: run.as_run,
            outcomes: run.answers,
        })
    });
    cost.requests += cost.lifetimes.requests;
    cost.seconds = started.elapsed().as_secs_f64();
    Ok((inference, cost))
}

/// Measures the target's lifetimes within the budget, before any experiment.
fn measure(
    runtime: &tokio::runtime::Runtime,
    harness: &Harness,
    deadline: Instant,
) -> LifetimesRun {
    runtime.block_on(harness.measure_lifetimes(deadline))
}

/// Why an experiment of `steps` is not run within the budget that ends at `deadline`, if
/// it is not: the budget is spent, or (a real clock, whose `skew` is given) its waits,
/// each lengthened by the skew it lands clear of, would outlast it.
fn over_budget(steps: &[Step], skew: Option<u32>, deadline: Instant) -> Option<String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Some("not run: budget".into());
    }
    let skew = skew?;
    let waits: u64 = steps
        .iter()
        .map(|s| match s {
            Step::Wait { seconds } => u64::from(*seconds) + u64::from(skew) + 1,
            Step::Act { .. } => 0,
        })
        .sum();
    (waits > left.as_secs()).then(|| {
        format!(
            "not run: budget (its waits take about {waits} s of a real clock, {} s are left)",
            left.as_secs()
        )
    })
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
        "lifetimes": lifetimes_json(cost),
        "experiments": cost.experiments,
        "not_run_budget": cost.over_budget,
        "requests": cost.requests,
        "stopped_early": cost.stops,
        "seconds": cost.seconds,
    })
}

/// The measured lifetimes as data: each knob with its value, how, the probes, and what the
/// target declares for it.
fn lifetimes_json(cost: &Cost) -> serde_json::Value {
    let declared = cost
        .declared
        .as_ref()
        .map(Policy::to_toml)
        .unwrap_or_default();
    let declared_of = |k: &str| {
        declared
            .lines()
            .find_map(|l| l.split_once('=').filter(|(key, _)| key.trim() == k))
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
    };
    let knobs: Vec<serde_json::Value> = cost
        .lifetimes
        .lifetimes
        .knobs
        .iter()
        .map(|m| {
            json!({
                "knob": m.knob,
                "seconds": m.value,
                "found": m.found,
                "how": m.how,
                "probes": m.answers.iter().map(|(p, alive)| json!({
                    "probe": p.to_string(),
                    "honoured": alive,
                })).collect::<Vec<_>>(),
                "declared": declared_of(m.knob),
                "clause": m.clause,
            })
        })
        .collect();
    json!({
        "knobs": knobs,
        "probes": cost.lifetimes.probes,
        "requests": cost.lifetimes.requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `policy` served by the embedded server (endpoint clock), inferred over HTTP with a
    /// budget of 5 minutes; `declare` edits the target first (what it declares).
    pub(super) fn infer_served(
        policy: &Policy,
        bounds: &Bounds,
        declare: impl FnOnce(&mut Target),
    ) -> (Inference, Cost) {
        let runtime = runtime().expect("a runtime");
        let server = runtime
            .block_on(Embedded::start(policy.clone(), Defects::default()))
            .expect("the embedded server");
        let mut target = server.target();
        declare(&mut target);
        let started = Instant::now();
        let result = infer_target(
            &runtime,
            target,
            RunOptions::default(),
            bounds,
            started,
            started + Duration::from_secs(300),
        );
        runtime.block_on(server.stop());
        result.expect("inferred")
    }

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
        let (inference, cost) = infer_served(&policy, &bounds, |_| {});
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
        let text = infer::policy_file_measured(
            &inference,
            &cost.lifetimes.lifetimes,
            cost.declared.as_ref(),
        );
        assert!(text.contains("narrowing = \"refused\""), "{text}");
    }
}

/// The lifetimes measured before the knobs, through HTTP against the reference server: on
/// the endpoint clock exactly, on its wall clock within the clock's resolution and the
/// budget.
#[cfg(test)]
mod lifetime_tests {
    use super::*;
    use tokenlife_harness::target::{reference_target, ClockConfig};
    use tokenlife_model::policy::Seconds;

    fn bounds() -> Bounds {
        Bounds {
            depth: 6,
            nodes: 8_000,
            ..Bounds::default()
        }
    }

    fn value(cost: &Cost, knob: &str) -> Option<Option<u32>> {
        cost.lifetimes.lifetimes.get(knob).map(|m| m.value)
    }

    #[test]
    fn non_default_lifetimes_are_recovered_exactly_on_the_endpoint_clock() {
        let policy = Policy::from_toml(
            "profile = \"grace-new\"\naccess_ttl = \"37s\"\nrefresh_ttl = \"173s\"\ngrace_window = \"11s\"",
        )
        .expect("a policy");
        // The target declares another access lifetime than the server has.
        let (inference, cost) =
            tests::infer_served(&policy, &bounds(), |t| t.policy.access_ttl = Seconds(60));
        assert_eq!(value(&cost, "access_ttl"), Some(Some(37)));
        assert_eq!(value(&cost, "refresh_ttl"), Some(Some(173)));
        assert_eq!(value(&cost, "idle_timeout"), Some(None));
        assert_eq!(value(&cost, "absolute_cap"), Some(None));
        assert_eq!(value(&cost, "grace_window"), Some(Some(11)));
        let p = &inference.policy;
        assert_eq!(p.access_ttl, Seconds(37));
        assert_eq!(p.refresh_lifetime(), Some(Seconds(173)));
        assert_eq!(p.grace.and_then(|g| g.window), Some(Seconds(11)));
        assert!(inference.findings.iter().all(|f| f.contradiction.is_none()));
        let text = infer::policy_file_measured(
            &inference,
            &cost.lifetimes.lifetimes,
            cost.declared.as_ref(),
        );
        assert!(
            text.contains("# access_ttl: measured: expires_in 37; confirmed by 2 probes"),
            "{text}"
        );
        assert!(
            text.contains("#   the target declares access_ttl = \"1m\": the measurement disagrees"),
            "{text}"
        );
        assert!(text.contains("grace_window = \"11s\""), "{text}");
        let back = Policy::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.access_ttl, Seconds(37));
    }

    #[test]
    fn a_lifetime_anchored_at_the_access_token_s_expiry_is_measured_from_the_issue() {
        let policy = Policy::from_toml(
            "profile = \"bcp\"\naccess_ttl = \"37s\"\nrefresh_ttl = \"100s\"\nrefresh_ttl_anchor = \"access-expiry\"",
        )
        .expect("a policy");
        let (inference, cost) = tests::infer_served(&policy, &bounds(), |_| {});
        assert_eq!(value(&cost, "refresh_ttl"), Some(Some(137)));
        // Both anchors are the same tokens: consistent with both, the file counts from issue.
        let anchor = inference
            .findings
            .iter()
            .find(|f| f.knob.name == "refresh_ttl_anchor")
            .expect("in the table");
        assert_eq!(anchor.candidates, vec![0, 1]);
        assert_eq!(inference.policy.refresh_lifetime(), Some(Seconds(137)));
        assert!(inference.findings.iter().all(|f| f.contradiction.is_none()));
        let text = infer::policy_file_measured(
            &inference,
            &cost.lifetimes.lifetimes,
            cost.declared.as_ref(),
        );
        assert!(text.contains("\nrefresh_ttl = \"137s\"\n"), "{text}");
        assert!(
            text.contains("the same tokens have refresh_ttl = \"100s\""),
            "{text}"
        );
    }

    /// `policy` served by the embedded server, its lifetimes measured over HTTP.
    fn measure_served(policy: Policy) -> LifetimesRun {
        let runtime = runtime().expect("a runtime");
        let server = runtime
            .block_on(Embedded::start(policy, Defects::default()))
            .expect("the embedded server");
        let harness = runtime
            .block_on(Harness::connect(
                server.target(),
                RunOptions::default(),
                None,
            ))
            .expect("connected");
        let run = measure(
            &runtime,
            &harness,
            Instant::now() + Duration::from_secs(120),
        );
        runtime.block_on(server.stop());
        run
    }

    #[test]
    fn an_idle_timeout_under_an_absolute_cap_is_told_from_a_lifetime() {
        let policy = Policy::from_toml(
            "profile = \"rfc6749\"\nrotation = \"never\"\nrefresh_ttl = \"none\"\nidle_timeout = \"50s\"\nabsolute_cap = \"80s\"",
        )
        .expect("a policy");
        let run = measure_served(policy);
        let l = &run.lifetimes;
        let v = |k: &str| l.get(k).map(|m| m.value);
        assert_eq!(v("idle_timeout"), Some(Some(50)), "{l:#?}");
        assert_eq!(v("absolute_cap"), Some(Some(80)), "{l:#?}");
        assert_eq!(v("refresh_ttl"), Some(None), "{l:#?}");
        // Nothing rotates: no consumed token to present again.
        assert_eq!(l.grace_window, None);
    }

    /// An idle timeout where the confidential client rotates and the public one keeps its
    /// token: the rotating client alone reads it as a lifetime each successor gets afresh
    /// (which the public client's unrotated token would not outlive), so the renewal is
    /// read from the public client.
    #[test]
    fn an_idle_timeout_is_read_from_the_client_that_keeps_its_token() {
        let policy = Policy::from_toml(
            "profile = \"rfc6749\"\nrotation_public = \"never\"\n\
             rotation_confidential = \"always\"\nrefresh_ttl = \"200s\"\nidle_timeout = \"50s\"",
        )
        .expect("a policy");
        let run = measure_served(policy);
        let l = &run.lifetimes;
        let v = |k: &str| l.get(k).map(|m| m.value);
        assert_eq!(v("idle_timeout"), Some(Some(50)), "{l:#?}");
        assert_ne!(v("refresh_ttl"), Some(Some(50)), "{l:#?}");
        assert!(
            l.knobs
                .iter()
                .any(|k| k.how.contains("public client, which kept its token")),
            "{l:#?}"
        );
    }

    /// The reference server on its wall clock with lifetimes of 2 and 3 s: the lifetimes
    /// come out within the clock's resolution, and the whole run within its budget.
    #[test]
    fn a_real_clock_s_lifetimes_are_measured_within_the_budget() {
        let policy =
            Policy::from_toml("profile = \"bcp\"\naccess_ttl = \"2s\"\nrefresh_ttl = \"3s\"")
                .expect("a policy");
        let runtime = runtime().expect("a runtime");
        let mut config =
            tokenlife_server::ServerConfig::demo("127.0.0.1:0".parse().expect("an address"));
        config.clients = tokenlife_server::config::demo_clients(
            tokenlife_server::embedded::EMBEDDED_REDIRECT_BASE,
        );
        config.policy = policy.clone();
        config.demo = false;
        let server = runtime
            .block_on(tokenlife_server::start(config))
            .expect("the server");
        let mut target = reference_target(server.url(), crate::embedded::clients(), policy);
        target.clock = ClockConfig::Real { skew: Seconds(1) };
        let started = Instant::now();
        let budget = Duration::from_secs(15);
        let result = infer_target(
            &runtime,
            target,
            RunOptions::default(),
            &bounds(),
            started,
            started + budget,
        );
        runtime.block_on(server.shutdown());
        let (inference, cost) = result.expect("inferred");
        let took = started.elapsed();
        assert!(took < budget + Duration::from_secs(5), "{took:?}");
        // expires_in, confirmed: alive just before, dead just after.
        assert_eq!(
            value(&cost, "access_ttl"),
            Some(Some(2)),
            "{:#?}",
            cost.lifetimes
        );
        let refresh = cost
            .lifetimes
            .lifetimes
            .get("refresh_ttl")
            .expect("measured");
        match refresh.found {
            Some(infer::Found::Within { lo, hi, seconds }) => {
                assert!(lo < 3 && 3 <= hi, "{lo}..{hi}");
                assert!(seconds.abs_diff(3) <= 2, "{seconds}");
            }
            f => panic!("{f:?}"),
        }
        assert_eq!(value(&cost, "grace_window"), Some(None));
        assert!(inference.findings.iter().all(|f| f.contradiction.is_none()));
        // Experiments that wait ran on the real clock, or were set aside for a reason.
        let waits: Vec<_> = inference
            .findings
            .iter()
            .flat_map(|f| &f.experiments)
            .filter(|e| e.steps.iter().any(|s| matches!(s, Step::Wait { .. })))
            .collect();
        assert!(waits.iter().all(|e| e
            .not_run
            .as_deref()
            .is_none_or(|w| !w.contains("endpoint clock"))));
    }
}
