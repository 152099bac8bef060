//! Tests of the `tokenlife` binary: the real executable, a clean environment, snapshots of
//! what people read, and the documented exit codes.

#![allow(clippy::unwrap_used)] // tests panic on purpose with the value in view

use std::process::{Command, Output};

mod bench;
mod check;
mod infer;
mod load;
mod mutants;
mod profiles;
mod run;
mod serve;

/// Runs `tokenlife` with `args` in a clean environment.
pub fn tokenlife(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenlife"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("failed to run tokenlife")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Replaces the figures that change from run to run (times, rates).
pub fn redact_timings(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.contains(" unique states in ") {
                let n = l.split_whitespace().next().unwrap_or("");
                format!("{n} unique states in [seconds] s ([rate] states/s)")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
