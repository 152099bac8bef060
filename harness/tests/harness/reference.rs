//! The shipped scenarios against the reference server: green under every built-in profile.

use tokenlife_harness::report::ScenarioStatus;
use tokenlife_model::policy::Rotation;
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::common::{run_with, shipped};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_scenario_passes_under_every_profile() {
    for name in Policy::profile_names() {
        let r = run_with(Policy::profile(name).unwrap(), Defects::none(), &shipped()).await;
        assert!(r.conformant(), "{name}:\n{}", r.human());
        assert!(!r.has_scenario_errors(), "{name}:\n{}", r.human());
        assert!(r.checks > 0 && r.passed > 0, "{name}:\n{}", r.human());
        let ran = r
            .scenarios
            .iter()
            .filter(|s| s.status == ScenarioStatus::Passed)
            .count();
        assert!(ran > 0, "{name}: nothing ran\n{}", r.human());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustive_sequences_pass_under_every_profile() {
    let none = tokenlife_harness::scenario::from_texts([]).unwrap();
    for name in Policy::profile_names() {
        let r = crate::common::run_opts(
            Policy::profile(name).unwrap(),
            Defects::none(),
            &none,
            tokenlife_harness::RunOptions {
                depth: 3,
                ..Default::default()
            },
        )
        .await;
        assert!(r.conformant(), "{name}:\n{}", r.human());
        let c = r.coverage.unwrap();
        assert!(
            c.sequences > 100 && c.covered > 0 && c.covered <= c.transitions,
            "{name}: {c:?}"
        );
        // Where the server may choose it takes one branch, and the states behind the other
        // stay unreached: the reference server always rotates (so `rotation = "any"`'s keep
        // branch is never taken) and answers 200 to another client's revocation.
        let p = Policy::profile(name).unwrap();
        let floor =
            if p.rotation_public != Rotation::Any && p.rotation_confidential != Rotation::Any {
                0.95
            } else {
                0.6
            };
        assert!(
            c.pairs_covered as f64 >= floor * c.pairs as f64,
            "{name}: {c:?}"
        );
    }
}

/// The reference server on its wall clock (no test clock), 2 s access tokens and 5 s
/// refresh tokens: the harness waits for each deadline and accepts either answer within
/// the skew. Slow by nature (it waits on the real clock): three scenarios, and the
/// exhaustive (depth 3) and random sequences, which run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_clock_target_passes() {
    let policy =
        Policy::from_toml("profile = \"bcp\"\naccess_ttl = \"2s\"\nrefresh_ttl = \"5s\"\n")
            .unwrap();
    let (server, target) = crate::common::wall_clock_server(policy).await;
    let all = shipped();
    let set = tokenlife_harness::scenario::ScenarioSet {
        scenarios: all
            .scenarios
            .into_iter()
            .filter(|s| {
                ["ten-step-flow", "refresh-token-expiry", "family-revocation"]
                    .contains(&s.name.as_str())
            })
            .collect(),
        hash: all.hash,
    };
    // Generated sequences run at once against a real clock, each on its own timers.
    let options = tokenlife_harness::RunOptions {
        depth: 3,
        cases: 8,
        seed: 11,
        ..Default::default()
    };
    let r = tokenlife_harness::run(target, &set, options, None)
        .await
        .unwrap();
    server.shutdown().await;
    assert!(r.conformant(), "{}", r.human());
    let passed: Vec<_> = r
        .scenarios
        .iter()
        .filter(|s| s.status == ScenarioStatus::Passed && s.name != "discovery")
        .collect();
    // Three scenarios, the client-authentication probe, exhaustive and random.
    assert_eq!(passed.len(), 6, "{}", r.human());
    // Coverage is counted in the walk's reading too: the set's states have lived through
    // the real seconds each exchange took, so their fingerprints alone miss most of it.
    let c = r.coverage.unwrap();
    assert!(c.covered > 40, "{}", r.human());
    assert!(c.covered as f64 >= 0.8 * c.transitions as f64, "{c:?}");
}

/// Named deadlines on the real clock: the grace window outlives the access token (where a
/// plain tick lands on the access expiry and grace-window would exit 3), and the absolute
/// cap reached by refreshing just before each token would end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_clock_moves_to_named_deadlines() {
    for (toml, name) in [
        (
            "profile = \"grace-same\"\naccess_ttl = \"2s\"\ngrace_window = \"4s\"\nrefresh_ttl = \"20s\"\n",
            "grace-window",
        ),
        (
            "profile = \"strict\"\naccess_ttl = \"2s\"\nrefresh_ttl = \"4s\"\nabsolute_cap = \"7s\"\n",
            "absolute-cap",
        ),
    ] {
        let policy = Policy::from_toml(toml).unwrap();
        let (server, target) = crate::common::wall_clock_server(policy).await;
        let all = shipped();
        let set = tokenlife_harness::scenario::ScenarioSet {
            scenarios: all
                .scenarios
                .into_iter()
                .filter(|s| s.name == name)
                .collect(),
            hash: all.hash,
        };
        let options = tokenlife_harness::RunOptions {
            depth: 0,
            cases: 0,
            ..Default::default()
        };
        let r = tokenlife_harness::run(target, &set, options, None)
            .await
            .unwrap();
        server.shutdown().await;
        let s = r.scenarios.iter().find(|s| s.name == name).unwrap();
        assert_eq!(s.status, ScenarioStatus::Passed, "{}", r.human());
    }
}
