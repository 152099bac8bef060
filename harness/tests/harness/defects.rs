//! The reference server with an injected defect fails the run with the right check.

use tokenlife_server::Defect;

use crate::common::{failed_ids, run_defect};

async fn assert_caught(profile: &str, d: Defect, id: &str) {
    let r = run_defect(profile, d).await;
    assert!(
        !r.conformant(),
        "{d} under {profile} went unnoticed:\n{}",
        r.human()
    );
    let ids = failed_ids(&r);
    assert!(
        ids.iter().any(|i| i == id),
        "{d} under {profile}: expected {id}, got {ids:?}\n{}",
        r.human()
    );
}

#[tokio::test]
async fn replay_accepted_is_caught() {
    assert_caught("bcp", Defect::ReplayAccepted, "refresh.replay-rejected").await;
}

#[tokio::test]
async fn cross_client_is_caught() {
    assert_caught("bcp", Defect::CrossClient, "refresh.client-binding").await;
}

#[tokio::test]
async fn revoke_keeps_access_is_caught() {
    assert_caught(
        "bcp",
        Defect::RevokeKeepsAccess,
        "revoke.refresh-cascades-to-access",
    )
    .await;
}

#[tokio::test]
async fn scope_widening_is_caught() {
    assert_caught(
        "bcp",
        Defect::ScopeWidening,
        "refresh.scope-widening-refused",
    )
    .await;
}

/// Every defect of the catalogue, with the check that catches it.
const CATALOGUE: &[(Defect, &str, &str)] = &[
    (Defect::RaceDoubleSpend, "bcp", "race.linearizable"),
    (Defect::Race500, "bcp", "token.well-formed"),
    (
        Defect::NoFamilyRevocation,
        "bcp",
        "refresh.family-revoked-on-replay",
    ),
    (
        Defect::RevokeTooMuch,
        "bcp",
        "revoke.access-cascades-to-refresh",
    ),
    (Defect::WrongErrorCode, "bcp", "token.error-code"),
    (Defect::WrongStatus, "bcp", "token.error-code"),
    (
        Defect::OmittedScopeShrinks,
        "bcp",
        "refresh.omitted-scope-original",
    ),
    (
        Defect::NarrowingShrinksRt,
        "bcp",
        "refresh.omitted-scope-original",
    ),
    (Defect::ExpiredRtAccepted, "bcp", "refresh.expired-rejected"),
    (Defect::CapExtended, "strict", "refresh.absolute-cap"),
    (Defect::GraceTooWide, "grace-same", "refresh.grace-window"),
    (Defect::RevokedStillRefreshes, "bcp", "revoke.refresh-token"),
    (Defect::RevokeWrongResponse, "bcp", "revoke.returns-200"),
    (
        Defect::RevokeOtherClient,
        "bcp",
        "revoke.other-client-unaffected",
    ),
    (Defect::HintIgnoredWrongly, "bcp", "revoke.wrong-hint"),
    (Defect::IntrospectStale, "bcp", "introspect.dead-inactive"),
    (
        Defect::ExpiredAccessAccepted,
        "bcp",
        "resource.dead-token-rejected",
    ),
    (Defect::CodeReplay, "bcp", "code.replay-rejected"),
    (Defect::RestartForgets, "bcp", "restart.durable"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reachable_defect_is_caught_by_its_check() {
    for (d, profile, id) in CATALOGUE {
        assert_caught(profile, *d, id).await;
    }
}

#[tokio::test]
async fn expected_divergences_gate_on_regressions_and_report_files_are_written() {
    use tokenlife_harness::export::{apply_expected, write_dir, ExpectedDivergence};
    let mut r = run_defect("bcp", Defect::CrossClient).await;
    let accepted = ExpectedDivergence {
        check: "refresh.client-binding".into(),
        reason: "known bug, fixed in the next release".into(),
        scenario: None,
        intermittent: false,
    };
    let stale = ExpectedDivergence {
        check: "refresh.replay-rejected".into(),
        reason: "fixed long ago".into(),
        scenario: Some("replay-rotated-refresh-token".into()),
        intermittent: false,
    };
    let original = r.clone();
    apply_expected(&mut r, std::slice::from_ref(&accepted));
    assert!(r.conformant(), "{}", r.human());
    assert_eq!(r.expected.len(), 1);
    r = original;
    // The same entry for a divergence that shows only with some timing: noted, not stale.
    let mut noted = r.clone();
    let sometimes = ExpectedDivergence {
        intermittent: true,
        ..stale.clone()
    };
    apply_expected(&mut noted, &[accepted.clone(), sometimes]);
    assert!(noted.conformant(), "{}", noted.human());
    assert!(noted.notes.iter().any(|n| n.contains("intermittently")));
    apply_expected(&mut r, &[accepted, stale]);
    assert!(!r.conformant() && r.stale.len() == 1, "{}", r.human());
    let dir = tempfile::tempdir().unwrap();
    write_dir(&r, dir.path()).unwrap();
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("refresh.client-binding"),
        "{junit}"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("sequenceDiagram") && md.contains("stale"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["failed"], 0);
}

#[tokio::test]
async fn a_failing_random_case_is_shrunk_into_a_scenario_that_replays_it() {
    use tokenlife_harness::RunOptions;
    use tokenlife_model::Policy;
    use tokenlife_server::Defects;
    let none = tokenlife_harness::scenario::from_texts([]).unwrap();
    let options = RunOptions {
        seed: 42,
        cases: 64,
        random_len: 8,
        ..RunOptions::default()
    };
    let policy = Policy::profile("bcp").unwrap();
    let r = crate::common::run_opts(
        policy.clone(),
        Defects::from(Defect::ReplayAccepted),
        &none,
        options,
    )
    .await;
    assert!(!r.conformant(), "{}", r.human());
    let replay = r.replays.first().expect("a replay scenario");
    let id = &r.failures[0].id;
    let set = tokenlife_harness::scenario::from_texts([("replay.toml", replay.scenario.as_str())])
        .unwrap_or_else(|e| panic!("{e}\n{}", replay.scenario));
    let again = crate::common::run_with(policy, Defects::from(Defect::ReplayAccepted), &set).await;
    assert!(
        failed_ids(&again).contains(id),
        "{}\n{}",
        replay.scenario,
        again.human()
    );
}
