//! `cargo run -p tokenlife-server --example serve -- [ARGS]`: the server without the
//! `tokenlife` binary (the same flags as `tokenlife serve`).

use clap::Parser;
use tokenlife_server::cli::{run, ServeArgs};

/// Run the tokenlife reference OAuth 2.0 server.
#[derive(Parser)]
#[command(name = "serve")]
struct Cmd {
    #[command(flatten)]
    args: ServeArgs,
}

fn main() -> std::process::ExitCode {
    run(Cmd::parse().args)
}
