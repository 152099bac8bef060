//! `tokenlife mutants`: the suite's mutation score over the defect catalogue.
//!
//! For every defect of the reference server (`../shared/defects.md`), the default suite
//! runs against the embedded server (a SQLite file, so `restart` steps reach the store)
//! with that defect injected, under the profile where the defect is observable. A defect
//! is killed when some check fails. The clean server runs the same suite under every
//! profile used and must show no failure at all, or a kill would mean nothing.
//! Exit codes: 0 every defect killed with zero clean failures, 1 otherwise, 2 usage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokenlife_harness::{Report, RunOptions, ScenarioSet};
use tokenlife_model::Policy;
use tokenlife_server::{Defect, Defects};

use crate::embedded::{run_embedded, suite_options};
use crate::outcome::{exit_code, out, outln, runtime, Failure, Format, EXIT_FINDINGS, EXIT_OK};

/// Arguments of `tokenlife mutants`.
#[derive(Debug, clap::Args)]
pub struct MutantsArgs {
    /// Only these defects (repeatable); default: the whole catalogue.
    #[arg(long = "defect")]
    pub defects: Vec<String>,
    /// Runs at once (each an embedded server and a suite).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// The seed of the random sequences (the same seed, the same suite).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Exhaustive generation depth, as in `tokenlife run`.
    #[arg(long, default_value_t = 4)]
    pub depth: u16,
    /// Random sequences, as in `tokenlife run`.
    #[arg(long, default_value_t = 0)]
    pub cases: u32,
    /// The aimed search's budget in requests, as in `tokenlife run`.
    #[arg(long, default_value_t = tokenlife_harness::search::DEFAULT_BUDGET)]
    pub budget: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The profile under which a defect is observable: `bcp` unless the defect needs a knob
/// that `bcp` leaves off (an absolute cap, a grace window).
pub fn profile_for(d: Defect) -> &'static str {
    match d {
        Defect::CapExtended => "strict",
        Defect::GraceTooWide => "grace-same",
        _ => tokenlife_model::policy::DEFAULT_PROFILE,
    }
}

/// One defect's row of the kill matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The defect's name.
    pub name: String,
    /// The profile it ran under.
    pub profile: String,
    /// Whether some check failed.
    pub killed: bool,
    /// The checks that failed (the run stops at the first failing scenario or sequence).
    pub checks: Vec<String>,
    /// Why the run could not happen, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// A clean run.
#[derive(Clone, Debug, Serialize)]
pub struct Clean {
    /// The profile.
    pub profile: String,
    /// Checks evaluated.
    pub checks: usize,
    /// Failed checks (must be 0).
    pub failures: usize,
    /// The failed check ids.
    pub failed_checks: Vec<String>,
    /// Why the run could not happen, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole result.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    /// Failed checks over every clean run.
    pub clean_failures: usize,
    /// The clean runs.
    pub clean: Vec<Clean>,
    /// Each defect.
    pub defects: Vec<Row>,
    /// Killed defects / defects.
    pub score: f64,
    /// The seed of the random sequences.
    pub seed: u64,
    /// Seconds in all.
    pub seconds: f64,
}

impl Matrix {
    /// Every defect killed and the clean server clean.
    pub fn passed(&self) -> bool {
        self.clean_failures == 0
            && self.clean.iter().all(|c| c.error.is_none())
            && self.defects.iter().all(|d| d.killed)
    }

    /// The matrix for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for c in &self.clean {
            match &c.error {
                Some(e) => out.push_str(&format!("clean {:<11} error: {e}\n", c.profile)),
                None => out.push_str(&format!(
                    "clean {:<11} {} checks, {} failed{}\n",
                    c.profile,
                    c.checks,
                    c.failures,
                    if c.failed_checks.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", c.failed_checks.join(", "))
                    }
                )),
            }
        }
        out.push('\n');
        out.push_str(&format!(
            "{:<24} {:<11} {:<9} by\n",
            "defect", "profile", "verdict"
        ));
        for d in &self.defects {
            let verdict = match (&d.error, d.killed) {
                (Some(_), _) => "ERROR",
                (None, true) => "killed",
                (None, false) => "SURVIVED",
            };
            let by = match &d.error {
                Some(e) => e.clone(),
                None => d.checks.join(", "),
            };
            out.push_str(&format!(
                "{:<24} {:<11} {:<9} {by}\n",
                d.name, d.profile, verdict
            ));
        }
        let killed = self.defects.iter().filter(|d| d.killed).count();
        out.push_str(&format!(
            "\nscore {killed}/{} = {:.2}; clean failures {}; seed {}; {:.1} s\n",
            self.defects.len(),
            self.score,
            self.clean_failures,
            self.seed,
            self.seconds
        ));
        out
    }
}

fn failed_checks(r: &Report) -> Vec<String> {
    let mut ids: Vec<String> = r.failures.iter().map(|f| f.id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Runs the matrix: clean runs first, then each defect, `jobs` at a time.
pub async fn matrix(
    defects: &[Defect],
    set: ScenarioSet,
    options: RunOptions,
    jobs: usize,
) -> Matrix {
    let started = Instant::now();
    let set = Arc::new(set);
    let mut profiles: Vec<&'static str> = defects.iter().map(|d| profile_for(*d)).collect();
    profiles.sort_unstable();
    profiles.dedup();
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    // Clean runs are indexed after the defects.
    let jobs_list: Vec<(Option<Defect>, &'static str)> = defects
        .iter()
        .map(|d| (Some(*d), profile_for(*d)))
        .chain(profiles.iter().map(|p| (None, *p)))
        .collect();
    for (i, (defect, profile)) in jobs_list.iter().copied().enumerate() {
        let set = set.clone();
        let permits = permits.clone();
        let options = RunOptions {
            stop_at_first_failure: defect.is_some(),
            ..options.clone()
        };
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let t = Instant::now();
            let result = match Policy::profile(profile) {
                None => Err(format!("no built-in profile `{profile}`")),
                Some(policy) => {
                    let injected = defect.map_or_else(Defects::none, Defects::from);
                    run_embedded(policy, injected, &set, options)
                        .await
                        .map_err(|f| f.to_string())
                }
            };
            (i, result, t.elapsed())
        });
    }
    let mut results: Vec<Option<(Result<Report, String>, Duration)>> =
        jobs_list.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, r, t)) = joined {
            results[i] = Some((r, t));
        }
    }
    let mut rows = Vec::new();
    let mut clean = Vec::new();
    for ((defect, profile), result) in jobs_list.iter().zip(results) {
        let (result, took) = result.unwrap_or_else(|| {
            (
                Err("the run's task ended without a result".into()),
                Duration::ZERO,
            )
        });
        match defect {
            Some(d) => rows.push(match result {
                Ok(r) => Row {
                    name: d.name().to_string(),
                    profile: profile.to_string(),
                    killed: r.failed > 0,
                    checks: failed_checks(&r),
                    error: None,
                    seconds: took.as_secs_f64(),
                },
                Err(e) => Row {
                    name: d.name().to_string(),
                    profile: profile.to_string(),
                    killed: false,
                    checks: Vec::new(),
                    error: Some(e),
                    seconds: took.as_secs_f64(),
                },
            }),
            None => clean.push(match result {
                Ok(r) => Clean {
                    profile: profile.to_string(),
                    checks: r.checks,
                    failures: r.failed,
                    failed_checks: failed_checks(&r),
                    error: None,
                },
                Err(e) => Clean {
                    profile: profile.to_string(),
                    checks: 0,
                    failures: 0,
                    failed_checks: Vec::new(),
                    error: Some(e),
                },
            }),
        }
    }
    let killed = rows.iter().filter(|r| r.killed).count();
    Matrix {
        clean_failures: clean.iter().map(|c| c.failures).sum(),
        clean,
        score: if rows.is_empty() {
            1.0
        } else {
            killed as f64 / rows.len() as f64
        },
        defects: rows,
        seed: options.seed,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs `tokenlife mutants`.
pub fn run(args: MutantsArgs) -> u8 {
    exit_code(run_checked(&args))
}

fn run_checked(args: &MutantsArgs) -> Result<u8, Failure> {
    let mut defects = args
        .defects
        .iter()
        .map(|d| d.parse::<Defect>().map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    if defects.is_empty() {
        defects = Defect::ALL.to_vec();
    }
    let set = tokenlife_harness::builtin::scenarios().map_err(Failure::usage)?;
    let options = suite_options(args.seed, args.depth, args.cases, args.budget);
    let runtime = runtime()?;
    if args.format == Format::Human {
        eprintln!(
            "tokenlife mutants: {} defects, {} at a time, seed {}",
            defects.len(),
            args.jobs.max(1),
            args.seed
        );
    }
    let m = runtime.block_on(matrix(&defects, set, options, args.jobs));
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&m).unwrap_or_default()),
        Format::Human => out!("{}", m.human()),
    }
    Ok(if m.passed() { EXIT_OK } else { EXIT_FINDINGS })
}
