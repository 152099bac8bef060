//! `tokenlife bench`: benchmarks, one module per benchmark, as the subcommands name them.
//!
//! - [`model`]: `bench model`, unique states per second of the model checker, per profile.
//! - [`server`]: `bench server`, refresh grants per second of the reference server over
//!   loopback, and a `kill -9` durability check of its store.
//! - [`harness`]: `bench harness`, what judging costs beside a bare replay.
//! - [`infer`]: `bench infer`, whether `infer` recovers random knob combinations served by
//!   the reference server, and what a target costs it.
//!
//! They sit together, beside `load`, because each is a command of this binary that drives
//! the model or a server from outside; none of them belongs to the crate it measures.

pub mod harness;
pub mod infer;
pub mod model;
pub mod server;

use crate::outcome::Format;

/// Arguments of `tokenlife bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Unique states per second of stateright's BFS and of our own BFS (the default engine of
    /// `check`), each on 1 thread and on all cores, for each built-in profile at the given
    /// bounds; best of `--runs`.
    Model {
        /// Grants at most.
        #[arg(long, default_value_t = 1)]
        grants: u8,
        /// Successful refreshes at most.
        #[arg(long, default_value_t = 4)]
        refreshes: u8,
        /// Runs per measurement; the best is kept.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Refresh grants per second against the reference server over loopback (SQLite file
    /// store), with p50/p99 latency and the CPU used by the server and the load generator.
    Server(server::BenchServerArgs),
    /// The harness's overhead: the default suite's HTTP request rate beside a bare client
    /// that replays the same requests without judging them, in the same run.
    Harness(harness::BenchHarnessArgs),
    /// Whether `infer` recovers the knobs of random policies the reference server serves:
    /// every knob the model says is decidable exactly, the others keeping the served value;
    /// with the requests and seconds per target.
    Infer(infer::BenchInferArgs),
}

/// Runs `tokenlife bench`.
pub fn run(args: BenchArgs) -> u8 {
    match args.what {
        BenchWhat::Model {
            grants,
            refreshes,
            runs,
            format,
        } => model::run(grants, refreshes, runs, format),
        BenchWhat::Server(a) => server::run(a),
        BenchWhat::Harness(a) => harness::run(a),
        BenchWhat::Infer(a) => infer::run(a),
    }
}
