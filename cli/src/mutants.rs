//! `tokenlife mutants`: the suite's mutation score over the defect catalogue.
//!
//! For every defect of the reference server (`../shared/defects.md`, then the deep ones),
//! the default suite runs against the embedded server (a SQLite file, so `restart` steps
//! reach the store) with that defect injected, under the policy where the defect is
//! observable: a built-in profile, or a profile with knobs changed, shipped as a policy file
//! in `reference-server/policies/`. A defect is killed when some check fails. The clean
//! server runs the same suite under every policy used and must show no failure at all, or a
//! kill would mean nothing.
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

/// The built-in profile a defect's policy starts from: `bcp` unless the defect needs a
/// knob that `bcp` leaves off (an absolute cap, a grace window). [`policy_for`] changes
/// knobs of it where no profile shows the defect.
pub fn profile_for(d: Defect) -> &'static str {
    match d {
        Defect::CapExtended => "strict",
        Defect::GraceTooWide | Defect::GraceSlides | Defect::ExpiryOnlyAtRotation => "grace-same",
        Defect::ReuseCountReset => "grace-new",
        // Public clients' tokens DPoP-bound: every DPoP defect is observable there.
        Defect::DpopRefreshWithoutProof
        | Defect::DpopRefreshOtherKey
        | Defect::DpopJtiReplay
        | Defect::DpopAthUnchecked
        | Defect::DpopNonceConsumesToken => "bcp-dpop",
        _ => tokenlife_model::policy::DEFAULT_PROFILE,
    }
}

/// The policy a defect runs under: a built-in profile, or a policy file of
/// `reference-server/policies/` (a profile with knobs changed), named by its file stem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DefectPolicy {
    /// A built-in profile.
    Profile(&'static str),
    /// A policy file: its name and its text.
    File(&'static str, &'static str),
}

/// [`DefectPolicy::describe`] of a built-in profile.
const BUILT_IN: &str = "built-in profile";

/// A policy file of `reference-server/policies/`, by its stem.
macro_rules! policy_file {
    ($stem:literal) => {
        DefectPolicy::File(
            $stem,
            include_str!(concat!("../../reference-server/policies/", $stem, ".toml")),
        )
    };
}

/// Every policy file a defect runs under.
pub const POLICY_FILES: [DefectPolicy; 4] = [
    policy_file!("grace-new-reuse-once"),
    policy_file!("bcp-idle"),
    policy_file!("grace-same-short"),
    policy_file!("bcp-dpop-nonce"),
];

impl DefectPolicy {
    /// The name shown in the matrix: the profile, or the file's stem.
    pub fn name(self) -> &'static str {
        match self {
            DefectPolicy::Profile(name) | DefectPolicy::File(name, _) => name,
        }
    }

    /// What it is: `built-in profile`, or a policy file's settings and where it is.
    pub fn describe(self) -> String {
        match self {
            DefectPolicy::Profile(_) => BUILT_IN.into(),
            DefectPolicy::File(name, text) => {
                let knobs: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .collect();
                format!(
                    "{} (reference-server/policies/{name}.toml)",
                    knobs.join("; ")
                )
            }
        }
    }

    /// The policy.
    pub fn policy(self) -> Result<Policy, String> {
        match self {
            DefectPolicy::Profile(name) => {
                Policy::profile(name).ok_or_else(|| format!("no built-in profile `{name}`"))
            }
            DefectPolicy::File(name, text) => {
                Policy::from_toml(text).map_err(|e| format!("policy file {name}: {e}"))
            }
        }
    }
}

/// The policy under which a defect is observable: [`profile_for`]'s profile, or for a
/// defect that needs a knob no profile sets (a reuse limit, an idle timeout, a refresh
/// lifetime that ends inside a grace window), a policy file built on it.
pub fn policy_for(d: Defect) -> DefectPolicy {
    let [reuse_once, idle, short, dpop_nonce] = POLICY_FILES;
    match d {
        Defect::ReuseCountReset => reuse_once,
        Defect::DpopNonceConsumesToken => dpop_nonce,
        Defect::IdleRefreshedByRefused => idle,
        Defect::ExpiryOnlyAtRotation => short,
        _ => DefectPolicy::Profile(profile_for(d)),
    }
}

/// One defect's row of the kill matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The defect's name.
    pub name: String,
    /// The policy it ran under: a built-in profile, or a policy file's stem.
    pub profile: String,
    /// What that policy is ([`DefectPolicy::describe`]).
    pub policy: String,
    /// Whether some check failed.
    pub killed: bool,
    /// The checks that failed (the run stops at the first failing scenario or sequence).
    pub checks: Vec<String>,
    /// Where the first failure came: a shipped scenario's name, `exhaustive-depth-N` (the
    /// transition cover), `search-seed-N` (the aimed search) or `random-seed-N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed_in: Option<String>,
    /// Actions the run took until it stopped (at the first failure, when killed): its cost
    /// in steps, whatever the machine.
    pub actions: usize,
    /// Why the run could not happen, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// A clean run.
#[derive(Clone, Debug, Serialize)]
pub struct Clean {
    /// The policy: a built-in profile, or a policy file's stem.
    pub profile: String,
    /// What that policy is ([`DefectPolicy::describe`]).
    pub policy: String,
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
                Some(e) => out.push_str(&format!("clean {:<20} error: {e}\n", c.profile)),
                None => out.push_str(&format!(
                    "clean {:<20} {} checks, {} failed{}\n",
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
        for c in self.clean.iter().filter(|c| c.policy != BUILT_IN) {
            out.push_str(&format!("policy {}: {}\n", c.profile, c.policy));
        }
        out.push('\n');
        out.push_str(&format!(
            "{:<25} {:<20} {:<9} {:<24} {:>7} by\n",
            "defect", "policy", "verdict", "in", "actions"
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
                "{:<25} {:<20} {:<9} {:<24} {:>7} {by}\n",
                d.name,
                d.profile,
                verdict,
                d.killed_in.as_deref().unwrap_or("-"),
                d.actions
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
    let mut policies: Vec<DefectPolicy> = defects.iter().map(|d| policy_for(*d)).collect();
    policies.sort_unstable();
    policies.dedup();
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    // Clean runs are indexed after the defects.
    let jobs_list: Vec<(Option<Defect>, DefectPolicy)> = defects
        .iter()
        .map(|d| (Some(*d), policy_for(*d)))
        .chain(policies.iter().map(|p| (None, *p)))
        .collect();
    for (i, (defect, policy)) in jobs_list.iter().copied().enumerate() {
        let set = set.clone();
        let permits = permits.clone();
        let options = RunOptions {
            stop_at_first_failure: defect.is_some(),
            ..options.clone()
        };
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let t = Instant::now();
            let result = match policy.policy() {
                Err(e) => Err(e),
                Ok(policy) => {
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
    for ((defect, policy), result) in jobs_list.iter().zip(results) {
        let profile = policy.name();
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
                    policy: policy.describe(),
                    killed: r.failed > 0,
                    checks: failed_checks(&r),
                    killed_in: r
                        .scenarios
                        .iter()
                        .find(|s| s.status == tokenlife_harness::report::ScenarioStatus::Failed)
                        .map(|s| s.name.clone()),
                    actions: r.actions,
                    error: None,
                    seconds: took.as_secs_f64(),
                },
                Err(e) => Row {
                    name: d.name().to_string(),
                    profile: profile.to_string(),
                    policy: policy.describe(),
                    killed: false,
                    checks: Vec::new(),
                    killed_in: None,
                    actions: 0,
                    error: Some(e),
                    seconds: took.as_secs_f64(),
                },
            }),
            None => clean.push(match result {
                Ok(r) => Clean {
                    profile: profile.to_string(),
                    policy: policy.describe(),
                    checks: r.checks,
                    failures: r.failed,
                    failed_checks: failed_checks(&r),
                    error: None,
                },
                Err(e) => Clean {
                    profile: profile.to_string(),
                    policy: policy.describe(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defect_names_a_policy_that_loads_on_its_profile() {
        for d in Defect::ALL {
            let p = policy_for(d);
            let policy = p.policy().unwrap_or_else(|e| panic!("{d}: {e}"));
            assert!(
                policy.profile.starts_with(profile_for(d)),
                "{d}: {}",
                policy.profile
            );
        }
        for f in POLICY_FILES {
            assert!(f.policy().is_ok(), "{}", f.name());
            assert!(f.describe().contains(f.name()), "{}", f.describe());
        }
        assert_eq!(
            policy_for(Defect::GraceSlides),
            DefectPolicy::Profile("grace-same")
        );
        assert_eq!(policy_for(Defect::ReplayAccepted).describe(), BUILT_IN);
    }

    #[test]
    fn the_deep_defects_run_with_the_knob_they_need() {
        let policy = |d| {
            policy_for(d)
                .policy()
                .unwrap_or_else(|e| panic!("{d}: {e}"))
        };
        let reuse = policy(Defect::ReuseCountReset);
        assert!(reuse.grace.is_some_and(|g| g.max_reuse == Some(1)));
        assert!(policy(Defect::IdleRefreshedByRefused)
            .idle_timeout
            .is_some());
        // The refresh token's lifetime ends inside the window its rotation opens.
        let short = policy(Defect::ExpiryOnlyAtRotation);
        let window = short.grace.and_then(|g| g.window).map(|w| w.get());
        let (access, refresh) = (short.access_ttl.get(), short.refresh_ttl.map(|r| r.get()));
        assert!(matches!((window, refresh), (Some(w), Some(r)) if access < r && r < access + w));
    }
}
