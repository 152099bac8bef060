//! `tokenlife serve`: the command-line face of the reference server.
//!
//! Raw arguments become a checked [`ServerConfig`] before anything starts. Exit codes:
//! 0 stopped cleanly, 2 usage (bad flag, unknown profile or defect, an address other than
//! loopback without `--allow-remote`, or with the demo clients or `--test-clock`: see
//! [`crate::bind`]), 3 bad config or policy file (the message names the field), 4 cannot bind the
//! address or reach the database. Results go to stdout, logs (tracing) to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokenlife_model::policy::Seconds;
use tokenlife_model::Policy;

use crate::bind;
use crate::config::{
    self, ServerConfig, DEMO_CONFIDENTIAL_ID, DEMO_CONFIDENTIAL_SECRET, DEMO_PUBLIC_ID, DEMO_USER,
};
use crate::conn::Limits;
use crate::defects::{Defect, Defects};
use crate::server::start;

/// Exit code: stopped cleanly.
pub const EXIT_OK: u8 = 0;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: bad config or policy file.
pub const EXIT_BAD_FILE: u8 = 3;
/// Exit code: cannot bind or reach the database.
pub const EXIT_UNREACHABLE: u8 = 4;

/// Run the reference OAuth 2.0 server (authorization server + protected resource).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// A config file: `issuer`, `[[clients]]`, `[[users]]`, `[policy]` (as in a target file).
    /// Without one: the demo clients and user, printed at start.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The address to listen on: loopback unless --allow-remote.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9000")]
    pub bind: SocketAddr,
    /// Allow --bind on an address other than loopback (other machines can then reach a
    /// server that approves every authorization automatically). Refused all the same with
    /// the demo clients (no --config) or --test-clock.
    #[arg(long)]
    pub allow_remote: bool,
    /// Seconds a connection has to send a whole request head, from opening it or from the
    /// first byte of its next request; then it is closed.
    #[arg(long, value_name = "SECS", default_value_t = Limits::DEFAULT.header_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds a request's body has to arrive whole; then 408 and the connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = Limits::DEFAULT.body_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request; then it is closed.
    #[arg(long, value_name = "SECS", default_value_t = Limits::DEFAULT.idle_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Connections open at once; further ones wait until one closes (a warning is logged
    /// when the cap is reached).
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT.max_connections as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// The store: `sqlite:PATH`, `sqlite::memory:` or `postgres://…`.
    #[arg(long, value_name = "URL", default_value = "sqlite:tokenlife.db")]
    pub database: String,
    /// A built-in policy profile (overrides the config file's `[policy]`).
    #[arg(long, value_name = "NAME", conflicts_with = "policy")]
    pub profile: Option<String>,
    /// A policy file (TOML: `profile` plus knobs, top level or in `[policy]`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The issuer identifier (default: http:// + the bound address).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Access-token lifetime in seconds (overrides the policy).
    #[arg(long, value_name = "SECS")]
    pub access_ttl: Option<u32>,
    /// Refresh-token lifetime in seconds (overrides the policy).
    #[arg(long, value_name = "SECS")]
    pub refresh_ttl: Option<u32>,
    /// Freeze the clock and expose `POST /test/clock {"advance_seconds": n}` (loopback only).
    #[arg(long)]
    pub test_clock: bool,
    /// Inject a defect (repeatable); see --list-defects.
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<Defect>,
    /// List the injectable defects with their symptoms, then exit.
    #[arg(long)]
    pub list_defects: bool,
}

/// Why the arguments do not make a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ArgsError {
    /// The exit code it maps to.
    pub code: u8,
    /// What is wrong, naming the flag or field.
    pub message: String,
}

fn usage(message: impl Into<String>) -> ArgsError {
    ArgsError {
        code: EXIT_USAGE,
        message: message.into(),
    }
}

fn bad_file(message: impl Into<String>) -> ArgsError {
    ArgsError {
        code: EXIT_BAD_FILE,
        message: message.into(),
    }
}

/// The checked configuration the arguments describe (reads the config and policy files).
pub fn config_from_args(args: &ServeArgs) -> Result<ServerConfig, ArgsError> {
    let mut cfg = ServerConfig::demo(args.bind);
    cfg.database = args.database.clone();
    if let Some(path) = &args.config {
        let file =
            config::load_file(path).map_err(|e| bad_file(format!("{}: {e}", path.display())))?;
        cfg.demo = false;
        cfg.issuer = file.issuer;
        cfg.clients = file.clients;
        cfg.users = file.users;
        if let Some(p) = file.policy {
            cfg.policy = p;
        }
    }
    if let Some(path) = &args.policy {
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad_file(format!(
                "failed to read policy file {}: {e}",
                path.display()
            ))
        })?;
        cfg.policy =
            Policy::from_toml(&text).map_err(|e| bad_file(format!("{}: {e}", path.display())))?;
    }
    if let Some(name) = &args.profile {
        cfg.policy = Policy::profile(name).ok_or_else(|| {
            usage(format!(
                "--profile: unknown profile `{name}`; the built-in profiles are: {}",
                Policy::profile_names().collect::<Vec<_>>().join(", ")
            ))
        })?;
    }
    let mut custom = false;
    if let Some(s) = args.access_ttl {
        cfg.policy.access_ttl = Seconds(s);
        custom = true;
    }
    if let Some(s) = args.refresh_ttl {
        cfg.policy.refresh_ttl = Some(Seconds(s));
        custom = true;
    }
    if custom && !cfg.policy.profile.ends_with("+custom") {
        cfg.policy.profile = format!("{}+custom", cfg.policy.profile);
    }
    cfg.policy.validate().map_err(|e| {
        usage(format!(
            "the lifetimes given on the command line make an invalid policy: {e}"
        ))
    })?;
    if let Some(issuer) = &args.issuer {
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(usage(format!("--issuer: `{issuer}` is not an http(s) URL")));
        }
        cfg.issuer = Some(issuer.clone());
    }
    cfg.test_clock = args.test_clock;
    cfg.allow_remote = args.allow_remote;
    bind::check(args.bind, cfg.exposure()).map_err(|e| usage(e.to_string()))?;
    cfg.defects = args.defects.iter().copied().collect::<Defects>();
    cfg.limits = Limits {
        header_timeout: Duration::from_secs(args.header_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    Ok(cfg)
}

/// The defect list printed by `--list-defects`.
pub fn defect_list() -> String {
    let width = Defect::ALL
        .iter()
        .map(|d| d.name().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for d in Defect::ALL {
        out.push_str(&format!("{:width$}  {}\n", d.name(), d.symptom()));
    }
    out
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn banner(cfg: &ServerConfig, url: &str, issuer: &str) -> String {
    let mut s = format!(
        "tokenlife reference server\n  listening  {url}\n  issuer     {issuer}\n  discovery  {issuer}/.well-known/oauth-authorization-server\n  policy     {}\n",
        cfg.policy.profile
    );
    if cfg.test_clock {
        s.push_str(&format!(
            "  test clock POST {issuer}/test/clock {{\"advance_seconds\": n}}\n"
        ));
    }
    if cfg.defects.any() {
        let names: Vec<_> = cfg.defects.iter().map(|d| d.name()).collect();
        s.push_str(&format!(
            "  DEFECTS    {} (deliberately wrong server)\n",
            names.join(", ")
        ));
    }
    if cfg.demo {
        let cb = cfg
            .clients
            .first()
            .map(|c| c.redirect_uri.clone())
            .unwrap_or_default();
        s.push_str(&format!(
            "\ndemo clients (no --config given):\n  {DEMO_CONFIDENTIAL_ID}  confidential, client_secret_basic, secret `{DEMO_CONFIDENTIAL_SECRET}`\n  {DEMO_PUBLIC_ID}        public, auth none + PKCE S256\n  both: redirect_uri {cb}, scope \"{}\"\ndemo user: {DEMO_USER} (approved automatically)\n\ntry: curl -i '{issuer}/authorize?response_type=code&client_id={DEMO_CONFIDENTIAL_ID}&scope=offline_access%20read&state=xyz'\n",
            config::DEMO_SCOPE
        ));
    }
    s
}

/// Runs `tokenlife serve` until Ctrl-C or SIGTERM and returns the exit code.
pub fn run(args: ServeArgs) -> ExitCode {
    init_tracing();
    if args.list_defects {
        print!("{}", defect_list());
        return ExitCode::from(EXIT_OK);
    }
    let cfg = match config_from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let server = match start(cfg.clone()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(e.exit_code());
            }
        };
        print!("{}", banner(&cfg, server.url(), server.state().issuer()));
        wait_for_stop().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::from(EXIT_OK)
    })
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        Cmd::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).map(|c| c.serve)
    }

    #[test]
    fn defaults_are_the_demo() {
        let a = parse(&[]).unwrap();
        let cfg = config_from_args(&a).unwrap();
        assert!(cfg.demo);
        assert_eq!(cfg.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(cfg.policy.profile, "bcp");
        assert_eq!(cfg.clients.len(), 2);
        assert!(
            banner(&cfg, "http://127.0.0.1:9000", "http://127.0.0.1:9000").contains("demo-secret")
        );
    }

    #[test]
    fn flags_override_the_policy() {
        let a = parse(&[
            "--profile",
            "strict",
            "--access-ttl",
            "5",
            "--refresh-ttl",
            "50",
        ])
        .unwrap();
        let cfg = config_from_args(&a).unwrap();
        assert_eq!(cfg.policy.access_ttl, Seconds(5));
        assert_eq!(cfg.policy.refresh_ttl, Some(Seconds(50)));
        assert_eq!(cfg.policy.profile, "strict+custom");
    }

    #[test]
    fn usage_errors() {
        let err = parse(&["--defect", "nope"]).err().unwrap().to_string();
        assert!(err.contains("replay-accepted"), "{err}");
        let a = parse(&["--profile", "nope"]).unwrap();
        assert_eq!(config_from_args(&a).unwrap_err().code, EXIT_USAGE);
        let a = parse(&["--test-clock", "--bind", "0.0.0.0:9000"]).unwrap();
        assert_eq!(config_from_args(&a).unwrap_err().code, EXIT_USAGE);
        let a = parse(&["--access-ttl", "0"]).unwrap();
        assert_eq!(config_from_args(&a).unwrap_err().code, EXIT_USAGE);
        assert!(parse(&["--profile", "bcp", "--policy", "x.toml"]).is_err());
        let a = parse(&["--config", "/nonexistent/tokenlife.toml"]).unwrap();
        assert_eq!(config_from_args(&a).unwrap_err().code, EXIT_BAD_FILE);
    }

    /// A config file with clients of its own (not the demo).
    fn own_config() -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            f.path(),
            "[[clients]]\nid = \"app\"\nsecret = \"s3cret-value\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n",
        )
        .unwrap();
        f
    }

    #[test]
    fn off_loopback_only_with_allow_remote_and_never_the_demo_or_the_test_clock() {
        let file = own_config();
        let config = file.path().to_str().unwrap();
        let refused = |args: &[&str], names: &str| {
            let e = config_from_args(&parse(args).unwrap()).unwrap_err();
            assert_eq!(e.code, EXIT_USAGE, "{args:?}");
            assert!(e.message.contains(names), "{args:?}: {}", e.message);
        };
        refused(&["--bind", "0.0.0.0:9000"], "--config");
        refused(&["--bind", "0.0.0.0:9000", "--allow-remote"], "--config");
        refused(
            &["--bind", "[::]:9000", "--config", config],
            "--allow-remote",
        );
        refused(
            &[
                "--bind",
                "0.0.0.0:9000",
                "--config",
                config,
                "--allow-remote",
                "--test-clock",
            ],
            "--test-clock",
        );
        let ok = parse(&[
            "--bind",
            "0.0.0.0:9000",
            "--config",
            config,
            "--allow-remote",
        ])
        .unwrap();
        let cfg = config_from_args(&ok).unwrap();
        assert!(cfg.allow_remote && !cfg.demo);
        // Loopback needs nothing.
        let cfg = config_from_args(&parse(&["--test-clock"]).unwrap()).unwrap();
        assert!(cfg.demo && cfg.test_clock && !cfg.allow_remote);
    }

    #[test]
    fn limits_come_from_their_flags() {
        let cfg = config_from_args(&parse(&[]).unwrap()).unwrap();
        assert_eq!(cfg.limits, Limits::DEFAULT);
        let a = parse(&[
            "--header-timeout",
            "3",
            "--body-timeout",
            "4",
            "--idle-timeout",
            "5",
            "--max-connections",
            "7",
        ])
        .unwrap();
        let cfg = config_from_args(&a).unwrap();
        assert_eq!(
            cfg.limits,
            Limits {
                header_timeout: Duration::from_secs(3),
                body_timeout: Duration::from_secs(4),
                idle_timeout: Duration::from_secs(5),
                max_connections: 7,
            }
        );
        for bad in [
            ["--max-connections", "0"],
            ["--header-timeout", "0"],
            ["--idle-timeout", "x"],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn run_maps_startup_failures_to_exit_codes() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let a = parse(&["--bind", &addr, "--database", "sqlite::memory:"]).unwrap();
        assert_eq!(run(a), ExitCode::from(EXIT_UNREACHABLE));
        let a = parse(&["--bind", "127.0.0.1:0", "--database", "mysql://x"]).unwrap();
        assert_eq!(run(a), ExitCode::from(EXIT_BAD_FILE));
        let a = parse(&["--list-defects"]).unwrap();
        assert_eq!(run(a), ExitCode::from(EXIT_OK));
    }

    #[test]
    fn every_defect_is_listed() {
        let list = defect_list();
        for d in Defect::ALL {
            assert!(list.contains(d.name()));
        }
    }
}
