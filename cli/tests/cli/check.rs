use crate::{redact_timings, stderr, stdout, tokenlife};

#[test]
fn check_bcp_human() {
    let o = tokenlife(&["check", "--profile", "bcp", "--threads", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!(redact_timings(&stdout(&o)));
}

#[test]
fn check_json_keeps_its_keys() {
    let o = tokenlife(&["check", "--profile", "strict", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profile"], "strict");
    assert_eq!(v["unique_states"], 20_979);
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    assert!(v["states_per_second"].as_f64().unwrap() > 0.0);
    let props = v["properties"].as_array().unwrap();
    assert_eq!(props.len(), tokenlife_model::PROPERTIES.len());
    for p in props {
        for key in ["name", "kind", "group", "clause", "status"] {
            assert!(p.get(key).is_some(), "{key} missing in {p}");
        }
    }
    let lost = props
        .iter()
        .find(|p| {
            p["name"] == "a client that lost a refresh response and retries at once keeps access"
        })
        .unwrap();
    assert_eq!(lost["status"], "violated");
    assert_eq!(lost["group"], "characteristic");
    assert_eq!(lost["counterexample"].as_array().unwrap().len(), 3);
}

#[test]
fn all_profiles_prints_the_matrix() {
    let o = tokenlife(&["check", "--all-profiles"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for name in [
        "rfc6749",
        "bcp",
        "oauth21",
        "strict",
        "grace-same",
        "grace-new",
        "bcp-dpop",
        "fapi2",
    ] {
        assert!(out.lines().nth(3).unwrap().contains(name), "{out}");
    }
    insta::assert_snapshot!(out);
}

#[test]
fn a_depth_too_small_to_reach_every_situation_fails() {
    let o = tokenlife(&["check", "--profile", "bcp", "--depth", "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("undiscovered"));
}

#[test]
fn policy_file_with_overrides() {
    let dir = std::env::temp_dir().join(format!("tokenlife-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("ebr.toml");
    std::fs::write(
        &f,
        "profile = \"bcp\"\ncheck_order = \"expiry-before-reuse\"\n",
    )
    .unwrap();
    let o = tokenlife(&["check", "--policy", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profile"], "bcp+custom");
    let theft = v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().unwrap().contains("theft bound"))
        .unwrap()
        .clone();
    assert_eq!(theft["status"], "violated");
    std::fs::write(&f, "profile = \"bcp\"\nreuse_detection = \"yes\"\n").unwrap();
    let o = tokenlife(&["check", "--policy", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("`reuse_detection`"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_policy_files_knobs_print_their_rfc_standing() {
    let dir = std::env::temp_dir().join(format!("tokenlife-cli-notes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("node.toml");
    std::fs::write(
        &f,
        "profile = \"bcp\"\nrevoke_refresh_cascades = \"refresh-tokens\"\nrevoke_consumed_cascades = \"grant\"\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]\n",
    )
    .unwrap();
    let o = tokenlife(&["check", "--policy", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let notes: Vec<&str> = out.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 2, "{out}");
    assert!(
        notes[0].contains("RFC7009-2.1") && notes[0].contains("\"refresh-tokens\""),
        "{out}"
    );
    assert!(
        notes[1].contains("RFC9700-4.14.2")
            && notes[1].contains("[\"scope\", \"reuse\", \"expiry\"]"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exit_codes() {
    let unknown = tokenlife(&["check", "--profile", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("rfc6749, bcp, oauth21"),
        "{}",
        stderr(&unknown)
    );
    let missing = tokenlife(&["check", "--policy", "does/not/exist.toml"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(stderr(&missing).contains("does/not/exist.toml"));
    assert_eq!(
        tokenlife(&["check", "--grants", "0"]).status.code(),
        Some(2)
    );
    assert_eq!(
        tokenlife(&["check", "--grants", "9"]).status.code(),
        Some(2)
    );
    assert_eq!(
        tokenlife(&["check", "--no-such-flag"]).status.code(),
        Some(2)
    );
    assert_eq!(
        tokenlife(&["check", "--profile", "bcp", "--all-profiles"])
            .status
            .code(),
        Some(2)
    );
    let open = tokenlife(&["explore", "--bind", "0.0.0.0:3999"]);
    assert_eq!(open.status.code(), Some(2));
    assert!(stderr(&open).contains("loopback"));
    assert_eq!(tokenlife(&["--version"]).status.code(), Some(0));
}

/// `--write-scenario`: every violated property's shortest counterexample as a scenario
/// file that parses and, run against the embedded server under the same policy, passes
/// (the server does what the model says, so the counterexample replays): the theft bound
/// of a policy that never rotates, and the lost-response liveness and one live refresh
/// token of policies with rotation.
#[test]
fn written_counterexamples_replay_against_the_embedded_server() {
    let dir = tempfile::tempdir().unwrap();
    let never = dir.path().join("never.toml");
    std::fs::write(
        &never,
        "profile = \"bcp\"\nrotation_public = \"never\"\nrotation_confidential = \"never\"\n",
    )
    .unwrap();
    let never = never.display().to_string();
    for (policy, written) in [
        (["--policy", never.as_str()], &["theft-bound"][..]),
        (["--profile", "bcp"], &["lost-response-liveness"][..]),
        (
            ["--profile", "grace-new"],
            &["one-live-refresh-token", "theft-bound"][..],
        ),
    ] {
        let out = dir.path().join(policy[1].replace(['/', '.'], "-"));
        let out_s = out.display().to_string();
        let o = tokenlife(&[
            "check",
            policy[0],
            policy[1],
            "--threads",
            "1",
            "--write-scenario",
            &out_s,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let mut files: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let want: Vec<String> = written.iter().map(|w| format!("{w}.toml")).collect();
        assert_eq!(files, want, "{}", stdout(&o));
        for w in written {
            assert!(stdout(&o).contains(&format!("wrote {out_s}/{w}.toml")));
            let sc =
                tokenlife_harness::scenario::load_file(&out.join(format!("{w}.toml"))).unwrap();
            assert_eq!(sc.name, *w);
            assert!(sc.description.contains(w), "{}", sc.description);
        }
        let o = tokenlife(&[
            "run",
            policy[0],
            policy[1],
            "--scenarios",
            &out_s,
            "--depth",
            "0",
            "--cases",
            "0",
            "--format",
            "json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for w in written {
            let s = v["scenarios"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == *w)
                .unwrap_or_else(|| panic!("no {w} in {v}"));
            assert_eq!(s["status"], "passed", "{s}");
            assert_eq!(
                s["steps_run"].as_u64().unwrap() as usize,
                tokenlife_harness::scenario::load_file(&out.join(format!("{w}.toml")))
                    .unwrap()
                    .steps
                    .len()
            );
        }
    }
}
