//! `tokenlife load`: the clean reference server holds under load (also across crash-restarts
//! and on two PostgreSQL instances), and the concurrency and durability defects are caught.
//! Each test loads for a few seconds; they run one at a time so that they do not starve each
//! other of the machine's cores.

use std::sync::Mutex;

use crate::{stderr, stdout, tokenlife};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `tokenlife load --format json` with `args` and returns (exit code, report).
fn load(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut all = vec!["load", "--format", "json", "--seed", "7"];
    all.extend_from_slice(args);
    let o = tokenlife(&all);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (
        o.status.code(),
        v,
        format!("{}\n{}", stdout(&o), stderr(&o)),
    )
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number `{key}` in {v}"))
}

#[test]
fn the_clean_server_has_no_violation_and_the_json_keeps_its_keys() {
    let (code, v, out) = load(&["--duration", "2s", "--families", "16", "--concurrency", "8"]);
    assert_eq!(code, Some(0), "{out}");
    for key in [
        "requests",
        "refreshes_per_second",
        "p50_ms",
        "p99_ms",
        "families",
        "violations",
        "restarts",
    ] {
        assert!(v[key].is_number(), "no number `{key}` in {v}");
    }
    assert_eq!(count(&v, "violations"), 0, "{out}");
    assert!(count(&v, "requests") > 100, "{out}");
    assert!(count(&v, "families") >= 16, "{out}");
    assert!(v["refreshes_per_second"].as_f64().unwrap() > 0.0);
}

fn caught(defect: &str, extra: &[&str], check: &str) {
    let mut args = vec!["--defect", defect];
    args.extend_from_slice(extra);
    let (code, v, out) = load(&args);
    assert_eq!(code, Some(1), "{defect}: {out}");
    assert!(count(&v, "violations") > 0, "{out}");
    assert!(
        v["by_check"][check].as_u64().unwrap_or(0) > 0,
        "{defect}: no {check} in {out}"
    );
    let f = &v["findings"][0];
    assert!(
        f["timeline"].as_array().is_some_and(|t| !t.is_empty()),
        "{out}"
    );
    assert!(
        f["mermaid"]
            .as_str()
            .unwrap_or("")
            .starts_with("sequenceDiagram"),
        "{out}"
    );
}

#[test]
fn race_double_spend_is_caught() {
    caught(
        "race-double-spend",
        &["--duration", "2s"],
        "race.linearizable",
    );
}

#[test]
fn race_500_is_caught() {
    caught("race-500", &["--duration", "2s"], "token.well-formed");
}

#[test]
fn restart_forgets_is_caught_across_crash_restarts() {
    caught(
        "restart-forgets",
        &["--crash-every", "300ms"],
        "introspect.dead-inactive",
    );
}

#[test]
fn the_clean_server_survives_twenty_crash_restarts() {
    // Counted, not timed: the load ends after the 20th restart; the duration is only a
    // cap against a hang, far beyond what twenty restarts take on a busy machine.
    let (code, v, out) = load(&[
        "--duration",
        "120s",
        "--crash-every",
        "50ms",
        "--crashes",
        "20",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(count(&v, "violations"), 0, "{out}");
    assert_eq!(count(&v, "restarts"), 20, "{out}");
    assert!(count(&v, "refreshes_ok") > 0, "{out}");
}

#[test]
fn two_instances_on_postgresql_hold_across_crash_restarts() {
    let Ok(url) = std::env::var("TOKENLIFE_TEST_POSTGRES") else {
        eprintln!(
            "skipped: TOKENLIFE_TEST_POSTGRES is not set (a postgres:// URL of a test database)"
        );
        return;
    };
    let (code, v, out) = load(&[
        "--duration",
        "5s",
        "--instances",
        "2",
        "--database",
        &url,
        "--crash-every",
        "500ms",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(count(&v, "violations"), 0, "{out}");
    assert!(count(&v, "restarts") >= 2, "{out}");
    assert!(
        v["server"]
            .as_str()
            .unwrap_or("")
            .contains("2 `tokenlife serve`"),
        "{out}"
    );
}

#[test]
fn usage_errors_and_remote_targets() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.toml");
    std::fs::write(
        &remote,
        "[server]\nissuer = \"https://auth.example.com\"\n[[clients]]\nid = \"a\"\nsecret = \"s\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n[[clients]]\nid = \"b\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n",
    )
    .unwrap();
    let remote = remote.display().to_string();
    for (args, code) in [
        (vec!["load", "--target", remote.as_str()], 2),
        (vec!["load", "--defect", "nope"], 2),
        (vec!["load", "--instances", "2"], 2),
        (vec!["load", "--profile", "nope"], 2),
        (vec!["load", "--target", "/nonexistent.toml"], 3),
    ] {
        let o = tokenlife(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
    }
    let o = tokenlife(&["load", "--target", &remote]);
    assert!(stderr(&o).contains("--allow-remote"), "{}", stderr(&o));
}

#[test]
fn the_checker_alone_accepts_simulated_correct_histories() {
    let (code, v, out) = load(&["--bench-checker", "500", "--profile", "grace-new"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(count(&v, "histories"), 500);
    assert_eq!(count(&v, "violations"), 0);
    assert!(v["histories_per_second"].as_f64().unwrap() > 0.0);
}
