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
//!
//! It lives in the CLI, beside `load`, not in the server crate: it drives the server from
//! outside, as any client would, and reads its store only after the crash, through the
//! server crate's public API.
//!
//! - [`report`]: what a run measured, for people and as JSON.
//! - [`instance`]: the server, as a child process or in process; the store's check.
//! - [`clients`]: the load: the clients, the measurement window, the CPU samples.
//! - [`conn`]: the HTTP/1.1 connection each client refreshes over.

mod clients;
mod conn;
mod instance;
mod report;

use std::time::Duration;

use tempfile::TempDir;
use tokenlife_server::config::redact_url;
use tokenlife_server::store::Backend;

pub use self::report::{CpuUse, Durability, Latency, Report, ServerMode};

use self::clients::{generate_load, LoadPlan, LOAD_THREAD};
use self::instance::{verify, Server};
use crate::duration::parse_duration;
use crate::outcome::{exit_code, out, outln, Failure, Format, EXIT_FINDINGS, EXIT_OK};
use crate::policy::profile_named;

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
    pub format: Format,
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
            format: Format::Human,
        }
    }
}

/// Runs `tokenlife bench server`, prints the report and returns the exit code: 0 a clean
/// run, 1 failed refreshes or a lost rotation, 2 usage, 4 the server did not start or
/// could not be reached.
pub fn run(args: BenchServerArgs) -> u8 {
    exit_code(measure(&args).map(|report| {
        match args.format {
            Format::Human => out!("{}", report.human()),
            Format::Json => outln!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            ),
        }
        if report.clean() {
            EXIT_OK
        } else {
            EXIT_FINDINGS
        }
    }))
}

/// The store's URL; without `--database`, a file in a temporary directory that `tmp` holds
/// (and removes when dropped).
fn database_url(arg: Option<&str>, tmp: &mut Option<TempDir>) -> Result<String, Failure> {
    let url = match arg {
        None => {
            let dir = tempfile::Builder::new()
                .prefix("tokenlife-bench-")
                .tempdir()
                .map_err(|e| Failure::Usage(format!("cannot create a temporary directory: {e}")))?;
            let url = format!("sqlite:{}", dir.path().join("bench.db").display());
            *tmp = Some(dir);
            url
        }
        Some(a) if a.contains("://") || a.starts_with("sqlite:") => a.to_string(),
        Some(path) => format!("sqlite:{path}"),
    };
    match Backend::of_url(&url) {
        Some(Backend::SqliteFile | Backend::Postgres) => Ok(url),
        Some(Backend::SqliteMemory) => Err(Failure::Usage(
            "--database: an in-memory store is not durable; give a file".into(),
        )),
        None => Err(Failure::Usage(format!(
            "--database: `{url}` is neither sqlite:PATH nor postgres://…"
        ))),
    }
}

/// Runs the benchmark and returns what it measured.
pub fn measure(args: &BenchServerArgs) -> Result<Report, Failure> {
    if args.concurrency == 0 {
        return Err(Failure::Usage("--concurrency must be at least 1".into()));
    }
    if args.families < args.concurrency {
        return Err(Failure::Usage(format!(
            "--families ({}) must be at least --concurrency ({}): no two clients share a family",
            args.families, args.concurrency
        )));
    }
    if args.duration.is_zero() {
        return Err(Failure::Usage("--duration must be positive".into()));
    }
    let policy =
        profile_named(&args.profile).map_err(|f| Failure::usage(format!("--profile: {f}")))?;
    let mut tmp = None;
    let url = database_url(args.database.as_deref(), &mut tmp)?;
    let server = match args.server {
        ServerMode::Child => Server::child(&args.profile, &args.server_log, &url)?,
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
        .map_err(|e| Failure::Unreachable(format!("cannot start the load generator: {e}")))?
        .join()
        .map_err(|_| Failure::Unreachable("the load generator panicked".into()))?;
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
            redact_url(&url)
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

#[cfg(test)]
mod tests {
    use super::*;

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
