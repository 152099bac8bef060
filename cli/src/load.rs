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

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{RngCore as _, SeedableRng as _};
use tokenlife_harness::load::sim::{simulate, SimOptions};
use tokenlife_harness::load::{self, check_all, Clock, Fleet, Header, LoadReport, Options};
use tokenlife_harness::session::BoxFuture;
use tokenlife_harness::target::{self, ClockConfig, Target};
use tokenlife_model::policy::Seconds;
use tokenlife_model::{ClientType, Policy};
use tokenlife_server::bench::parse_duration;
use tokenlife_server::config::demo_clients;
use tokenlife_server::{AuthMethod, Defect, Defects};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::run::Embedded;
use crate::{fail, Format, EXIT_BAD_FILE, EXIT_FINDINGS, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};

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
    match run_checked(&args) {
        Ok(code) => code,
        Err((code, message)) => fail(code, message),
    }
}

type Failure = (u8, String);

fn usage(m: impl Into<String>) -> Failure {
    (EXIT_USAGE, m.into())
}

fn run_checked(args: &LoadArgs) -> Result<u8, Failure> {
    if args.families == 0 || args.concurrency == 0 || args.threads == 0 {
        return Err(usage(
            "--families, --concurrency and --threads must be at least 1",
        ));
    }
    if args.families > 100_000 || args.concurrency > 4_096 || args.threads > 256 {
        return Err(usage(
            "at most 100000 --families, 4096 --concurrency and 256 --threads: a load stays bounded",
        ));
    }
    if args.duration.is_zero() {
        return Err(usage("--duration must be positive"));
    }
    if args
        .crash_every
        .is_some_and(|d| d < Duration::from_millis(50))
    {
        return Err(usage("--crash-every must be at least 50ms"));
    }
    if args.instances == 0 || args.instances > 16 {
        return Err(usage("--instances must be between 1 and 16"));
    }
    let seed = args.seed.unwrap_or_else(|| rand::rng().next_u64());
    if let Some(n) = args.bench_checker {
        let policy = crate::check::load_policy(args.profile.as_deref(), args.policy.as_ref())?;
        return Ok(bench_checker(&policy, n, seed, args.format));
    }
    let mut defects = Vec::new();
    for d in &args.defects {
        defects.push(d.parse::<Defect>().map_err(|e| usage(e.to_string()))?);
    }
    let child = args.server == Some(ServerMode::Child)
        || args.crash_every.is_some()
        || args.instances > 1
        || args.database.is_some()
        || args.server_cpus.is_some();
    if child && args.server == Some(ServerMode::InProcess) {
        return Err(usage(
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
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ticks_before = thread_ticks(LOAD_THREADS);
    let report = if let Some(path) = &args.target {
        let t =
            target::load(path).map_err(|e| (EXIT_BAD_FILE, format!("{}: {e}", path.display())))?;
        if !args.allow_remote {
            if let Some(url) = remote_url(&t) {
                return Err(usage(format!(
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
        runtime.block_on(with_signals(
            &stop,
            load::run(&[t], &options, header, None, Arc::clone(&stop)),
        ))
    } else {
        let policy = crate::check::load_policy(args.profile.as_deref(), args.policy.as_ref())?;
        let mut header = Header {
            target: "reference server".into(),
            server: String::new(),
            profile: policy.profile.clone(),
            defects: defects.iter().map(|d| d.name().to_string()).collect(),
            seed,
            live_families: args.families,
            concurrency: args.concurrency,
        };
        if child {
            let fleet = runtime.block_on(Children::start(args, &policy, &defects))?;
            header.server = fleet.describe();
            let targets = fleet.targets(&policy)?;
            let fleet = Arc::new(fleet);
            let dyn_fleet: Arc<dyn Fleet> = fleet.clone();
            let r = runtime.block_on(with_signals(
                &stop,
                load::run(
                    &targets,
                    &options,
                    header,
                    Some(dyn_fleet),
                    Arc::clone(&stop),
                ),
            ));
            runtime.block_on(fleet.stop());
            r
        } else {
            // The server on its own runtime, so that its threads are not the load's.
            let server_rt = new_runtime(2, "tl-server")?;
            let embedded = server_rt
                .block_on(Embedded::start(
                    policy,
                    defects.into_iter().collect::<Defects>(),
                ))
                .map_err(|e| {
                    (
                        EXIT_UNREACHABLE,
                        format!("failed to start the embedded server: {e}"),
                    )
                })?;
            header.server = "in process, temporary SQLite file, frozen test clock".into();
            let t = embedded.target();
            let r = runtime.block_on(with_signals(
                &stop,
                load::run(&[t], &options, header, None, Arc::clone(&stop)),
            ));
            server_rt.block_on(embedded.stop());
            r
        }
    };
    let mut report = report.map_err(|e| {
        (
            if e.is_unreachable() {
                EXIT_UNREACHABLE
            } else {
                EXIT_BAD_FILE
            },
            e.to_string(),
        )
    })?;
    if let (Some(before), Some(after)) = (ticks_before, thread_ticks(LOAD_THREADS)) {
        report.load_generator_cores =
            Some(after.saturating_sub(before) as f64 / TICKS_PER_SECOND / report.seconds.max(1e-9));
    }
    if let Some(dir) = &args.report_dir {
        write_dir(&report, dir).map_err(usage)?;
    }
    print(&report, args.format);
    if report.refreshes_ok == 0 {
        return Err((
            EXIT_UNREACHABLE,
            "no refresh grant succeeded: nothing was tested".into(),
        ));
    }
    Ok(if report.clean() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// The name of the load generator's threads (their CPU time is read from `/proc`).
const LOAD_THREADS: &str = "tl-load";
/// Linux counts CPU time in `/proc` in ticks of 1/100 s on every architecture Rust supports.
const TICKS_PER_SECOND: f64 = 100.0;

/// The CPU ticks (user + system) of this process's threads named `name`; `None` off Linux.
fn thread_ticks(name: &str) -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = 0;
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, the fields after it do not.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // utime and stime are the 14th and 15th fields of the line.
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += tick(11) + tick(12);
    }
    Some(total)
}

fn new_runtime(threads: usize, name: &str) -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| {
            (
                EXIT_UNREACHABLE,
                format!("failed to start the async runtime: {e}"),
            )
        })
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
    let _ = std::io::stdout().write_all(text.as_bytes());
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

/// The first URL of a target that is not on a loopback address, if any.
fn remote_url(t: &Target) -> Option<String> {
    let e = &t.endpoints;
    [
        t.issuer.as_ref(),
        e.token.as_ref(),
        e.authorization.as_ref(),
        e.revocation.as_ref(),
        e.introspection.as_ref(),
        t.resource_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    .find(|u| !is_loopback(u))
    .cloned()
}

/// Whether an http(s) URL names a loopback host (`localhost`, 127.0.0.0/8, `[::1]`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The checker alone: `n` simulated histories of a correct server, then timed checks.
fn bench_checker(policy: &Policy, n: usize, seed: u64, format: Format) -> u8 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let histories: Vec<_> = (0..n)
        .map(|i| {
            let client = if i % 2 == 0 {
                ClientType::Confidential
            } else {
                ClientType::Public
            };
            simulate(policy, client, &mut rng, SimOptions::default())
        })
        .collect();
    let mut best = f64::INFINITY;
    let mut checked = load::Checked::default();
    for _ in 0..3 {
        checked = check_all(policy, Clock::real(2), &histories);
        best = best.min(checked.seconds);
    }
    let ops = checked.operations;
    let v = serde_json::json!({
        "profile": policy.profile,
        "histories": n,
        "operations": ops,
        "seconds": best,
        "histories_per_second": n as f64 / best.max(1e-9),
        "operations_per_second": ops as f64 / best.max(1e-9),
        "violations": checked.violations.len(),
    });
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
        Format::Human => format!(
            "checker, profile {}: {n} simulated histories ({ops} requests) in {:.2} ms (best of 3): {:.0} histories/s, {:.0} requests/s; {} violations\n",
            policy.profile,
            best * 1000.0,
            n as f64 / best.max(1e-9),
            ops as f64 / best.max(1e-9),
            checked.violations.len()
        ),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    if checked.violations.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

/// The redirect URI of every client of the child servers; the harness stops at it.
const REDIRECT: &str = "http://127.0.0.1/cb";

/// The reference server's clients as `[[clients]]` tables, which a server config file and a
/// target file read alike.
fn clients_toml() -> String {
    let mut s = String::new();
    for c in demo_clients("http://127.0.0.1") {
        s.push_str(&format!("[[clients]]\nid = \"{}\"\n", c.id));
        if let Some(secret) = &c.secret {
            s.push_str(&format!("secret = \"{}\"\n", secret.expose()));
        }
        let auth = match c.auth {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        };
        s.push_str(&format!(
            "auth = \"{auth}\"\nredirect_uri = \"{REDIRECT}\"\nscope = \"{}\"\n\n",
            c.scope
        ));
    }
    s
}

/// `tokenlife serve` child processes on one store.
struct Children {
    exe: PathBuf,
    /// The arguments after `serve --bind ADDR`.
    common: Vec<String>,
    cpus: Option<String>,
    addrs: Vec<SocketAddr>,
    procs: tokio::sync::Mutex<Vec<Option<Child>>>,
    database: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> Result<SocketAddr, Failure> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| (EXIT_UNREACHABLE, format!("failed to find a free port: {e}")))
}

impl Children {
    async fn start(
        args: &LoadArgs,
        policy: &Policy,
        defects: &[Defect],
    ) -> Result<Children, Failure> {
        let dir = tempfile::tempdir()
            .map_err(|e| usage(format!("failed to make a temporary folder: {e}")))?;
        let database = match args.database.as_deref() {
            None => format!("sqlite:{}", dir.path().join("tokenlife.db").display()),
            Some(d) if d.contains("://") || d.starts_with("sqlite:") => d.to_string(),
            Some(path) => format!("sqlite:{path}"),
        };
        if database.contains(":memory:") {
            return Err(usage(
                "--database: an in-memory store does not survive a restart; give a file",
            ));
        }
        if args.instances > 1 && !database.starts_with("postgres") {
            return Err(usage(
                "--instances above 1 share one store: give --database postgres://...",
            ));
        }
        let config = dir.path().join("server.toml");
        let policy_file = dir.path().join("policy.toml");
        std::fs::write(&config, clients_toml())
            .and_then(|()| std::fs::write(&policy_file, policy.to_toml()))
            .map_err(|e| usage(format!("failed to write the server's configuration: {e}")))?;
        let mut common = vec![
            "--database".to_string(),
            database.clone(),
            "--config".into(),
            config.display().to_string(),
            "--policy".into(),
            policy_file.display().to_string(),
        ];
        for d in defects {
            common.push("--defect".into());
            common.push(d.name().into());
        }
        let exe = std::env::current_exe().map_err(|e| {
            (
                EXIT_UNREACHABLE,
                format!("failed to find this executable: {e}"),
            )
        })?;
        let addrs = (0..args.instances)
            .map(|_| free_port())
            .collect::<Result<Vec<_>, _>>()?;
        let log = dir.path().join("server.log");
        let c = Children {
            exe,
            common,
            cpus: args.server_cpus.clone(),
            addrs,
            procs: tokio::sync::Mutex::new(Vec::new()),
            database,
            log,
            _dir: dir,
        };
        // One after another: the first one creates the schema.
        for i in 0..c.addrs.len() {
            let child = c.spawn(i).await.map_err(|e| (EXIT_UNREACHABLE, e))?;
            c.procs.lock().await.push(Some(child));
        }
        Ok(c)
    }

    fn describe(&self) -> String {
        format!(
            "{} `tokenlife serve` child process{}{} on {}",
            self.addrs.len(),
            if self.addrs.len() == 1 { "" } else { "es" },
            self.cpus
                .as_ref()
                .map(|c| format!(" pinned to CPUs {c}"))
                .unwrap_or_default(),
            if self.database.starts_with("postgres") {
                "PostgreSQL".to_string()
            } else {
                "a SQLite file".to_string()
            }
        )
    }

    /// One target per instance: the same clients, the policy, the wall clock.
    fn targets(&self, policy: &Policy) -> Result<Vec<Target>, Failure> {
        self.addrs
            .iter()
            .map(|a| {
                let text = format!(
                    "[server]\nissuer = \"http://{a}\"\nresource_url = \"http://{a}/api/resource\"\n\n{}",
                    clients_toml()
                );
                let mut t = target::parse(&text, |_| None).map_err(|e| (EXIT_BAD_FILE, e.to_string()))?;
                t.policy = policy.clone();
                t.clock = ClockConfig::Real { skew: Seconds(1) };
                Ok(t)
            })
            .collect()
    }

    /// Starts instance `i` and waits until it listens.
    async fn spawn(&self, i: usize) -> Result<Child, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match self.spawn_once(i).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
            // The port may still be held for a moment after a kill.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }

    async fn spawn_once(&self, i: usize) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("failed to open {}: {e}", self.log.display()))?;
        let mut cmd = match &self.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        cmd.arg("serve")
            .arg("--bind")
            .arg(self.addrs[i].to_string())
            .args(&self.common)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("failed to start `{} serve`: {e}", self.exe.display()))?;
        let Some(stdout) = child.stdout.take() else {
            return Err("the server's stdout is missing".into());
        };
        let mut lines = BufReader::new(stdout).lines();
        let banner = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim_start().starts_with("listening") {
                    return true;
                }
            }
            false
        })
        .await;
        if banner == Ok(true) {
            // Keep reading, so that the pipe never fills.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(child)
        } else {
            let _ = child.start_kill();
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_default();
            let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(3).collect();
            Err(format!(
                "`tokenlife serve` on {} did not start listening ({status}): {}",
                self.addrs[i],
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ))
        }
    }

    /// Kills every child.
    async fn stop(&self) {
        for c in self.procs.lock().await.iter_mut().flatten() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // On every way out (an error, a panic): no server is left behind.
        if let Ok(mut procs) = self.procs.try_lock() {
            for c in procs.iter_mut().flatten() {
                let _ = c.start_kill();
            }
        }
    }
}

impl Fleet for Children {
    fn crash_restart(&self, i: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut procs = self.procs.lock().await;
            let slot = procs.get_mut(i).ok_or("no such instance")?;
            if let Some(mut old) = slot.take() {
                // SIGKILL: no clean shutdown, requests in flight are cut.
                let _ = old.start_kill();
                let _ = old.wait().await;
            }
            *slot = Some(self.spawn(i).await?);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        for url in [
            "http://127.0.0.1:9000",
            "http://localhost/x",
            "https://[::1]:8443/t",
            "http://127.8.0.1",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://auth.example.com",
            "http://10.0.0.1:80",
            "http://127.0.0.1.evil.test/",
            "http://localhost@evil.test/",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn the_clients_are_read_by_both_file_formats() {
        let text = format!(
            "[server]\nissuer = \"http://127.0.0.1:1\"\n\n{}",
            clients_toml()
        );
        let t = target::parse(&text, |_| None).unwrap();
        assert_eq!(t.clients.len(), 2);
        assert!(tokenlife_server::config::parse(&clients_toml(), |_| None).is_ok());
    }
}
