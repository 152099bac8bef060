//! `tokenlife bench server`: refresh grants per second against the reference server.
//!
//! The benchmark starts a server on a loopback port over a SQLite file (WAL,
//! `synchronous = NORMAL`: durable against a crash of the process, not against a power
//! loss), creates `--families` grants through `/authorize` and the authorization-code grant,
//! then lets `--concurrency` clients, each with its own keep-alive connection, refresh for
//! `--duration`. Every client follows the chains of the families it owns (no two clients
//! share a family): each refresh presents the refresh token the previous one returned, and
//! every response is checked (200, `token_type` Bearer, an access token, a refresh token
//! when the policy rotates). Failures are counted separately and make the run fail.
//!
//! It reports the rate, the latency distribution, and the CPU time of the server and of the
//! load generator (both share the machine): from `/proc/<pid>/stat` of the child process
//! running `tokenlife serve` (`--server child`), or per thread from `/proc/self/task` when
//! the server runs in this process (`--server in-process`). With a child server, the run
//! ends with `kill -9` of the server, and the store is then opened again to check that the
//! last refresh token each family was answered with is active: no acknowledged rotation was
//! lost to the crash.
//!
//! The HTTP client is a minimal HTTP/1.1 one (requests with `Content-Length`, responses
//! parsed by `httparse`), so that the load generator costs little CPU.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokenlife_model::Policy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::config::{ServerConfig, DEMO_CONFIDENTIAL_ID, DEMO_CONFIDENTIAL_SECRET};
use crate::secret::TokenHash;
use crate::store::{Backend, RtStatus, Store};

/// Exit code: the benchmark ran without errors.
pub const EXIT_OK: u8 = 0;
/// Exit code: some refreshes failed, or an acknowledged rotation was lost.
pub const EXIT_ERRORS: u8 = 1;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be started or reached.
pub const EXIT_UNREACHABLE: u8 = 4;

/// The longest run `--duration` accepts: a benchmark always stops by itself.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// The name of the load generator's thread (its CPU time is read from `/proc`).
const LOAD_THREAD: &str = "tl-bench-load";

/// Linux reports CPU times in `/proc` in units of `USER_HZ`, 100 per second on every
/// architecture Rust supports.
const TICKS_PER_SECOND: f64 = 100.0;

/// The scope every benchmark grant asks for.
const SCOPE: &str = "offline_access read";

/// Where the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerMode {
    /// A child process `tokenlife serve` (this executable); killed with SIGKILL at the end,
    /// then the store is checked for every acknowledged rotation.
    #[default]
    Child,
    /// In this process, on its own tokio runtime.
    InProcess,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum BenchFormat {
    /// For people.
    #[default]
    Human,
    /// For machines.
    Json,
}

/// Arguments of `tokenlife bench server`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchServerArgs {
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,
    /// How long to measure (e.g. `10s`, `500ms`, `1m`; at most 10 minutes).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "TIME")]
    pub duration: Duration,
    /// Refreshing before the measurement starts (not counted).
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "TIME")]
    pub warmup: Duration,
    /// Token families (grants), spread over the clients; at least `--concurrency`.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub families: usize,
    /// The server's policy profile.
    #[arg(long, default_value = "bcp", value_name = "NAME")]
    pub profile: String,
    /// The store: `sqlite:PATH` or a path (default: a fresh file in a temporary directory,
    /// removed afterwards), or `postgres://…`.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Where the server runs.
    #[arg(long, value_enum, default_value_t)]
    pub server: ServerMode,
    /// The child server's log filter (`RUST_LOG`); `info` logs one line per grant.
    #[arg(long, default_value = "warn", value_name = "FILTER")]
    pub server_log: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: BenchFormat,
}

impl Default for BenchServerArgs {
    fn default() -> Self {
        BenchServerArgs {
            concurrency: 32,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            families: 1024,
            profile: "bcp".into(),
            database: None,
            server: ServerMode::Child,
            server_log: "warn".into(),
            format: BenchFormat::Human,
        }
    }
}

/// Parses `10s`, `250ms`, `2m` or a plain number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 10s, 500ms, 1m)"))?;
    let seconds = value * scale;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` is not a duration (e.g. 10s, 500ms, 1m)"));
    }
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "`{text}` is longer than the {} s a benchmark may run",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The server did not start or could not be reached.
    #[error("{0}")]
    Server(String),
}

impl BenchError {
    /// The exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Usage(_) => EXIT_USAGE,
            BenchError::Server(_) => EXIT_UNREACHABLE,
        }
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// The slowest refresh.
    pub max_ms: f64,
    /// The mean.
    pub mean_ms: f64,
}

/// CPU used during the measurement, in cores (CPU seconds per second of wall time).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUse {
    /// The server (its process, or its threads when in process).
    pub server_cores: f64,
    /// The load generator's thread.
    pub load_generator_cores: f64,
    /// Every process of the machine together (from `/proc/stat`).
    pub machine_busy_cores: f64,
    /// The machine's cores.
    pub machine_cores: usize,
    /// The 1-minute load average when the measurement ended.
    pub load_average_1m: Option<f64>,
}

/// The durability check after the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Durability {
    /// How the server stopped: `SIGKILL` or a clean shutdown.
    pub server_stop: String,
    /// Families whose last acknowledged refresh token was checked.
    pub families_checked: usize,
    /// Of those, the ones whose last refresh token is active in the store, and whose
    /// predecessor (if any) is consumed.
    pub families_intact: usize,
}

/// What a benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The policy profile.
    pub profile: String,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Token families.
    pub families: usize,
    /// Where the server ran.
    pub server: ServerMode,
    /// The store (a redacted URL).
    pub database: String,
    /// Seconds measured.
    pub seconds: f64,
    /// Refresh grants answered with a checked success inside the measurement.
    pub refreshes: u64,
    /// Refresh grants that failed inside the measurement (any status but 200, a malformed
    /// answer, a broken connection).
    pub errors: u64,
    /// Successful refresh grants per second.
    pub per_second: f64,
    /// Latency of the successful refreshes.
    pub latency: Latency,
    /// CPU use.
    pub cpu: CpuUse,
    /// The check of the store after the server stopped.
    pub durability: Durability,
    /// The first few error messages.
    pub error_samples: Vec<String>,
}

impl Report {
    /// Whether the run is clean: no failed refresh, no lost rotation.
    pub fn clean(&self) -> bool {
        self.errors == 0
            && self.durability.families_intact == self.durability.families_checked
            && self.refreshes > 0
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let l = &self.latency;
        let c = &self.cpu;
        let other = (c.machine_busy_cores - c.server_cores - c.load_generator_cores).max(0.0);
        let mut s = format!(
            "tokenlife bench server: profile {}, {} clients, {} families, {:.1} s, server {}, store {}\n",
            self.profile,
            self.concurrency,
            self.families,
            self.seconds,
            match self.server {
                ServerMode::Child => "in a child process",
                ServerMode::InProcess => "in process",
            },
            self.database
        );
        s.push_str(&format!(
            "  refresh grants  {:>9.0} /s   ({} ok, {} errors)\n",
            self.per_second, self.refreshes, self.errors
        ));
        s.push_str(&format!(
            "  latency         p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   p99.9 {:.2} ms   max {:.2} ms\n",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        ));
        s.push_str(&format!(
            "  cpu (cores)     server {:.2}   load generator {:.2}   other processes {:.2}   machine {:.2} of {}{}\n",
            c.server_cores,
            c.load_generator_cores,
            other,
            c.machine_busy_cores,
            c.machine_cores,
            c.load_average_1m
                .map(|l| format!("   load average {l:.2}"))
                .unwrap_or_default()
        ));
        s.push_str(&format!(
            "  durability      after {}: {}/{} families' last refresh token active in the store\n",
            self.durability.server_stop,
            self.durability.families_intact,
            self.durability.families_checked
        ));
        if !self.clean() {
            s.push_str("  RESULT: FAILED (errors or lost rotations; this run does not count)\n");
            for e in &self.error_samples {
                s.push_str(&format!("    {e}\n"));
            }
        }
        s
    }
}

/// Runs `tokenlife bench server`, prints the report and returns the exit code.
pub fn run(args: BenchServerArgs) -> ExitCode {
    ExitCode::from(run_code(args))
}

/// [`run`], with the exit code as a number.
pub fn run_code(args: BenchServerArgs) -> u8 {
    let format = args.format;
    match measure(&args) {
        Ok(report) => {
            match format {
                BenchFormat::Human => print!("{}", report.human()),
                BenchFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                ),
            }
            if report.clean() {
                EXIT_OK
            } else {
                EXIT_ERRORS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// A temporary directory for the default database, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "tokenlife-bench-{}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn database_url(arg: Option<&str>, tmp: &mut Option<TempDir>) -> Result<String, BenchError> {
    let url = match arg {
        None => {
            let dir = TempDir::new().map_err(|e| {
                BenchError::Usage(format!("cannot create a temporary directory: {e}"))
            })?;
            let url = format!("sqlite:{}", dir.0.join("bench.db").display());
            *tmp = Some(dir);
            url
        }
        Some(a) if a.contains("://") || a.starts_with("sqlite:") => a.to_string(),
        Some(path) => format!("sqlite:{path}"),
    };
    match Backend::of_url(&url) {
        Some(Backend::SqliteFile | Backend::Postgres) => Ok(url),
        Some(Backend::SqliteMemory) => Err(BenchError::Usage(
            "--database: an in-memory store is not durable; give a file".into(),
        )),
        None => Err(BenchError::Usage(format!(
            "--database: `{url}` is neither sqlite:PATH nor postgres://…"
        ))),
    }
}

/// Runs the benchmark and returns what it measured.
pub fn measure(args: &BenchServerArgs) -> Result<Report, BenchError> {
    if args.concurrency == 0 {
        return Err(BenchError::Usage("--concurrency must be at least 1".into()));
    }
    if args.families < args.concurrency {
        return Err(BenchError::Usage(format!(
            "--families ({}) must be at least --concurrency ({}): no two clients share a family",
            args.families, args.concurrency
        )));
    }
    if args.duration.is_zero() {
        return Err(BenchError::Usage("--duration must be positive".into()));
    }
    let policy = Policy::profile(&args.profile).ok_or_else(|| {
        BenchError::Usage(format!(
            "--profile: unknown profile `{}`; the built-in profiles are: {}",
            args.profile,
            Policy::profile_names().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let mut tmp = None;
    let url = database_url(args.database.as_deref(), &mut tmp)?;
    let server = match args.server {
        ServerMode::Child => Server::child(args, &url)?,
        ServerMode::InProcess => Server::in_process(&url, policy)?,
    };
    let addr = server.addr();
    let plan = LoadPlan {
        addr,
        concurrency: args.concurrency,
        families: args.families,
        warmup: args.warmup,
        duration: args.duration,
        server_pid: server.pid(),
    };
    let load = std::thread::Builder::new()
        .name(LOAD_THREAD.into())
        .spawn(move || generate_load(plan))
        .map_err(|e| BenchError::Server(format!("cannot start the load generator: {e}")))?
        .join()
        .map_err(|_| BenchError::Server("the load generator panicked".into()))?;
    let stop = server.stop();
    let load = load?;
    let durability = verify(&url, &load.chains, stop)?;
    drop(tmp);
    let mut latencies = load.latencies_us;
    latencies.sort_unstable();
    let seconds = load.seconds;
    let refreshes = latencies.len() as u64;
    Ok(Report {
        profile: args.profile.clone(),
        concurrency: args.concurrency,
        families: args.families,
        server: args.server,
        database: if args.database.is_none() {
            "a temporary SQLite file (WAL, synchronous=NORMAL)".into()
        } else {
            crate::config::redact_url(&url)
        },
        seconds,
        refreshes,
        errors: load.errors,
        per_second: refreshes as f64 / seconds,
        latency: latency(&latencies),
        cpu: load.cpu,
        durability,
        error_samples: load.error_samples,
    })
}

fn latency(sorted_us: &[u32]) -> Latency {
    if sorted_us.is_empty() {
        return Latency::default();
    }
    let at = |q: f64| {
        let i = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
        f64::from(sorted_us[i]) / 1000.0
    };
    let sum: u64 = sorted_us.iter().map(|&v| u64::from(v)).sum();
    Latency {
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: at(1.0),
        mean_ms: sum as f64 / sorted_us.len() as f64 / 1000.0,
    }
}

/// The server under test.
enum Server {
    Child {
        child: Child,
        addr: SocketAddr,
    },
    InProcess {
        runtime: tokio::runtime::Runtime,
        server: crate::server::RunningServer,
    },
}

/// How the server was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Killed,
    ShutDown,
}

impl Server {
    fn child(args: &BenchServerArgs, url: &str) -> Result<Server, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Server(format!("cannot find this executable: {e}")))?;
        let mut child = Command::new(&exe)
            .args(["serve", "--bind", "127.0.0.1:0", "--database", url])
            .args(["--profile", &args.profile])
            .env("RUST_LOG", &args.server_log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                BenchError::Server(format!("cannot start `{} serve`: {e}", exe.display()))
            })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(BenchError::Server("the server's stdout is missing".into()));
        };
        // Read the banner on a thread (so a silent server cannot hang us), and keep reading
        // afterwards so the pipe never fills.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(url) = line.trim().strip_prefix("listening") {
                        sent = true;
                        let _ = tx.send(url.trim().to_string());
                    }
                }
            }
        });
        let listening = rx.recv_timeout(Duration::from_secs(30));
        let addr = listening.ok().and_then(|u| {
            u.strip_prefix("http://")
                .and_then(|a| a.parse::<SocketAddr>().ok())
        });
        match addr {
            Some(addr) => Ok(Server::Child { child, addr }),
            None => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(BenchError::Server(format!(
                    "`{} serve` did not start listening ({}); the benchmark's child mode needs the `tokenlife` binary, or use --server in-process",
                    exe.display(),
                    status.map_or("no exit status".into(), |s| s.to_string())
                )))
            }
        }
    }

    fn in_process(url: &str, policy: Policy) -> Result<Server, BenchError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("tl-server")
            .build()
            .map_err(|e| BenchError::Server(format!("cannot start a runtime: {e}")))?;
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut cfg = ServerConfig::demo(bind);
        cfg.database = url.to_string();
        cfg.policy = policy;
        let server = runtime
            .block_on(crate::server::start(cfg))
            .map_err(|e| BenchError::Server(format!("the server did not start: {e}")))?;
        Ok(Server::InProcess { runtime, server })
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Server::Child { addr, .. } => *addr,
            Server::InProcess { server, .. } => server.local_addr(),
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Server::Child { child, .. } => Some(child.id()),
            Server::InProcess { .. } => None,
        }
    }

    /// A child is killed (SIGKILL, a crash); an in-process server shuts down cleanly.
    fn stop(self) -> Stopped {
        match self {
            Server::Child { mut child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
                Stopped::Killed
            }
            Server::InProcess { runtime, server } => {
                runtime.block_on(server.shutdown());
                Stopped::ShutDown
            }
        }
    }
}

/// Reopens the store after the server stopped: the last refresh token each family was
/// answered with must be active, and the one it replaced consumed.
fn verify(url: &str, chains: &[Chain], stop: Stopped) -> Result<Durability, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Server(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async {
        let store = Store::open(url)
            .await
            .map_err(|e| BenchError::Server(format!("cannot reopen the store: {e}")))?;
        let mut intact = 0;
        let mut checked = 0;
        for c in chains.iter().filter(|c| !c.broken) {
            checked += 1;
            let last = store
                .refresh_token(&TokenHash::of(&c.refresh))
                .await
                .map_err(|e| BenchError::Server(format!("cannot read the store: {e}")))?;
            let previous = match &c.previous {
                Some(p) => store
                    .refresh_token(&TokenHash::of(p))
                    .await
                    .map_err(|e| BenchError::Server(format!("cannot read the store: {e}")))?
                    .map(|r| r.status),
                None => Some(RtStatus::Consumed),
            };
            if last.is_some_and(|r| r.status == RtStatus::Active)
                && previous == Some(RtStatus::Consumed)
            {
                intact += 1;
            }
        }
        store.close().await;
        Ok(Durability {
            server_stop: match stop {
                Stopped::Killed => "kill -9 of the server".into(),
                Stopped::ShutDown => "a clean shutdown".into(),
            },
            families_checked: checked,
            families_intact: intact,
        })
    })
}

struct LoadPlan {
    addr: SocketAddr,
    concurrency: usize,
    families: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
}

/// One family's chain, as its client knows it.
#[derive(Debug, Clone)]
struct Chain {
    /// The last refresh token the server answered with.
    refresh: String,
    /// The one it replaced, if a refresh rotated it.
    previous: Option<String>,
    /// A refresh of this family failed: where the chain stands is unknown.
    broken: bool,
}

struct LoadResult {
    chains: Vec<Chain>,
    latencies_us: Vec<u32>,
    errors: u64,
    error_samples: Vec<String>,
    seconds: f64,
    cpu: CpuUse,
}

struct ClientResult {
    chains: Vec<Chain>,
    latencies_us: Vec<u32>,
    errors: u64,
    error_samples: Vec<String>,
}

/// The measurement window, sent to every client once all families exist.
#[derive(Clone, Copy)]
struct Window {
    start: tokio::time::Instant,
    end: tokio::time::Instant,
}

fn generate_load(plan: LoadPlan) -> Result<LoadResult, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Server(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async move {
        let mut ready = Vec::new();
        let mut go = Vec::new();
        let mut handles = Vec::new();
        for i in 0..plan.concurrency {
            let owned = (i..plan.families).step_by(plan.concurrency).count();
            let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
            let (go_tx, go_rx) = oneshot::channel::<Window>();
            ready.push(ready_rx);
            go.push(go_tx);
            handles.push(tokio::spawn(client(plan.addr, owned, ready_tx, go_rx)));
        }
        for r in ready {
            match r.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(BenchError::Server(format!("setting up: {e}"))),
                Err(_) => {
                    return Err(BenchError::Server(
                        "a client stopped while setting up".into(),
                    ))
                }
            }
        }
        let now = tokio::time::Instant::now();
        let window = Window {
            start: now + plan.warmup,
            end: now + plan.warmup + plan.duration,
        };
        for g in go {
            let _ = g.send(window);
        }
        tokio::time::sleep_until(window.start).await;
        let before = CpuSample::take(plan.server_pid);
        tokio::time::sleep_until(window.end).await;
        let after = CpuSample::take(plan.server_pid);
        let seconds = (after.at - before.at).as_secs_f64();
        let mut result = LoadResult {
            chains: Vec::new(),
            latencies_us: Vec::new(),
            errors: 0,
            error_samples: Vec::new(),
            seconds,
            cpu: after.minus(&before, seconds),
        };
        for h in handles {
            let c = h
                .await
                .map_err(|_| BenchError::Server("a client panicked".into()))?;
            result.chains.extend(c.chains);
            result.latencies_us.extend(c.latencies_us);
            result.errors += c.errors;
            for e in c.error_samples {
                if result.error_samples.len() < 5 {
                    result.error_samples.push(e);
                }
            }
        }
        Ok(result)
    })
}

/// One client: creates its families, then refreshes them in turn until the window ends.
async fn client(
    addr: SocketAddr,
    families: usize,
    ready: oneshot::Sender<Result<(), String>>,
    go: oneshot::Receiver<Window>,
) -> ClientResult {
    let mut out = ClientResult {
        chains: Vec::with_capacity(families),
        latencies_us: Vec::new(),
        errors: 0,
        error_samples: Vec::new(),
    };
    let mut conn = Conn::new(addr);
    for _ in 0..families {
        match conn.new_family().await {
            Ok(refresh) => out.chains.push(Chain {
                refresh,
                previous: None,
                broken: false,
            }),
            Err(e) => {
                let _ = ready.send(Err(e));
                return out;
            }
        }
    }
    let _ = ready.send(Ok(()));
    let Ok(window) = go.await else {
        return out;
    };
    let mut next = 0;
    let n = out.chains.len();
    while tokio::time::Instant::now() < window.end {
        let live = out.chains.iter().filter(|c| !c.broken).count();
        if live == 0 {
            // Every family broke: nothing left to refresh.
            tokio::time::sleep_until(window.end).await;
            break;
        }
        while out.chains[next].broken {
            next = (next + 1) % n;
        }
        let chain = &mut out.chains[next];
        next = (next + 1) % n;
        let started = tokio::time::Instant::now();
        let answer = conn.refresh(&chain.refresh).await;
        let done = tokio::time::Instant::now();
        let counted = done >= window.start && done <= window.end;
        match answer {
            Ok(successor) => {
                if let Some(s) = successor {
                    chain.previous = Some(std::mem::replace(&mut chain.refresh, s));
                }
                if counted {
                    let us = (done - started).as_micros();
                    out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                }
            }
            Err(e) => {
                chain.broken = true;
                if counted {
                    out.errors += 1;
                    if out.error_samples.len() < 5 {
                        out.error_samples.push(e);
                    }
                }
            }
        }
    }
    out
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    refresh_token: Option<String>,
}

/// A keep-alive HTTP/1.1 connection to the server, opened again when it breaks.
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    request: Vec<u8>,
    authorization: String,
}

/// A response: status, `Location`, body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        let credentials = format!("{DEMO_CONFIDENTIAL_ID}:{DEMO_CONFIDENTIAL_SECRET}");
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
            request: Vec::with_capacity(512),
            authorization: format!("Basic {}", STANDARD.encode(credentials)),
        }
    }

    /// A new grant: `/authorize` (approved automatically), then the code for tokens.
    async fn new_family(&mut self) -> Result<String, String> {
        let query = crate::form::encode([
            ("response_type", "code"),
            ("client_id", DEMO_CONFIDENTIAL_ID),
            ("scope", SCOPE),
            ("state", "bench"),
        ]);
        let a = self
            .exchange("GET", &format!("/authorize?{query}"), None)
            .await?;
        let location = match (a.status, a.location) {
            (302, Some(l)) => l,
            (status, _) => return Err(format!("/authorize answered {status}, not a redirect")),
        };
        let code = location
            .split_once('?')
            .map(|(_, q)| q)
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| "/authorize redirected without a code".to_string())?;
        let body = crate::form::encode([("grant_type", "authorization_code"), ("code", &code)]);
        let t = self.token(&body).await?;
        t.refresh_token
            .ok_or_else(|| "the code exchange returned no refresh token".to_string())
    }

    /// One refresh grant; the successor refresh token, if the server rotated.
    async fn refresh(&mut self, refresh: &str) -> Result<Option<String>, String> {
        let body =
            crate::form::encode([("grant_type", "refresh_token"), ("refresh_token", refresh)]);
        Ok(self.token(&body).await?.refresh_token)
    }

    async fn token(&mut self, body: &str) -> Result<TokenAnswer, String> {
        let a = self.exchange("POST", "/token", Some(body)).await?;
        if a.status != 200 {
            return Err(format!(
                "/token answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body[..a.body.len().min(200)])
            ));
        }
        let t: TokenAnswer = serde_json::from_slice(&a.body)
            .map_err(|e| format!("/token answered malformed JSON: {e}"))?;
        if t.token_type != "Bearer" || t.access_token.is_empty() {
            return Err("/token answered without a Bearer access token".into());
        }
        Ok(t)
    }

    /// Sends one request and reads its response; on any I/O or protocol error the
    /// connection is dropped (the next request opens a new one).
    async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&str>,
    ) -> Result<Answer, String> {
        let result = self.exchange_once(method, target, body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange_once(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&str>,
    ) -> Result<Answer, String> {
        use std::io::Write as _;
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
            s.set_nodelay(true)
                .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("no connection".into());
        };
        self.request.clear();
        let _ = write!(
            self.request,
            "{method} {target} HTTP/1.1\r\nHost: {}\r\n",
            self.addr
        );
        if let Some(b) = body {
            let _ = write!(
                self.request,
                "Authorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{b}",
                self.authorization,
                b.len()
            );
        } else {
            self.request.extend_from_slice(b"\r\n");
        }
        stream
            .write_all(&self.request)
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        self.buf.clear();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(&self.buf)
                .map_err(|e| format!("malformed response: {e}"))?;
            if let httparse::Status::Complete(head) = parsed {
                let status = response.code.unwrap_or(0);
                let mut length = None;
                let mut location = None;
                let mut close = false;
                for h in response.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if h.name.eq_ignore_ascii_case("location") {
                        location = std::str::from_utf8(h.value).ok().map(str::to_string);
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = h.value.eq_ignore_ascii_case(b"close");
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err("chunked responses are not supported".into());
                    }
                }
                let length = length.unwrap_or(0);
                while self.buf.len() < head + length {
                    read_more(stream, &mut self.buf).await?;
                }
                let body = self.buf[head..head + length].to_vec();
                if close {
                    self.stream = None;
                }
                return Ok(Answer {
                    status,
                    location,
                    body,
                });
            }
            read_more(stream, &mut self.buf).await?;
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    if n == 0 {
        return Err("the server closed the connection".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// CPU counters at one instant.
struct CpuSample {
    at: Instant,
    /// Ticks of the server: its process, or this process minus the load generator.
    server: u64,
    load: u64,
    /// (busy, total) ticks of the machine.
    machine: (u64, u64),
}

/// `utime + stime` of a `/proc/…/stat` file, in ticks.
fn stat_ticks(path: &Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state (field 3) … utime (14), stime (15).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// This process's ticks spent in the load generator's threads.
fn load_thread_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| stat_ticks(&t.path().join("stat")))
        .filter(|(name, _)| name == LOAD_THREAD)
        .map(|(_, ticks)| ticks)
        .sum()
}

fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

impl CpuSample {
    fn take(server_pid: Option<u32>) -> CpuSample {
        let load = load_thread_ticks();
        let server = match server_pid {
            Some(pid) => stat_ticks(Path::new(&format!("/proc/{pid}/stat"))).map_or(0, |t| t.1),
            None => stat_ticks(Path::new("/proc/self/stat"))
                .map_or(0, |t| t.1)
                .saturating_sub(load),
        };
        CpuSample {
            at: Instant::now(),
            server,
            load,
            machine: machine_ticks(),
        }
    }

    fn minus(&self, before: &CpuSample, seconds: f64) -> CpuUse {
        let cores = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / seconds.max(1e-9);
        let machine_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy = self.machine.0.saturating_sub(before.machine.0) as f64;
        let total = self.machine.1.saturating_sub(before.machine.1) as f64;
        CpuUse {
            server_cores: cores(self.server.saturating_sub(before.server)),
            load_generator_cores: cores(self.load.saturating_sub(before.load)),
            machine_busy_cores: if total > 0.0 {
                busy / total * machine_cores as f64
            } else {
                0.0
            },
            machine_cores,
            load_average_1m: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("11m").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=1000).collect();
        let l = latency(&v);
        assert_eq!(l.p50_ms, 0.5);
        assert_eq!(l.p99_ms, 0.99);
        assert_eq!(l.max_ms, 1.0);
        assert_eq!(latency(&[]).p99_ms, 0.0);
    }

    #[test]
    fn in_memory_and_unknown_stores_are_refused() {
        let mut tmp = None;
        assert!(database_url(Some("sqlite::memory:"), &mut tmp).is_err());
        assert!(database_url(Some("mysql://x"), &mut tmp).is_err());
        assert_eq!(
            database_url(Some("/tmp/x.db"), &mut tmp).unwrap(),
            "sqlite:/tmp/x.db"
        );
    }

    #[test]
    fn proc_stat_is_read() {
        let (_, ticks) = stat_ticks(Path::new("/proc/self/stat")).unwrap();
        let _ = ticks;
        let (busy, total) = machine_ticks();
        assert!(busy <= total && total > 0);
    }

    #[test]
    fn a_short_run_refreshes_without_errors() {
        let args = BenchServerArgs {
            concurrency: 4,
            families: 8,
            duration: Duration::from_millis(300),
            warmup: Duration::from_millis(50),
            server: ServerMode::InProcess,
            ..BenchServerArgs::default()
        };
        let r = measure(&args).unwrap();
        assert!(r.refreshes > 0, "{}", r.human());
        assert!(r.per_second > 0.0);
        assert_eq!(r.errors, 0, "{}", r.human());
        assert_eq!(r.durability.families_checked, 8);
        assert_eq!(r.durability.families_intact, 8, "{}", r.human());
        assert!(r.clean());
    }
}
