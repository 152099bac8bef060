//! `tokenlife check`: model-check a policy and report every property. With
//! `--write-scenario DIR`, each violated property's shortest counterexample becomes a
//! scenario file there (`DIR/<property id>.toml`, see `tokenlife_harness::counterexample`),
//! which `tokenlife run --scenarios DIR` replays against a server.

use std::path::{Path, PathBuf};

use tokenlife_harness::counterexample;

use tokenlife_model::check::{check_with, CheckReport, Engine, Status};
use tokenlife_model::model::Bounds;
use tokenlife_model::model::LifecycleModel;
use tokenlife_model::policy::Policy;

use crate::outcome::{fail, out, outln, Format, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::policy::load_policy;
use crate::render;

/// Arguments of `tokenlife check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A built-in profile (see `tokenlife profiles`); default `bcp`.
    #[arg(long, conflicts_with_all = ["policy", "all_profiles"])]
    pub profile: Option<String>,
    /// A policy file: `profile` plus overriding knobs (TOML).
    #[arg(long, conflicts_with = "all_profiles")]
    pub policy: Option<PathBuf>,
    /// Check every built-in profile and print the matrix.
    #[arg(long)]
    pub all_profiles: bool,
    /// Grants (authorizations) at most.
    #[arg(long, default_value_t = 1)]
    pub grants: u8,
    /// Successful refreshes at most, over all grants.
    #[arg(long, default_value_t = 4)]
    pub refreshes: u8,
    /// Actions per path at most.
    #[arg(long)]
    pub depth: Option<u16>,
    /// Checker threads (default: the machine's cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Which search decides the verdicts: our own BFS (default; shortest paths in one pass)
    /// or stateright's BFS (then ours for the shortest paths).
    #[arg(long, value_enum, default_value_t = EngineArg::Own)]
    pub engine: EngineArg,
    /// Write each violated property's shortest counterexample as a scenario file into this
    /// folder (`<property id>.toml`), for `tokenlife run --scenarios`.
    #[arg(long, value_name = "DIR", conflicts_with = "all_profiles")]
    pub write_scenario: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// Our own BFS.
    Own,
    /// stateright's BFS.
    Stateright,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Engine {
        match e {
            EngineArg::Own => Engine::Own,
            EngineArg::Stateright => Engine::Stateright,
        }
    }
}

/// Runs `tokenlife check`.
pub fn run(args: CheckArgs) -> u8 {
    let bounds = Bounds {
        grants: args.grants,
        refreshes: args.refreshes,
        depth: args.depth,
    };
    if let Err(e) = bounds.validate() {
        return fail(EXIT_USAGE, e);
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return fail(EXIT_USAGE, "--threads must be at least 1");
    }
    if args.all_profiles {
        let reports: Vec<CheckReport> = Policy::profile_names()
            .filter_map(Policy::profile)
            .map(|p| check_with(LifecycleModel::new(p, bounds), threads, args.engine.into()))
            .collect();
        match args.format {
            Format::Json => outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "profiles": reports }))
                    .unwrap_or_default()
            ),
            Format::Human => out!("{}", render::matrix(&reports)),
        }
        return if reports.iter().all(CheckReport::passed) {
            EXIT_OK
        } else {
            EXIT_FINDINGS
        };
    }
    let policy = match load_policy(args.profile.as_deref(), args.policy.as_ref()) {
        Ok(p) => p,
        Err(f) => return fail(f.code(), f),
    };
    // The RFC standing of the declared knobs where it departs from a MUST or SHOULD, as
    // `tokenlife profiles` prints it for the built-in ones.
    let notes = policy.notes();
    let report = check_with(
        LifecycleModel::new(policy.clone(), bounds),
        threads,
        args.engine.into(),
    );
    let written = match &args.write_scenario {
        Some(dir) => {
            let name = match &args.policy {
                Some(file) => format!("{} (file {})", policy.profile, file.display()),
                None => policy.profile.clone(),
            };
            match write_scenarios(dir, &report, &policy, &name) {
                Ok(w) => w,
                Err(e) => return fail(EXIT_USAGE, e),
            }
        }
        None => Vec::new(),
    };
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Human => {
            out!("{}", render::report(&report));
            for note in notes {
                outln!("note: {note}");
            }
            for path in &written {
                outln!("wrote {}", path.display());
            }
        }
    }
    if args.format == Format::Json {
        for path in &written {
            eprintln!("wrote {}", path.display());
        }
    }
    if report.passed() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

/// Writes each violated property's shortest counterexample into `dir` as
/// `<property id>.toml`; returns the files written.
pub fn write_scenarios(
    dir: &Path,
    report: &CheckReport,
    policy: &Policy,
    policy_name: &str,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for p in &report.properties {
        let (Status::Violated, Some(trace)) = (p.status, &p.counterexample) else {
            continue;
        };
        let w = counterexample::scenario(p, policy, policy_name, trace);
        let path = dir.join(format!("{}.toml", w.name));
        std::fs::write(&path, &w.text)
            .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
