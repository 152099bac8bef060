//! A target that does not answer some requests, and one watched for how many requests it
//! has in flight: the reference server behind the proxy of `proxy`, which stalls the
//! requests a rule picks and counts the others. An unanswered request is an infrastructure
//! problem of the run (its own section, never a failed check, never passed), a real failure
//! beside it still fails, `concurrency` / `in_flight` bound what the server sees at once,
//! and a refresh held seconds before the server sees it is judged with those seconds
//! counted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use tokenlife_harness::http::HttpConfig;
use tokenlife_harness::report::ScenarioStatus;
use tokenlife_harness::{Report, RunOptions};
use tokenlife_model::policy::Seconds;
use tokenlife_model::Policy;
use tokenlife_server::{Defect, Defects};

use crate::common::shipped;
use crate::proxy::{behind, behind_proxy, Proxy};

fn stall_revocation(m: &Method, path: &str) -> bool {
    m == Method::POST && path.ends_with("/revoke")
}

fn stall_nothing(_: &Method, _: &str) -> bool {
    false
}

async fn run_two(defects: Defects, only: &[&str]) -> Report {
    let (server, target, _) =
        behind_proxy(Policy::default(), defects, stall_revocation, false).await;
    let options = RunOptions {
        http: HttpConfig {
            timeout: Duration::from_secs(1),
            ..HttpConfig::default()
        },
        only: only.iter().map(|s| s.to_string()).collect(),
        skip: vec!["client-authentication".into()],
        ..RunOptions::default()
    };
    let r = tokenlife_harness::run(target, &shipped(), options, None)
        .await
        .unwrap();
    server.shutdown().await;
    r
}

#[tokio::test]
async fn a_request_without_an_answer_is_an_infrastructure_problem_not_a_failure() {
    let r = run_two(Defects::none(), &["ten-step-flow", "revoke-refresh-token"]).await;
    let human = r.human();
    assert!(r.failures.is_empty(), "{human}");
    assert!(r.conformant() && r.interrupted(), "{human}");
    assert_eq!(r.infrastructure.len(), 1, "{human}");
    let i = &r.infrastructure[0];
    assert_eq!(i.scenario, "revoke-refresh-token", "{human}");
    assert_eq!(i.requests, 1);
    assert!(i.message.contains("no answer from"), "{}", i.message);
    assert!(i.message.contains("/revoke"), "{}", i.message);
    let status = |name: &str| r.scenarios.iter().find(|s| s.name == name).unwrap().status;
    assert_eq!(status("ten-step-flow"), ScenarioStatus::Passed, "{human}");
    assert_eq!(
        status("revoke-refresh-token"),
        ScenarioStatus::Interrupted,
        "{human}"
    );
    // Not passed: the revocation's checks were never evaluated.
    let stopped = r
        .scenarios
        .iter()
        .find(|s| s.name == "revoke-refresh-token")
        .unwrap();
    assert!(
        stopped
            .evaluations
            .iter()
            .all(|e| !e.id.starts_with("revoke.")),
        "{human}"
    );
    assert!(
        human.contains("infrastructure problems (not verdicts"),
        "{human}"
    );
    assert!(human.contains("--concurrency"), "{human}");
    assert!(human.contains("1 request got no answer"), "{human}");
    let junit = tokenlife_harness::export::junit(&r);
    assert!(junit.contains("errors=\"1\""), "{junit}");
    assert!(junit.contains("<error message=\"no answer from"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    let md = tokenlife_harness::export::markdown(&r);
    assert!(md.contains("## Infrastructure problems"), "{md}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["infrastructure"][0]["step"], i.step);
    assert_eq!(json["failed"], 0);
}

#[tokio::test]
async fn a_real_failure_beside_an_unanswered_request_is_still_a_failure() {
    let r = run_two(
        Defects::from(Defect::ReplayAccepted),
        &["replay-rotated-refresh-token", "revoke-refresh-token"],
    )
    .await;
    let human = r.human();
    assert!(!r.conformant(), "{human}");
    assert!(
        r.failures.iter().any(|f| f.id == "refresh.replay-rejected"),
        "{human}"
    );
    assert!(r
        .failures
        .iter()
        .all(|f| f.scenario != "revoke-refresh-token"));
    assert_eq!(r.infrastructure.len(), 1, "{human}");
    assert!(human.contains("infrastructure problems"), "{human}");
}

#[tokio::test]
async fn an_expected_divergence_not_seen_in_an_interrupted_run_is_not_stale() {
    let mut r = run_two(Defects::none(), &["revoke-refresh-token"]).await;
    let expected = vec![tokenlife_harness::export::ExpectedDivergence {
        check: "revoke.refresh-token".into(),
        reason: "pinned".into(),
        scenario: Some("revoke-refresh-token".into()),
        intermittent: false,
    }];
    tokenlife_harness::export::apply_expected(&mut r, &expected);
    assert!(r.stale.is_empty(), "{}", r.human());
    assert!(r.notes.iter().any(|n| n.contains("not confirmed stale")));
}

/// Random sequences on a real clock through the counting proxy: the most requests it saw
/// in flight at once.
async fn max_in_flight(concurrency: usize, in_flight: usize) -> (usize, Report) {
    sequences_through(concurrency, in_flight, false, 4, Duration::from_secs(10)).await
}

/// `cases` random sequences on a real clock through the counting proxy (serving one
/// request at a time when `serial`), with a request `timeout`.
async fn sequences_through(
    concurrency: usize,
    in_flight: usize,
    serial: bool,
    cases: u32,
    timeout: Duration,
) -> (usize, Report) {
    let policy = Policy {
        access_ttl: Seconds(1),
        refresh_ttl: Some(Seconds(3)),
        ..Policy::default()
    };
    let (server, target, proxy) =
        behind(policy, Defects::none(), stall_nothing, true, serial).await;
    let none = tokenlife_harness::scenario::from_texts(Vec::<(&str, &str)>::new()).unwrap();
    let options = RunOptions {
        skip: vec!["client-authentication".into()],
        http: HttpConfig {
            timeout,
            ..HttpConfig::default()
        },
        seed: 3,
        cases,
        random_len: 3,
        concurrency,
        in_flight,
        ..RunOptions::default()
    };
    let r = tokenlife_harness::run(target, &none, options, None)
        .await
        .unwrap();
    server.shutdown().await;
    (proxy.max_in_flight.load(Ordering::SeqCst), r)
}

#[tokio::test]
async fn concurrency_one_runs_one_sequence_at_a_time() {
    let (max, r) = max_in_flight(1, 0).await;
    assert!(r.actions > 0, "{}", r.human());
    assert_eq!(max, 1, "{}", r.human());
}

#[tokio::test]
async fn in_flight_bounds_the_requests_the_server_sees_at_once() {
    // Four sequences begin together: unbounded, the proxy sees more than two at once...
    let (max, r) = max_in_flight(4, 0).await;
    assert!(max > 2, "{max}: {}", r.human());
    // ...bounded to two, two at once, never more.
    let (max, r) = max_in_flight(4, 2).await;
    assert!(r.actions > 0, "{}", r.human());
    assert_eq!(max, 2, "{}", r.human());
}

#[tokio::test]
async fn a_server_that_answers_one_request_at_a_time_survives_a_bounded_run() {
    // 48 sequences begin together against a server that takes 100 ms per request, one at a
    // time: unbounded, the last of the first requests waits ~4.8 s, past a 2 s timeout...
    let timeout = Duration::from_secs(2);
    let (_, r) = sequences_through(256, 0, true, 48, timeout).await;
    assert!(r.interrupted() && r.failures.is_empty(), "{}", r.human());
    // ...eight in flight, at most ~0.8 s: every request is answered.
    let (max, r) = sequences_through(256, 8, true, 48, timeout).await;
    assert!(max <= 8, "{max}");
    assert!(!r.interrupted() && r.conformant(), "{}", r.human());
}

/// Stops the proxy answering when shrinking begins.
struct StallOnShrinking(Arc<Proxy>);

impl tokenlife_harness::progress::Progress for StallOnShrinking {
    fn phase(&self, name: &str, _: u64) {
        if name == "shrinking" {
            self.0.stalled.store(true, Ordering::SeqCst);
        }
    }
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Seed 1's random failure against a server whose access-token revocation ends the grant
/// (as in `shrinking`), with the target going silent as shrinking begins: no candidate that
/// got no answer is taken for the failure reproducing, shrinking stops at the first one
/// instead of waiting out a timeout per candidate, and the failure is reported as found.
#[tokio::test]
async fn a_target_silent_while_shrinking_leaves_the_failure_as_found() {
    let declared = Policy::profile("bcp").unwrap();
    let actual = Policy {
        revoke_access_cascades: tokenlife_model::policy::RevokeCascade::RefreshTokens,
        ..declared.clone()
    };
    let (server, mut target, proxy) =
        behind_proxy(actual, Defects::none(), stall_nothing, false).await;
    target.policy = declared;
    let none = tokenlife_harness::scenario::from_texts(Vec::<(&str, &str)>::new()).unwrap();
    let options = RunOptions {
        http: HttpConfig {
            timeout: Duration::from_secs(1),
            ..HttpConfig::default()
        },
        skip: vec!["client-authentication".into()],
        seed: 1,
        cases: 64,
        random_len: 8,
        progress: Some(tokenlife_harness::progress::ProgressSink::new(
            StallOnShrinking(proxy.clone()),
        )),
        ..RunOptions::default()
    };
    let r = tokenlife_harness::run(target, &none, options, None)
        .await
        .unwrap();
    server.shutdown().await;
    let human = r.human();
    assert_eq!(
        crate::common::failed_ids(&r),
        vec!["revoke.access-cascades-to-refresh".to_string()],
        "{human}"
    );
    assert!(!r.replays.is_empty(), "{human}");
    assert_eq!(r.infrastructure.len(), 1, "{human}");
    assert!(
        r.infrastructure[0].scenario.ends_with("(shrinking)"),
        "{human}"
    );
}

#[tokio::test]
async fn a_race_with_an_unanswered_request_is_judged_on_the_answers_then_stops() {
    let r = race_with_three_unanswered(Defects::none()).await;
    let human = r.human();
    assert!(r.failures.is_empty(), "{human}");
    let race = r
        .scenarios
        .iter()
        .find(|s| s.name == "race-refresh")
        .unwrap();
    assert_eq!(race.status, ScenarioStatus::Interrupted, "{human}");
    assert!(
        race.evaluations.iter().any(
            |e| e.id == "race.linearizable" && e.verdict == tokenlife_harness::Verdict::Passed
        ),
        "{human}"
    );
    assert_eq!(r.infrastructure.len(), 1, "{human}");
    assert_eq!(r.infrastructure[0].requests, 3, "{human}");
}

#[tokio::test]
async fn a_double_spend_among_the_answers_of_a_race_fails_whatever_the_unanswered_did() {
    let r = race_with_three_unanswered(Defects::from(Defect::RaceDoubleSpend)).await;
    assert_eq!(
        crate::common::failed_ids(&r),
        vec!["race.linearizable".to_string()],
        "{}",
        r.human()
    );
    assert!(
        r.failures[0].message.contains("3 more got no answer"),
        "{}",
        r.human()
    );
}

/// `race-refresh` through the proxy: the code exchange and two of the race's five refreshes
/// are answered (which two, the order they reach the proxy decides), the other three never.
async fn race_with_three_unanswered(defects: Defects) -> Report {
    let (server, target, proxy) =
        behind_proxy(Policy::default(), defects, stall_nothing, false).await;
    proxy.token_limit.store(3, Ordering::SeqCst);
    let options = RunOptions {
        http: HttpConfig {
            timeout: Duration::from_secs(1),
            ..HttpConfig::default()
        },
        only: vec!["race-refresh".into()],
        skip: vec!["client-authentication".into()],
        ..RunOptions::default()
    };
    let r = tokenlife_harness::run(target, &shipped(), options, None)
        .await
        .unwrap();
    server.shutdown().await;
    r
}

/// On a real clock, a refresh sent while its refresh token has seconds left by the harness's
/// reading, but held 3.5 s before the server judges it (as a request waiting for a database
/// lock is), may be refused as expired: the answer is judged with that exchange's own
/// seconds counted, so it is not a divergence. Before, only earlier exchanges widened the
/// skew, and this refusal failed `refresh.valid-accepted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_held_past_its_tokens_deadline_inside_the_server_is_no_divergence() {
    let policy =
        Policy::from_toml("profile = \"bcp\"\naccess_ttl = \"2s\"\nrefresh_ttl = \"6s\"\n")
            .unwrap();
    let (server, target, proxy) = behind_proxy(policy, Defects::none(), stall_nothing, true).await;
    proxy.slow_refresh_ms.store(3_500, Ordering::SeqCst);
    // Time passes to AT0's end (2 s, plus the skew of 1): RT0 (6 s) then has about 3 s
    // left, more than the skew, when the refresh is sent; the server sees it at about 6.7 s.
    let scenario = tokenlife_harness::scenario::parse(
        "held-refresh.toml",
        r#"name = "held-refresh"
description = "A refresh held inside the server past its token's deadline."

[[steps]]
action = "authorize"
refresh = "rt0"

[[steps]]
action = "tick"

[[steps]]
action = "refresh"
rt = "rt0"
"#,
    )
    .unwrap();
    let set = tokenlife_harness::scenario::ScenarioSet {
        scenarios: vec![scenario],
        hash: String::new(),
    };
    let options = RunOptions {
        only: vec!["held-refresh".into()],
        skip: vec!["client-authentication".into()],
        depth: 0,
        cases: 0,
        ..RunOptions::default()
    };
    let r = tokenlife_harness::run(target, &set, options, None)
        .await
        .unwrap();
    server.shutdown().await;
    let human = r.human();
    assert!(r.conformant() && r.failures.is_empty(), "{human}");
    let ran = r
        .scenarios
        .iter()
        .find(|s| s.name == "held-refresh")
        .unwrap();
    assert_eq!(ran.status, ScenarioStatus::Passed, "{human}");
    // The server did refuse it: the case this test is about happened.
    assert!(
        ran.transcript.iter().any(|l| l.contains("invalid_grant")),
        "{human}"
    );
}
