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
        "--max-time <MAX_TIME>",
        "[default: 30m]",
        "429 retries",
    ] {
        assert!(help.contains(words), "no `{words}` in:\n{help}");
    }
}

/// A listener that accepts connections and never answers; its URL. The thread holds the
/// connections open until the test process ends.
fn silent_server() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    url
}

/// A server whose every answer is the RFC 8414 metadata of another issuer; its URL.
fn mix_up_server() -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = r#"{"issuer":"https://attacker.example","authorization_endpoint":"https://attacker.example/a","token_endpoint":"https://attacker.example/t"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A target file with two clients, `server` lines first.
fn target_file(dir: &std::path::Path, server: &str) -> String {
    let path = dir.join("target.toml");
    std::fs::write(
        &path,
        format!("[server]\n{server}\n[[clients]]\nid = \"a\"\nsecret = \"s3cret-value\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"offline_access read\"\n[[clients]]\nid = \"b\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"offline_access read\"\n"),
    )
    .unwrap();
    path.display().to_string()
}

/// Runs `tokenlife` and waits for it at most `limit` (a hang guard: past it the test
/// fails); with `after_start`, called with the child's id once it is running.
fn run_bounded(
    args: &[&str],
    limit: std::time::Duration,
    after_start: impl FnOnce(u32),
) -> std::process::Output {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tokenlife"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    after_start(id);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("tokenlife {args:?} did not end within {limit:?}");
        }
    }
}

/// The JSON report on stdout.
fn json_report(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

/// RFC 8414 §3.3: metadata naming another issuer is a bad target (exit 3), and with
/// `--format json` stdout still holds a JSON report saying why, no check run.
#[test]
fn an_issuer_mismatch_still_prints_a_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let url = mix_up_server();
    let target = target_file(dir.path(), &format!("issuer = \"{url}\""));
    let reports = dir.path().join("reports");
    let o = run_bounded(
        &[
            "run",
            "--target",
            &target,
            "--format",
            "json",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(120),
        |_| {},
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let report = json_report(&o);
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("RFC 8414 §3.3"), "{error}");
    assert_eq!(report["checks"], 0);
    // junit.xml says so too.
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"not run\""), "{junit}");
}

/// A target whose endpoints never answer: the run ends by itself with a report, marked
/// partial, and exit 4, long before the hours its sequences would take one --timeout each.
#[test]
fn a_silent_target_ends_with_a_partial_report_and_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let url = silent_server();
    let target = target_file(
        dir.path(),
        &format!("authorization_endpoint = \"{url}/authorize\"\ntoken_endpoint = \"{url}/token\""),
    );
    let reports = dir.path().join("reports");
    let o = run_bounded(
        &[
            "run",
            "--target",
            &target,
            "--timeout",
            "1",
            "--max-time",
            "20s",
            "--format",
            "json",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(240),
        |_| {},
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let report = json_report(&o);
    let partial = report["partial"].as_str().unwrap();
    assert!(
        partial.contains("circuit breaker") || partial.contains("--max-time"),
        "{partial}"
    );
    let written = std::fs::read_to_string(reports.join("report.json")).unwrap();
    assert!(written.contains("\"partial\""), "{written}");
    assert!(!written.contains("s3cret-value"));
}

/// SIGTERM stops a run that would otherwise wait a long while (a 30 s timeout per request):
/// the report so far is printed, marked partial, and the exit code is 4.
#[cfg(unix)]
#[test]
fn sigterm_ends_a_run_with_a_partial_report() {
    let dir = tempfile::tempdir().unwrap();
    let url = silent_server();
    let target = target_file(
        dir.path(),
        &format!("authorization_endpoint = \"{url}/authorize\"\ntoken_endpoint = \"{url}/token\""),
    );
    let o = run_bounded(
        &[
            "run",
            "--target",
            &target,
            "--timeout",
            "30",
            "--format",
            "json",
        ],
        std::time::Duration::from_secs(120),
        |id| {
            // Once the run is under way (its signal handler is set before any request).
            std::thread::sleep(std::time::Duration::from_secs(3));
            std::process::Command::new("kill")
                .args(["-TERM", &id.to_string()])
                .status()
                .unwrap();
        },
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let report = json_report(&o);
    assert_eq!(report["partial"], "interrupted by SIGTERM", "{report}");
}
