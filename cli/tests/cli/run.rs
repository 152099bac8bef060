//! `tokenlife run`'s flags that are checked before any work: `--concurrency` and
//! `--in-flight` must be at least 1 (usage, exit 2), and `--help` says what they bound.

use crate::{stderr, stdout, tokenlife};

#[test]
fn zero_concurrency_or_in_flight_is_a_usage_error() {
    for flag in ["--concurrency", "--in-flight"] {
        let o = tokenlife(&["run", flag, "0", "--depth", "0", "--cases", "0"]);
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{flag}: {}", stderr(&o));
    }
}

#[test]
fn help_documents_the_bounds_and_the_timeout() {
    let o = tokenlife(&["run", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for words in [
        "--concurrency <CONCURRENCY>",
        "[default: 64]",
        "--in-flight <IN_FLIGHT>",
        "[default: 8]",
        "infrastructure problem",
    ] {
        assert!(help.contains(words), "no `{words}` in:\n{help}");
    }
}
