//! The `tokenlife` command line: a thin layer, one module per subcommand.
//!
//! Raw arguments become a checked configuration before any work; results go to stdout,
//! logs to stderr. This file only declares the modules, the command line and its dispatch;
//! the exit codes (documented in [`outcome`]), the output format and the error every
//! subcommand returns live in [`outcome`], the floor under every subcommand.
//!
//! - [`check`], [`profiles`], [`explore`]: the model.
//! - [`run`], [`validate`], [`mutants`]: the conformance suite; [`embedded`] is the
//!   reference server they test by default. [`infer`]: the policy a server implements,
//!   learned from its answers; [`infer_shown`]: its security characteristics, replayed.
//! - [`load`]: many families under load; its process fleet in `load::fleet`.
//! - [`bench`]: `bench model`, `bench server`, `bench harness`, `bench infer`.
//! - [`policy`], [`render`], [`duration`], [`cpu`]: what several subcommands share.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod check;
pub mod cpu;
pub mod duration;
pub mod embedded;
pub mod explore;
pub mod infer;
pub mod infer_shown;
pub mod load;
pub mod mutants;
pub mod outcome;
pub mod policy;
pub mod profiles;
pub mod render;
pub mod run;
pub mod validate;

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
    /// Learn the policy a server implements from its answers to experiments the model designs.
    Infer(infer::InferArgs),
    /// Check a target, config, policy or scenario file without running anything.
    Validate(validate::ValidateArgs),
    /// Many token families under concurrent load (and crashes); every history checked.
    Load(load::LoadArgs),
    /// The suite's mutation score: every catalogued defect injected, killed or survived.
    Mutants(mutants::MutantsArgs),
}

/// Runs the command line and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                outcome::EXIT_USAGE
            } else {
                outcome::EXIT_OK
            };
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
        Command::Infer(a) => infer::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Load(a) => load::run(a),
        Command::Mutants(a) => mutants::run(a),
    })
}
