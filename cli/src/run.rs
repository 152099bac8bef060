//! `tokenlife run`: the conformance suite against a target.
//!
//! With no `--target`, the reference server starts in process on `127.0.0.1:0` on a
//! temporary SQLite file with the test clock (`--profile`, default `bcp`), and `restart`
//! steps restart it on the same file. With `--target FILE`, any server described by a
//! target file (design.md, "The harness"). `--policy FILE` judges the target by that policy
//! instead of the `[policy]` its target file declares (an inferred one, say); with the
//! embedded server it is the server's policy too, as `--profile` is. Exit codes: 0 conformant, 1 failed checks,
//! 2 usage, 3 a bad target or scenario file (or a scenario the policy contradicts),
//! 4 target unreachable: at the start, or, with nothing failed, some request got no answer
//! during the run (an infrastructure problem, listed in its own section of the report), or
//! the run could not finish: `--max-time` passed, SIGINT or SIGTERM arrived, or the circuit
//! breaker opened (requests in a row to one endpoint without an answer). Such a run still
//! ends with its report, marked partial. With `--format json` stdout holds a JSON report
//! whatever the exit code: a run that could not start gives one with its `error` and no
//! check (and `--report-dir` gets its files).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokenlife_harness::export::ExpectedDivergence;
use tokenlife_harness::guard::{Guard, DEFAULT_BREAKER};
use tokenlife_harness::scenario::load_dir;
use tokenlife_harness::target;
use tokenlife_harness::{Report, RunOptions};
use tokenlife_server::Defect;

use crate::embedded::{run_embedded, RANDOM_LEN};
use crate::outcome::{
    exit_code, out, outln, runtime, Failure, Format, EXIT_BAD_FILE, EXIT_FINDINGS, EXIT_OK,
    EXIT_UNREACHABLE,
};

/// `--concurrency`'s default: the harness's.
const DEFAULT_CONCURRENCY: u64 = tokenlife_harness::session::CONCURRENCY as u64;

/// `--in-flight`'s default (README, "Running the suite", says how it was chosen).
const DEFAULT_IN_FLIGHT: u64 = 8;

/// `--max-time`'s default. The default run against the embedded server takes under a
/// minute and a real-clock run against a development server a few minutes (README,
/// "Running the suite": 80–280 s against node-oidc-provider); thirty minutes is several
/// times the longest healthy run we have seen, so it never cuts one, and still ends a run
/// against a target that answers nothing (whose circuit breaker did not open, say every
/// request is answered just after --timeout) in a CI job's time.
const DEFAULT_MAX_TIME: &str = "30m";
use crate::policy::load_policy;

/// Arguments of `tokenlife run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A target file; without one, the embedded reference server is tested.
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// The embedded server's profile (default `bcp`).
    #[arg(long, conflicts_with_all = ["target", "policy"])]
    pub profile: Option<String>,
    /// A policy file (`profile` plus overriding knobs) that replaces the target's declared
    /// `[policy]`: the target is judged by it. With the embedded server it is the server's
    /// policy too. RFC MUSTs that no policy waives fail under any policy.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Inject a defect into the embedded server (to see the suite catch it); repeatable.
    #[arg(long = "defect", conflicts_with = "target")]
    pub defects: Vec<String>,
    /// A folder of scenario files instead of the shipped ones.
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
    /// Run only these scenarios or checks (names or check ids); repeatable.
    #[arg(long)]
    pub only: Vec<String>,
    /// Skip these scenarios or checks; repeatable.
    #[arg(long)]
    pub skip: Vec<String>,
    /// Treat SHOULD warnings as failures.
    #[arg(long)]
    pub fail_on_should: bool,
    /// Exhaustive generation: sequences covering every model transition within this many
    /// actions, each from a fresh grant (0: scenarios only).
    #[arg(long, default_value_t = 4)]
    pub depth: u16,
    /// Run every distinct action sequence to --depth instead of a transition cover (small
    /// depths only: the number of sequences explodes).
    #[arg(long)]
    pub all_sequences: bool,
    /// Write report.json, junit.xml and report.md into this folder.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// A file of accepted divergences (`[[divergence]]` check, reason, scenario); a stale
    /// entry fails the run.
    #[arg(long)]
    pub expect_divergences: Option<PathBuf>,
    /// Per-request timeout in seconds, 429 retries and their `Retry-After` waits included. A
    /// request that gets no answer in time (or whose connection is refused or breaks)
    /// stops its scenario or sequence as an infrastructure problem, never a failed check:
    /// exit 4 when nothing else failed. Five in a row to one endpoint stop the run.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// The most wall time the whole run takes (`90s`, `30m`, `2h`; at most 24 h): then it
    /// stops, writes its report marked partial and exits 4 (SIGINT and SIGTERM do the same).
    #[arg(long, default_value = DEFAULT_MAX_TIME, value_parser = crate::duration::parse_budget)]
    pub max_time: Duration,
    /// Real-clock sequences in flight at once. They mostly sleep until a token expires:
    /// more finish sooner, fewer keep each on the model's schedule (a step that waits meets
    /// its deadlines late and covers another transition than planned). --in-flight is what
    /// a server feels.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,
    /// Requests in flight at once, across all sequences (a race sends its requests
    /// together whatever this says). The default keeps a single-process development server,
    /// which hashes a client secret on every confidential-client request, answering within
    /// --timeout; a step waits for a slot before it starts, so a busy target costs time,
    /// not verdicts.
    #[arg(long, default_value_t = DEFAULT_IN_FLIGHT, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub in_flight: u64,
    /// The seed of the random sequences (default: a fresh one, printed in the report).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Uniform random sequences to run (0: none; the aimed search, --budget, replaced them
    /// by default); a failing one is shrunk and written out as a scenario file (into
    /// --report-dir) that replays it.
    #[arg(long, default_value_t = 0)]
    pub cases: u32,
    /// The aimed search's budget, in requests (0: no search): walks of the model planned
    /// for the (state, action) pairs and situations not yet reached, time moved to any
    /// pending deadline or just before it, best first; the same seed and budget give the
    /// same walks. A failing walk is shrunk and written out as --cases' are.
    #[arg(long, default_value_t = tokenlife_harness::search::DEFAULT_BUDGET)]
    pub budget: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// No progress bars (they are drawn on a terminal's stderr only, never in JSON mode).
    #[arg(long)]
    pub quiet: bool,
}

/// Progress bars on stderr, one per phase; hidden when stderr is not a terminal.
#[derive(Default)]
struct Bars {
    current: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl tokenlife_harness::progress::Progress for Bars {
    fn phase(&self, name: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{prefix:>24} [{bar:32}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(name.to_string());
        if let Ok(mut c) = self.current.lock() {
            if let Some(old) = c.replace(bar) {
                old.finish();
            }
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(c) = self.current.lock() {
            if let Some(b) = c.as_ref() {
                b.inc(n);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut c) = self.current.lock() {
            if let Some(b) = c.take() {
                b.finish();
            }
        }
    }
}

/// Runs `tokenlife run`.
pub fn run(args: RunArgs) -> u8 {
    exit_code(run_checked(&args))
}

fn run_checked(args: &RunArgs) -> Result<u8, Failure> {
    let guard = Guard::new(Some(args.max_time), Some(DEFAULT_BREAKER));
    let started = Instant::now();
    let (mut report, expected) = match execute(args, &guard) {
        Ok(run) => run,
        Err(f) => {
            // A run that could not start still gives a report to parse (and to write).
            if args.format == Format::Json || args.report_dir.is_some() {
                let target = args
                    .target
                    .as_ref()
                    .map_or_else(|| "embedded".to_string(), |p| p.display().to_string());
                let profile = args.profile.clone().unwrap_or_default();
                let seed = args.seed.unwrap_or_default();
                let report = Report::not_run(target, profile, seed, f.to_string());
                // For people the error on stderr says it all.
                emit(args, &report, started, args.format == Format::Json)?;
            }
            return Err(f);
        }
    };
    tokenlife_harness::export::apply_expected(&mut report, &expected);
    emit(args, &report, started, true)?;
    Ok(exit_of(&report))
}

/// Writes `--report-dir` and (`print`) prints the report in `--format`.
fn emit(args: &RunArgs, report: &Report, started: Instant, print: bool) -> Result<(), Failure> {
    if let Some(dir) = &args.report_dir {
        tokenlife_harness::export::write_dir(report, dir).map_err(Failure::usage)?;
    }
    if !print {
        return Ok(());
    }
    let elapsed = started.elapsed().as_secs_f64();
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        ),
        Format::Human => {
            out!("{}", report.human());
            eprintln!(
                "{} actions in {elapsed:.2} s ({:.0} checked actions/s)",
                report.actions,
                report.actions as f64 / elapsed.max(1e-9)
            );
        }
    }
    Ok(())
}

/// Loads what the run needs and runs it under `guard`, which SIGINT and SIGTERM stop: its
/// report, and the expected divergences to apply to it.
fn execute(args: &RunArgs, guard: &Guard) -> Result<(Report, Vec<ExpectedDivergence>), Failure> {
    let set = match &args.scenarios {
        Some(dir) => load_dir(dir),
        None => tokenlife_harness::builtin::scenarios(),
    }
    .map_err(Failure::bad_file)?;
    let expected = match &args.expect_divergences {
        Some(path) => tokenlife_harness::export::load_expected(path).map_err(Failure::bad_file)?,
        None => Vec::new(),
    };
    let options = RunOptions {
        http: tokenlife_harness::http::HttpConfig {
            timeout: Duration::from_secs(args.timeout.max(1)),
            guard: guard.clone(),
            ..Default::default()
        },
        fail_on_should: args.fail_on_should,
        only: args.only.clone(),
        skip: args.skip.clone(),
        cleanup: args.target.is_some(),
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        }),
        depth: args.depth,
        cases: args.cases,
        budget: args.budget,
        reachability: true,
        random_len: RANDOM_LEN,
        all_sequences: args.all_sequences,
        progress: (args.format == Format::Human && !args.quiet)
            .then(|| tokenlife_harness::progress::ProgressSink::new(Bars::default())),
        stop_at_first_failure: false,
        concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
        in_flight: usize::try_from(args.in_flight).unwrap_or(usize::MAX),
    };
    let runtime = runtime()?;
    runtime.spawn(stop_on_signals(guard.clone()));
    let report = match &args.target {
        Some(path) => {
            let mut target = target::load(path)
                .map_err(|e| Failure::bad_file(format!("{}: {e}", path.display())))?;
            if let Some(file) = &args.policy {
                target.policy = load_policy(None, Some(file))?;
                // What the target file's clients can give, checked against the new policy.
                target
                    .check()
                    .map_err(|e| Failure::bad_file(format!("{}: {e}", file.display())))?;
            }
            runtime.block_on(async {
                tokenlife_harness::run(target, &set, options, None)
                    .await
                    .map_err(|e| Failure::of_target(e.is_unreachable(), e))
            })
        }
        None => {
            let policy = load_policy(args.profile.as_deref(), args.policy.as_ref())?;
            let defects = args
                .defects
                .iter()
                .map(|d| d.parse::<Defect>().map_err(Failure::usage))
                .collect::<Result<_, _>>()?;
            runtime.block_on(run_embedded(policy, defects, &set, options))
        }
    }?;
    Ok((report, expected))
}

/// Stops the run on the first SIGINT or SIGTERM (it then writes its partial report); a
/// second one ends the process at once.
async fn stop_on_signals(guard: Guard) {
    for n in 0..2 {
        let name = signal().await;
        if n == 0 {
            eprintln!("{name}: stopping; the report so far follows (again to quit at once)");
            guard.stop(format!("interrupted by {name}"));
        } else {
            std::process::exit(130);
        }
    }
}

/// The next SIGINT or SIGTERM, by name.
#[cfg(unix)]
async fn signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// The next Ctrl-C.
#[cfg(not(unix))]
async fn signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// A finished run's exit code. Findings first: a failure is a verdict even when other
/// requests went unanswered; unanswered requests alone say only that the target was not
/// reliably reachable (4).
fn exit_of(report: &Report) -> u8 {
    if report.has_scenario_errors() {
        EXIT_BAD_FILE
    } else if !report.conformant() {
        EXIT_FINDINGS
    } else if report.interrupted() {
        EXIT_UNREACHABLE
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{EXIT_UNREACHABLE, EXIT_USAGE};
    use tokenlife_model::Policy;
    use tokenlife_server::Defects;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn args() -> RunArgs {
        RunArgs {
            target: None,
            profile: None,
            policy: None,
            defects: Vec::new(),
            scenarios: None,
            only: Vec::new(),
            skip: Vec::new(),
            fail_on_should: false,
            depth: 0,
            all_sequences: false,
            report_dir: None,
            expect_divergences: None,
            timeout: 2,
            max_time: Duration::from_secs(600),
            concurrency: DEFAULT_CONCURRENCY,
            in_flight: DEFAULT_IN_FLIGHT,
            seed: Some(1),
            cases: 0,
            budget: 0,
            format: Format::Json,
            quiet: true,
        }
    }

    #[test]
    fn exit_codes_follow_the_design() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            "[server]\nissuer = \"http://127.0.0.1:1\"\ncolour = 1\n",
        )
        .unwrap();
        assert_eq!(
            run(RunArgs {
                target: Some(bad),
                ..args()
            }),
            EXIT_BAD_FILE
        );
        // Nothing listens on a port that was just freed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let unreachable = dir.path().join("t.toml");
        std::fs::write(
            &unreachable,
            format!("[server]\nissuer = \"http://127.0.0.1:{port}\"\n[[clients]]\nid = \"a\"\nsecret = \"s\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n[[clients]]\nid = \"b\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n"),
        )
        .unwrap();
        assert_eq!(
            run(RunArgs {
                target: Some(unreachable.clone()),
                ..args()
            }),
            EXIT_UNREACHABLE
        );
        // `strict` requires offline_access, which these clients are not registered for:
        // a set-up error before any request.
        let strict = dir.path().join("strict.toml");
        let text = std::fs::read_to_string(&unreachable).unwrap();
        std::fs::write(&strict, format!("{text}[policy]\nprofile = \"strict\"\n")).unwrap();
        assert_eq!(
            run(RunArgs {
                target: Some(strict),
                ..args()
            }),
            EXIT_BAD_FILE
        );
        assert_eq!(
            run(RunArgs {
                profile: Some("nope".into()),
                ..args()
            }),
            EXIT_USAGE
        );
        assert_eq!(
            run(RunArgs {
                defects: vec!["nope".into()],
                ..args()
            }),
            EXIT_USAGE
        );
        assert_eq!(
            run(RunArgs {
                scenarios: Some(dir.path().join("none")),
                ..args()
            }),
            EXIT_BAD_FILE
        );
        assert_eq!(
            run(RunArgs {
                only: vec!["ten-step-flow".into()],
                ..args()
            }),
            EXIT_OK
        );
        assert_eq!(
            run(RunArgs {
                only: vec!["replay-rotated-refresh-token".into()],
                defects: vec!["replay-accepted".into()],
                ..args()
            }),
            EXIT_FINDINGS
        );
    }

    #[test]
    fn unanswered_requests_alone_exit_4_and_a_failure_beside_them_1() {
        use tokenlife_harness::checks::{self, Verdict};
        use tokenlife_harness::report::{Evaluation, Interruption, ScenarioResult};
        let report = |failed: bool, interrupted: bool| {
            let mut s = ScenarioResult::new("s", "s.toml");
            let verdict = if failed {
                Verdict::Failed
            } else {
                Verdict::Passed
            };
            s.evaluations
                .push(Evaluation::new(checks::REFRESH_REPLAY, verdict, 1, None));
            if interrupted {
                s.infrastructure.push(Interruption {
                    scenario: "s".into(),
                    step: 2,
                    requests: 1,
                    message: "no answer from http://h/token within 1 s".into(),
                    trace: Vec::new(),
                });
            }
            Report::new(
                "t".into(),
                "bcp".into(),
                String::new(),
                1,
                String::new(),
                vec![s],
                Vec::new(),
                1,
            )
        };
        assert_eq!(exit_of(&report(false, false)), EXIT_OK);
        assert_eq!(exit_of(&report(false, true)), EXIT_UNREACHABLE);
        assert_eq!(exit_of(&report(true, true)), EXIT_FINDINGS);
        assert_eq!(exit_of(&report(true, false)), EXIT_FINDINGS);
    }

    #[test]
    fn the_embedded_default_is_conformant_and_a_defect_is_caught() {
        let set = tokenlife_harness::builtin::scenarios().unwrap();
        let rt = runtime();
        let ok = rt
            .block_on(run_embedded(
                Policy::default(),
                Defects::none(),
                &set,
                RunOptions::default(),
            ))
            .unwrap();
        assert!(ok.conformant(), "{}", ok.human());
        let json = serde_json::to_value(&ok).unwrap();
        for key in [
            "target", "profile", "checks", "passed", "failed", "warnings", "failures",
        ] {
            assert!(json.get(key).is_some(), "no `{key}` in the JSON report");
        }
        let bad = rt
            .block_on(run_embedded(
                Policy::default(),
                Defects::from(Defect::ReplayAccepted),
                &set,
                RunOptions::default(),
            ))
            .unwrap();
        assert!(!bad.conformant());
        let f = &serde_json::to_value(&bad).unwrap()["failures"][0];
        for key in ["id", "clause", "level", "check", "message", "trace"] {
            assert!(f.get(key).is_some(), "no `{key}` in a failure");
        }
    }

    /// A target file for `server` declaring `policy`, and a policy file, in `dir`.
    fn files(
        dir: &std::path::Path,
        server: &crate::embedded::Embedded,
        declared: &str,
        policy: &str,
    ) -> (PathBuf, PathBuf) {
        let target = dir.join("target.toml");
        std::fs::write(&target, server.target_file(declared)).unwrap();
        let file = dir.join("policy.toml");
        std::fs::write(&file, policy).unwrap();
        (target, file)
    }

    /// `--policy` replaces the target's declared `[policy]`: a server that never rotates,
    /// declared as `bcp`, fails; judged by a policy file saying it never rotates, it passes.
    #[test]
    fn a_policy_file_replaces_the_target_s_declared_policy() {
        let never =
            "profile = \"bcp\"\nrotation_public = \"never\"\nrotation_confidential = \"never\"\n";
        let rt = runtime();
        let server = rt
            .block_on(crate::embedded::Embedded::start(
                Policy::from_toml(never).unwrap(),
                Defects::none(),
            ))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (target, policy) = files(dir.path(), &server, "profile = \"bcp\"", never);
        let declared = run(RunArgs {
            target: Some(target.clone()),
            ..args()
        });
        let overridden = run(RunArgs {
            target: Some(target),
            policy: Some(policy),
            ..args()
        });
        rt.block_on(server.stop());
        assert_eq!(declared, EXIT_FINDINGS);
        assert_eq!(overridden, EXIT_OK);
    }

    /// A policy file that does not load is a bad file (exit 3), named with its fault, with a
    /// target as with the embedded server.
    #[test]
    fn a_bad_policy_file_is_named_with_its_fault() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("inferred.toml");
        std::fs::write(&bad, "profile = \"bcp\"\nrotashun = \"never\"\n").unwrap();
        let target = dir.path().join("t.toml");
        std::fs::write(
            &target,
            "[server]\nissuer = \"http://127.0.0.1:1\"\n[[clients]]\nid = \"a\"\nsecret = \"s\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n[[clients]]\nid = \"b\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n",
        )
        .unwrap();
        for t in [None, Some(target.clone())] {
            let f = run_checked(&RunArgs {
                target: t,
                policy: Some(bad.clone()),
                ..args()
            })
            .unwrap_err();
            assert_eq!(f.code(), EXIT_BAD_FILE, "{f}");
            let m = f.to_string();
            assert!(m.contains("inferred.toml") && m.contains("rotashun"), "{m}");
        }
        let missing = dir.path().join("none.toml");
        let f = run_checked(&RunArgs {
            policy: Some(missing),
            ..args()
        })
        .unwrap_err();
        assert_eq!(f.code(), EXIT_BAD_FILE);
        assert!(f.to_string().contains("none.toml"), "{f}");
        // A policy the target's clients cannot serve is named too.
        let strict = dir.path().join("strict.toml");
        std::fs::write(&strict, "profile = \"strict\"\n").unwrap();
        let f = run_checked(&RunArgs {
            target: Some(target),
            policy: Some(strict),
            ..args()
        })
        .unwrap_err();
        assert_eq!(f.code(), EXIT_BAD_FILE);
        assert!(f.to_string().contains("strict.toml"), "{f}");
    }

    /// The most permissive policy waives no RFC MUST: a server that honours another client's
    /// refresh token (RFC 6749 §10.4) fails under it, as the embedded server and as a target.
    #[test]
    fn a_permissive_policy_waives_no_must() {
        let dir = tempfile::tempdir().unwrap();
        let permissive = "profile = \"rfc6749\"\n";
        let file = dir.path().join("permissive.toml");
        std::fs::write(&file, permissive).unwrap();
        let failed = |report: &str| {
            let v: serde_json::Value = serde_json::from_str(report).unwrap();
            v["failures"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["id"] == "refresh.client-binding")
        };
        // The embedded server, through the library so the report can be read.
        let rt = runtime();
        let set = tokenlife_harness::builtin::scenarios().unwrap();
        let report = rt
            .block_on(run_embedded(
                load_policy(None, Some(&file)).unwrap(),
                Defects::from(Defect::CrossClient),
                &set,
                RunOptions::default(),
            ))
            .unwrap();
        assert!(failed(&serde_json::to_string(&report).unwrap()));
        assert_eq!(
            run(RunArgs {
                policy: Some(file.clone()),
                defects: vec!["cross-client".into()],
                ..args()
            }),
            EXIT_FINDINGS
        );
        // The same server as a target declaring the strictest profile it meets, judged by
        // the permissive file.
        let server = rt
            .block_on(crate::embedded::Embedded::start(
                Policy::profile("rfc6749").unwrap(),
                Defects::from(Defect::CrossClient),
            ))
            .unwrap();
        let (target, _) = files(dir.path(), &server, "profile = \"bcp\"", permissive);
        let code = run(RunArgs {
            target: Some(target),
            policy: Some(file),
            ..args()
        });
        rt.block_on(server.stop());
        assert_eq!(code, EXIT_FINDINGS);
    }
}
