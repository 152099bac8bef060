//! How a subcommand ends and speaks: the documented exit codes, [`Failure`] (an error that
//! carries its exit code), the output [`Format`], stdout writes that survive a closed pipe,
//! and the async runtime of the commands that talk HTTP.
//!
//! Every subcommand imports from here, and nothing here imports a subcommand: the floor
//! under all of them. Exit codes, for every subcommand (design.md): 0 conformant / every
//! invariant holds, 1 divergences or failed properties, 2 usage, 3 bad target, config,
//! policy or scenario file, 4 target unreachable.

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

/// Why a subcommand stopped before it had a verdict: the message for stderr, and by its
/// variant the exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Bad usage (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A bad target, config, policy or scenario file (exit 3).
    #[error("{0}")]
    BadFile(String),
    /// The target, a port or a resource the run needs is unreachable (exit 4).
    #[error("{0}")]
    Unreachable(String),
}

impl Failure {
    /// Bad usage.
    pub fn usage(message: impl std::fmt::Display) -> Failure {
        Failure::Usage(message.to_string())
    }

    /// A bad file.
    pub fn bad_file(message: impl std::fmt::Display) -> Failure {
        Failure::BadFile(message.to_string())
    }

    /// Something unreachable.
    pub fn unreachable(message: impl std::fmt::Display) -> Failure {
        Failure::Unreachable(message.to_string())
    }

    /// A run against a target that did not start: unreachable (4) when the target could
    /// not be reached, a bad target or scenario (3) otherwise.
    pub fn of_target(unreachable: bool, message: impl std::fmt::Display) -> Failure {
        if unreachable {
            Failure::unreachable(message)
        } else {
            Failure::bad_file(message)
        }
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::BadFile(_) => EXIT_BAD_FILE,
            Failure::Unreachable(_) => EXIT_UNREACHABLE,
        }
    }
}

/// The exit code of a subcommand's result; a failure is printed to stderr first.
pub fn exit_code(result: Result<u8, Failure>) -> u8 {
    match result {
        Ok(code) => code,
        Err(f) => fail(f.code(), f),
    }
}

/// Prints an error to stderr and returns `code`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    code
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

/// The async runtime of the commands that talk HTTP (2 worker threads).
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::unreachable(format!("failed to start the async runtime: {e}")))
}

/// `println!` that ignores a closed stdout (`tokenlife profiles | head` must not panic).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_documented_code() {
        assert_eq!(Failure::usage("x").code(), 2);
        assert_eq!(Failure::bad_file("x").code(), 3);
        assert_eq!(Failure::unreachable("x").code(), 4);
        assert_eq!(Failure::of_target(true, "x").code(), 4);
        assert_eq!(Failure::of_target(false, "x").code(), 3);
        assert_eq!(exit_code(Ok(EXIT_FINDINGS)), 1);
        assert_eq!(exit_code(Err(Failure::usage("bad"))), 2);
    }
}
