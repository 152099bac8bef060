//! `tokenlife explore`: stateright's Explorer web UI over the model, on loopback only.

use std::net::{SocketAddr, TcpListener};

use stateright::Model;
use tokenlife_model::model::{Bounds, LifecycleModel};

use crate::outcome::{fail, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::policy::load_policy;

/// Arguments of `tokenlife explore`.
#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// A built-in profile; default `bcp`.
    #[arg(long, conflicts_with = "policy")]
    pub profile: Option<String>,
    /// A policy file.
    #[arg(long)]
    pub policy: Option<std::path::PathBuf>,
    /// Where the Explorer listens: a loopback address.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// Grants at most.
    #[arg(long, default_value_t = 1)]
    pub grants: u8,
    /// Successful refreshes at most.
    #[arg(long, default_value_t = 4)]
    pub refreshes: u8,
}

/// Runs `tokenlife explore` (until interrupted).
pub fn run(args: ExploreArgs) -> u8 {
    if !args.bind.ip().is_loopback() {
        return fail(
            EXIT_USAGE,
            format!(
                "--bind {} is not a loopback address; the Explorer has no authentication",
                args.bind
            ),
        );
    }
    let bounds = Bounds {
        grants: args.grants,
        refreshes: args.refreshes,
        depth: None,
    };
    if let Err(e) = bounds.validate() {
        return fail(EXIT_USAGE, e);
    }
    let policy = match load_policy(args.profile.as_deref(), args.policy.as_ref()) {
        Ok(p) => p,
        Err(f) => return fail(f.code(), f),
    };
    // stateright panics when it cannot bind; find out first and say so.
    if let Err(e) = TcpListener::bind(args.bind) {
        return fail(
            EXIT_UNREACHABLE,
            format!("failed to listen on {}: {e}", args.bind),
        );
    }
    eprintln!(
        "Explorer for profile {} at http://{}/ (Ctrl-C to stop)",
        policy.profile, args.bind
    );
    let _checker = LifecycleModel::new(policy, bounds)
        .checker()
        .serve(args.bind);
    loop {
        std::thread::park();
    }
}
