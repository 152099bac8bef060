//! `tokenlife load`: many token families at once, concurrent clients racing each other, an
//! attacker replaying stolen refresh tokens, revocations, resource calls and, with
//! `--crash-every`, the server killed with SIGKILL and restarted on its store while the load
//! runs; then every family's history is checked against the policy (harness `load`).
//!
//! ```text
//! tokenlife load [--target FILE] [--families 64] [--concurrency 16] [--duration 10s] [--seed S]
//!                [--profile NAME | --policy FILE] [--defect NAME]...
//!                [--server in-process|child] [--crash-every SECONDS]
//!                [--instances N --database postgres://...] [--server-cpus LIST]
//!                [--report-dir DIR] [--format human|json] [--allow-remote]
//! tokenlife load --bench-checker N     # the checker alone, on N simulated histories
//! ```
//!
//! Without `--target` the reference server is loaded: in process (frozen test clock, a
//! temporary SQLite file) by default; as `tokenlife serve` child processes of this executable
//! (wall clock) with `--server child`, `--crash-every` or `--instances`. Children are killed
//! when the load ends, fails or is interrupted (Ctrl-C / SIGTERM end the load early; the
//! histories so far are still checked). A target file names any server; one that is not on
//! a loopback address is refused unless `--allow-remote`. Exit codes: 0 no violation,
//! 1 violations, 2 usage, 3 a bad target or policy file, 4 the target cannot be reached
//! (or a crashed server does not come back).
//!
//! Figures (release build at 8b3f62f, 2-core machine, server side on CPU 1 and the load on
//! CPU 0: `taskset -c 0 tokenlife load --server child --server-cpus 1 --duration 20s --seed 1`;
//! PostgreSQL's backends pinned to CPU 1 as well): refresh grants answered 200 per second,
//! SQLite file 1,402 and 1,477 (p99 82-84 ms), PostgreSQL one instance 468 (p99 72 ms), two
//! instances 378 (p99 101 ms); node-oidc-provider 9.13.3 (`interop/oidc-provider`, in
//! memory) in the same session 251 and 280, so the durable reference server does 5.3-5.6
//! times its refresh throughput; zero violations everywhere; the load generator used 0.1-0.26
//! of a core. The checker: 1.37 M simulated bcp histories/s (17.8 M requests/s), 0.32 M
//! grace-new histories/s (`--bench-checker 100000`); on the load's own histories 90-260 k/s.
//!
//! This file turns the arguments into a checked configuration and starts the load on one of
//! three servers; [`fleet`] runs the child processes, [`loopback`] guards remote targets,
//! [`checker_bench`] times the checker alone.

mod checker_bench;
mod fleet;
mod loopback;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore as _;
use tokenlife_harness::load::{self, Fleet, Header, LoadError, LoadReport, Options};
use tokenlife_harness::target;
use tokenlife_model::Policy;
use tokenlife_server::Defect;
use tokio::runtime::Runtime;

use self::checker_bench::bench_checker;
use self::fleet::{Children, FleetConfig};
use self::loopback::remote_url;
use crate::cpu::{thread_ticks, TICKS_PER_SECOND};
use crate::duration::parse_duration;
use crate::embedded::Embedded;
use crate::outcome::{exit_code, out, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::policy::load_policy;

/// Where the reference server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ServerMode {
    /// In this process, on its own threads, with a frozen test clock.
    #[default]
    InProcess,
    /// `tokenlife serve` child processes (wall clock), which `--crash-every` can kill.
    Child,
}

/// Arguments of `tokenlife load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// A target file; without one, the reference server is loaded.
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// Token families live at any time (a retired family is replaced by a new one).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub families: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// How long the load runs (`10s`, `500ms`, `2m`; at most 10 minutes).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "TIME")]
    pub duration: Duration,
    /// The most requests sent.
    #[arg(long, default_value_t = 10_000_000, value_name = "N")]
    pub max_requests: u64,
    /// The seed of every random choice (default: a fresh one, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// No attacker stealing and replaying refresh tokens.
    #[arg(long)]
    pub no_attacker: bool,
    /// Per-request timeout in seconds (a request without an answer is "unknown").
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub timeout: u64,
    /// The reference server's profile (default `bcp`).
    #[arg(long, conflicts_with_all = ["target", "policy"])]
    pub profile: Option<String>,
    /// The reference server's policy file.
    #[arg(long, conflicts_with = "target", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Inject a defect into the reference server (repeatable).
    #[arg(long = "defect", conflicts_with = "target", value_name = "NAME")]
    pub defects: Vec<String>,
    /// Where the reference server runs (`--crash-every` and `--instances` need `child`).
    #[arg(long, value_enum, conflicts_with = "target")]
    pub server: Option<ServerMode>,
    /// Kill a server instance with SIGKILL at this period and restart it on its store
    /// (`2`, `0.5s`, `300ms`).
    #[arg(long, value_parser = parse_duration, conflicts_with = "target", value_name = "TIME")]
    pub crash_every: Option<Duration>,
    /// With --crash-every: end after this many crash-restarts (each audited), even before
    /// --duration is over (which stays the cap).
    #[arg(long, requires = "crash_every", value_name = "N")]
    pub crashes: Option<usize>,
    /// Reference server instances sharing one store (more than one needs PostgreSQL);
    /// requests are spread over all of them.
    #[arg(long, default_value_t = 1, conflicts_with = "target", value_name = "N")]
    pub instances: usize,
    /// The store of the child servers: `sqlite:PATH`, a path, or `postgres://...`
    /// (default: a SQLite file in a temporary folder).
    #[arg(long, conflicts_with = "target", value_name = "URL")]
    pub database: Option<String>,
    /// Pin the child servers to these CPUs (`taskset -c LIST`); pin the load generator
    /// yourself (`taskset -c 0 tokenlife load ... --server-cpus 1`).
    #[arg(long, conflicts_with = "target", value_name = "LIST")]
    pub server_cpus: Option<String>,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub threads: usize,
    /// Allow a target that is not on a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Write load-report.json and load-report.md (mermaid timelines) into this folder.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Time the checker alone on this many simulated histories of a correct server.
    #[arg(long, value_name = "N", conflicts_with_all = ["target", "crash_every"])]
    pub bench_checker: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs `tokenlife load`.
pub fn run(args: LoadArgs) -> u8 {
    exit_code(run_checked(&args))
}

fn run_checked(args: &LoadArgs) -> Result<u8, Failure> {
    if args.families == 0 || args.concurrency == 0 || args.threads == 0 {
        return Err(Failure::usage(
            "--families, --concurrency and --threads must be at least 1",
        ));
    }
    if args.families > 100_000 || args.concurrency > 4_096 || args.threads > 256 {
        return Err(Failure::usage(
            "at most 100000 --families, 4096 --concurrency and 256 --threads: a load stays bounded",
        ));
    }
    if args.duration.is_zero() {
        return Err(Failure::usage("--duration must be positive"));
    }
    if args
        .crash_every
        .is_some_and(|d| d < Duration::from_millis(50))
    {
        return Err(Failure::usage("--crash-every must be at least 50ms"));
    }
    if args.instances == 0 || args.instances > 16 {
        return Err(Failure::usage("--instances must be between 1 and 16"));
    }
    let seed = args.seed.unwrap_or_else(|| rand::rng().next_u64());
    if let Some(n) = args.bench_checker {
        let policy = load_policy(args.profile.as_deref(), args.policy.as_ref())?;
        return Ok(bench_checker(&policy, n, seed, args.format));
    }
    let defects = args
        .defects
        .iter()
        .map(|d| d.parse::<Defect>().map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    let child = args.server == Some(ServerMode::Child)
        || args.crash_every.is_some()
        || args.instances > 1
        || args.database.is_some()
        || args.server_cpus.is_some();
    if child && args.server == Some(ServerMode::InProcess) {
        return Err(Failure::usage(
            "--crash-every, --instances, --database and --server-cpus need --server child",
        ));
    }
    let runtime = new_runtime(args.threads, LOAD_THREADS)?;
    let options = Options {
        families: args.families,
        concurrency: args.concurrency,
        duration: args.duration,
        max_requests: args.max_requests,
        seed,
        attacker: !args.no_attacker,
        crash_every: args.crash_every,
        crashes: args.crashes,
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let load = Load {
        runtime: &runtime,
        options: &options,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let ticks_before = thread_ticks(LOAD_THREADS);
    let report = if let Some(path) = &args.target {
        load.on_target(args, path, seed)?
    } else {
        let policy = load_policy(args.profile.as_deref(), args.policy.as_ref())?;
        let header = Header {
            target: "reference server".into(),
            server: String::new(),
            profile: policy.profile.clone(),
            defects: defects.iter().map(|d| d.name().to_string()).collect(),
            seed,
            live_families: args.families,
            concurrency: args.concurrency,
        };
        if child {
            let fleet = FleetConfig {
                instances: args.instances,
                database: args.database.clone(),
                server_cpus: args.server_cpus.clone(),
            };
            load.on_fleet(&fleet, policy, &defects, header)?
        } else {
            load.in_process(policy, defects, header)?
        }
    };
    let mut report = report.map_err(|e| Failure::of_target(e.is_unreachable(), e))?;
    if let (Some(before), Some(after)) = (ticks_before, thread_ticks(LOAD_THREADS)) {
        report.load_generator_cores =
            Some(after.saturating_sub(before) as f64 / TICKS_PER_SECOND / report.seconds.max(1e-9));
    }
    if let Some(dir) = &args.report_dir {
        write_dir(&report, dir).map_err(Failure::Usage)?;
    }
    print(&report, args.format);
    if report.refreshes_ok == 0 {
        return Err(Failure::unreachable(
            "no refresh grant succeeded: nothing was tested",
        ));
    }
    Ok(if report.clean() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// The load's runtime, options and stop flag, and the three servers it can run against.
struct Load<'a> {
    runtime: &'a Runtime,
    options: &'a Options,
    stop: Arc<AtomicBool>,
}

impl Load<'_> {
    /// Runs the load on `targets`, until it ends or a signal stops it.
    fn on(
        &self,
        targets: &[target::Target],
        header: Header,
        fleet: Option<Arc<dyn Fleet>>,
    ) -> Result<LoadReport, LoadError> {
        self.runtime.block_on(with_signals(
            &self.stop,
            load::run(targets, self.options, header, fleet, Arc::clone(&self.stop)),
        ))
    }

    /// The server a target file names (on a loopback address unless `--allow-remote`).
    fn on_target(
        &self,
        args: &LoadArgs,
        path: &Path,
        seed: u64,
    ) -> Result<Result<LoadReport, LoadError>, Failure> {
        let t = target::load(path)
            .map_err(|e| Failure::bad_file(format!("{}: {e}", path.display())))?;
        if !args.allow_remote {
            if let Some(url) = remote_url(&t) {
                return Err(Failure::usage(format!(
                    "{url} is not a loopback address: a load test can hurt a server; pass --allow-remote if this one is yours"
                )));
            }
        }
        let header = Header {
            target: t.name(),
            server: "target file".into(),
            profile: t.policy.profile.clone(),
            defects: Vec::new(),
            seed,
            live_families: args.families,
            concurrency: args.concurrency,
        };
        Ok(self.on(&[t], header, None))
    }

    /// The reference server as `tokenlife serve` child processes, killed when the load ends.
    fn on_fleet(
        &self,
        config: &FleetConfig,
        policy: Policy,
        defects: &[Defect],
        mut header: Header,
    ) -> Result<Result<LoadReport, LoadError>, Failure> {
        let fleet = self
            .runtime
            .block_on(Children::start(config, &policy, defects))?;
        header.server = fleet.describe();
        let targets = fleet.targets(&policy)?;
        let fleet = Arc::new(fleet);
        let dyn_fleet: Arc<dyn Fleet> = fleet.clone();
        let r = self.on(&targets, header, Some(dyn_fleet));
        self.runtime.block_on(fleet.stop());
        Ok(r)
    }

    /// The reference server in this process, on its own runtime, so that its threads are
    /// not the load's.
    fn in_process(
        &self,
        policy: Policy,
        defects: Vec<Defect>,
        mut header: Header,
    ) -> Result<Result<LoadReport, LoadError>, Failure> {
        let server_rt = new_runtime(2, "tl-server")?;
        let embedded = server_rt
            .block_on(Embedded::start(policy, defects.into_iter().collect()))
            .map_err(|e| {
                Failure::unreachable(format!("failed to start the embedded server: {e}"))
            })?;
        header.server = "in process, temporary SQLite file, frozen test clock".into();
        let r = self.on(&[embedded.target()], header, None);
        server_rt.block_on(embedded.stop());
        Ok(r)
    }
}

/// The name of the load generator's threads (their CPU time is read from `/proc`).
const LOAD_THREADS: &str = "tl-load";

fn new_runtime(threads: usize, name: &str) -> Result<Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| Failure::unreachable(format!("failed to start the async runtime: {e}")))
}

/// Runs `work`; Ctrl-C or SIGTERM sets `stop`, which ends the load early.
async fn with_signals<T>(stop: &Arc<AtomicBool>, work: impl std::future::Future<Output = T>) -> T {
    let flag = Arc::clone(stop);
    let watcher = tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                flag.store(true, Ordering::Relaxed);
                eprintln!("interrupted: ending the load, then checking what was recorded");
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
        flag.store(true, Ordering::Relaxed);
    });
    let out = work.await;
    watcher.abort();
    out
}

fn print(report: &LoadReport, format: Format) {
    // A closed stdout (`| head`) is not worth a panic.
    let text = match format {
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Human => report.human(),
    };
    out!("{text}");
}

fn write_dir(report: &LoadReport, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    for (name, text) in [
        ("load-report.json", json),
        ("load-report.md", report.markdown()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
    }
    Ok(())
}
