//! The `tokenlife` command line: a thin layer, one module per subcommand.
//!
//! Raw arguments become a checked configuration before any work; results go to stdout,
//! logs to stderr. Exit codes, for every subcommand (design.md):
//! 0 conformant / every invariant holds, 1 divergences or failed properties,
//! 2 usage, 3 bad target, config, policy or scenario file, 4 target unreachable.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod bench_harness;
pub mod check;
pub mod explore;
pub mod load;
pub mod mutants;
pub mod profiles;
pub mod render;
pub mod run;
pub mod validate;

/// Exit code: everything holds.
pub const EXIT_OK: u8 = 0;
/// Exit code: divergences found, or an invariant violated / a `sometimes` undiscovered.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a bad target, config, policy or scenario file.
pub const EXIT_BAD_FILE: u8 = 3;
/// Exit code: the target (or a port to bind) is unreachable.
pub const EXIT_UNREACHABLE: u8 = 4;

/// tokenlife: a model-checked conformance suite for the OAuth 2.0 refresh-token lifecycle.
#[derive(Debug, Parser)]
#[command(name = "tokenlife", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Model-check a policy: every property, with shortest counterexamples.
    Check(check::CheckArgs),
    /// List the built-in profiles with every knob.
    Profiles(profiles::ProfilesArgs),
    /// Browse the model's state space in stateright's Explorer web UI (loopback only).
    Explore(explore::ExploreArgs),
    /// Benchmarks (`bench model`: unique states per second for each profile).
    Bench(bench::BenchArgs),
    /// Run the reference authorization server + protected resource.
    Serve(tokenlife_server::cli::ServeArgs),
    /// Run the conformance suite against a target (default: the embedded reference server).
    Run(run::RunArgs),
    /// Check a target, config, policy or scenario file without running anything.
    Validate(validate::ValidateArgs),
    /// Many token families under concurrent load (and crashes); every history checked.
    Load(load::LoadArgs),
    /// The suite's mutation score: every catalogued defect injected, killed or survived.
    Mutants(mutants::MutantsArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// For people.
    #[default]
    Human,
    /// For machines.
    Json,
}

/// Runs the command line and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    run(cli)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    ExitCode::from(match cli.command {
        Command::Check(a) => check::run(a),
        Command::Profiles(a) => profiles::run(a),
        Command::Explore(a) => explore::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Serve(a) => return tokenlife_server::cli::run(a),
        Command::Run(a) => run::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Load(a) => load::run(a),
        Command::Mutants(a) => mutants::run(a),
    })
}

/// The async runtime of the commands that talk HTTP (2 worker threads); on failure, the
/// error already printed and the exit code to return.
pub fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            fail(
                EXIT_UNREACHABLE,
                format!("failed to start the async runtime: {e}"),
            )
        })
}

/// `println!` that ignores a closed stdout (`tokenlife profiles | head` must not panic).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that ignores a closed stdout.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// Prints an error to stderr and returns `code`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    code
}
