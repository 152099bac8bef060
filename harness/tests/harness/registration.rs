//! Targets as they are: clients registered for other scopes than the demo's, against the
//! reference server registered the same way. The harness asks only for what a client is
//! registered for, and a policy the registration cannot meet is a set-up error.

use tokenlife_harness::report::ScenarioStatus;
use tokenlife_harness::session::ConnectError;
use tokenlife_harness::{checks, Report, RunOptions, Verdict};
use tokenlife_model::Policy;
use tokenlife_server::{Defect, Defects};

use crate::common::{failed_ids, shipped, start_registered, start_registered_with};

/// The shipped scenarios, the exhaustive sequences to depth 3 and random cases.
fn suite() -> RunOptions {
    RunOptions {
        depth: 3,
        cases: 8,
        seed: 3,
        ..Default::default()
    }
}

/// The shipped suite against the reference server with its two clients registered for
/// `scopes`, under `policy` on both sides; the server is stopped before the result returns.
async fn run_registered(policy: Policy, scopes: [&str; 2]) -> Result<Report, ConnectError> {
    let (server, target) = start_registered(policy, scopes).await;
    let result = tokenlife_harness::run(target, &shipped(), suite(), None).await;
    server.shutdown().await;
    result
}

/// Without `offline_access` in a client's registration the harness must not ask for it
/// (the server would refuse every authorization `invalid_scope`); under a policy that does
/// not require it the server issues refresh tokens anyway, and the run is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_offline_access_run_clean_and_get_refresh_tokens() {
    let r = run_registered(
        Policy::profile("bcp").unwrap(),
        ["openid read write", "read write"],
    )
    .await
    .unwrap();
    assert!(r.conformant(), "{}", r.human());
    assert!(!r.has_scenario_errors(), "{}", r.human());
    // Refresh tokens were issued and used, by both clients.
    let refreshed = r
        .scenarios
        .iter()
        .filter(|s| {
            s.evaluations
                .iter()
                .any(|e| e.id == checks::REFRESH_ACCEPTED.id && e.verdict == Verdict::Passed)
        })
        .count();
    assert!(refreshed >= 10, "{}", r.human());
    assert!(r.coverage.unwrap().covered > 100, "{}", r.human());
}

/// `strict` requires `offline_access` for a refresh token: a client not registered for it
/// can never get one, so the run does not start, naming the client and the knob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_requiring_offline_access_of_a_client_without_it_is_a_setup_error() {
    let e = run_registered(
        Policy::profile("strict").unwrap(),
        ["openid offline_access read write", "openid read write"],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ConnectError::Target(_)), "{e}");
    assert!(!e.is_unreachable());
    let shown = e.to_string();
    for part in ["offline_access_required", "`demo-public`", "strict"] {
        assert!(shown.contains(part), "{shown}");
    }
}

/// Clients with no resource scope (only `openid` and `offline_access`, the userinfo
/// endpoint as their protected resource) are a target: everything but scope narrowing and
/// widening runs, the scenarios that need those are skipped with the reason, and the
/// report says in one line what could not be tested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_resource_scope_run_all_but_scope_choices() {
    let r = run_registered(
        Policy::profile("bcp").unwrap(),
        ["openid offline_access", "openid offline_access"],
    )
    .await
    .unwrap();
    assert!(r.conformant(), "{}", r.human());
    assert!(!r.has_scenario_errors(), "{}", r.human());
    let line = "could not test: scope narrowing and widening — clients `demo-confidential` and `demo-public` have no resource scope";
    assert!(r.notes.iter().any(|n| n == line), "{:?}", r.notes);
    assert!(r.human().contains(line), "{}", r.human());
    let status = |name: &str| {
        let s = r.scenarios.iter().find(|s| s.name == name).unwrap();
        (s.status, s.reason.clone().unwrap_or_default())
    };
    for name in ["narrower-scope", "scope-widening-refused"] {
        let (st, reason) = status(name);
        assert_eq!(st, ScenarioStatus::Skipped, "{name}: {reason}");
        assert!(reason.contains("has no resource scope"), "{name}: {reason}");
    }
    for name in ["ten-step-flow", "omitted-scope", "family-revocation"] {
        assert_eq!(status(name).0, ScenarioStatus::Passed, "{name}");
    }
    // The walk leaves scope choices out: no generated sequence stops for want of a scope.
    let generated = r
        .scenarios
        .iter()
        .find(|s| s.name.starts_with("exhaustive"))
        .unwrap();
    assert_eq!(
        generated.status,
        ScenarioStatus::Passed,
        "{:?}",
        generated.reason
    );
    assert_eq!(generated.reason, None);
    let c = r.coverage.unwrap();
    assert!(c.covered as f64 >= 0.6 * c.transitions as f64, "{c:?}");
}

/// A target without revocation and introspection endpoints (no discovery, none given) runs
/// without those actions: the walks leave them out, the scenarios that need them are
/// skipped with the reason, and the report says in one line each what could not be tested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_revocation_or_introspection_runs_without_them() {
    let (server, mut target) = start_registered(
        Policy::profile("bcp").unwrap(),
        [
            "openid offline_access read write",
            "openid offline_access read write",
        ],
    )
    .await;
    let base = target.issuer.take().unwrap();
    target.endpoints.authorization = Some(format!("{base}/authorize"));
    target.endpoints.token = Some(format!("{base}/token"));
    let r = tokenlife_harness::run(target, &shipped(), suite(), None)
        .await
        .unwrap();
    server.shutdown().await;
    assert!(r.conformant(), "{}", r.human());
    assert!(!r.has_scenario_errors(), "{}", r.human());
    for line in [
        "could not test: token revocation (RFC 7009) — the target has no revocation endpoint",
        "could not test: token introspection (RFC 7662) — the target has no introspection endpoint",
    ] {
        assert!(r.notes.iter().any(|n| n == line), "{:?}", r.notes);
    }
    let skipped = |name: &str| {
        let s = r.scenarios.iter().find(|s| s.name == name).unwrap();
        assert_eq!(s.status, ScenarioStatus::Skipped, "{name}");
        s.reason.clone().unwrap_or_default()
    };
    assert!(skipped("revoke-refresh-token").contains("no revocation endpoint"));
    assert!(skipped("introspect-dead-tokens").contains("no introspection endpoint"));
    // Every generated sequence ran: none stopped for a missing endpoint.
    for s in r.scenarios.iter().filter(|s| s.file.contains("generated")) {
        assert_eq!(
            s.status,
            ScenarioStatus::Passed,
            "{}: {:?}",
            s.name,
            s.reason
        );
        assert_eq!(s.reason, None, "{}", s.name);
    }
    let c = r.coverage.unwrap();
    assert!(c.covered as f64 >= 0.8 * c.transitions as f64, "{c:?}");
}

/// Both clients registered for one resource scope, as most deployments are.
const ONE_SCOPE: [&str; 2] = ["openid offline_access api", "openid offline_access api"];

/// The shipped suite to depth 4 against the reference server with its clients registered
/// for [`ONE_SCOPE`], with `defects`.
async fn run_one_scope(defects: Defects) -> Report {
    let (server, target) =
        start_registered_with(Policy::profile("bcp").unwrap(), ONE_SCOPE, defects).await;
    let options = RunOptions {
        depth: 4,
        ..suite()
    };
    let r = tokenlife_harness::run(target, &shipped(), options, None)
        .await
        .unwrap();
    server.shutdown().await;
    r
}

/// One resource scope is the model's whole scope: every scenario and transition but
/// narrowing runs, widening included (asking for a scope the grant does not hold). The
/// scenario that narrows is accounted for by the one line about that capability, not
/// skipped, and the coverage is counted against the transitions the target can reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_resource_scope_runs_everything_but_narrowing() {
    let r = run_one_scope(Defects::none()).await;
    assert!(r.conformant(), "{}", r.human());
    assert!(!r.has_scenario_errors(), "{}", r.human());
    for s in &r.scenarios {
        let reason = s.reason.clone().unwrap_or_default();
        assert!(
            s.status != ScenarioStatus::Skipped || !reason.contains("scope"),
            "{}: skipped for want of a scope: {reason}",
            s.name
        );
    }
    let line = "could not test: scope narrowing, a refresh asking for a strict subset of the grant (RFC 6749 §6) — clients `demo-confidential` and `demo-public` are registered for one resource scope (`api`), and a strict subset needs two (scenarios narrower-scope)";
    assert!(r.notes.iter().any(|n| n == line), "{:?}", r.notes);
    assert!(r.human().contains(line), "{}", r.human());
    let status = |name: &str| r.scenarios.iter().find(|s| s.name == name).unwrap().status;
    assert_eq!(status("narrower-scope"), ScenarioStatus::Untestable);
    let ran = r
        .scenarios
        .iter()
        .filter(|s| !s.file.contains("generated") && s.steps_run > 0)
        .count();
    assert!(ran >= 15, "{ran} scenarios ran\n{}", r.human());
    for name in [
        "ten-step-flow",
        "omitted-scope",
        "family-revocation",
        "scope-widening-refused",
    ] {
        assert_eq!(status(name), ScenarioStatus::Passed, "{name}");
    }
    let c = r.coverage.unwrap();
    assert!(c.model_transitions > c.transitions, "{c:?}");
    assert!(
        c.transitions as f64 >= 0.8 * c.model_transitions as f64,
        "{c:?}"
    );
    assert!(c.covered as f64 >= 0.8 * c.transitions as f64, "{c:?}");
    assert!(
        r.human().contains(&format!(
            "{} of {} transitions the target can reach covered",
            c.covered, c.transitions
        )),
        "{}",
        r.human()
    );
}

/// A defect that narrowing would not show is still caught with one resource scope: a
/// rotated refresh token that refreshes again fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_resource_scope_still_catches_an_accepted_replay() {
    let r = run_one_scope(Defects::from(Defect::ReplayAccepted)).await;
    assert!(!r.conformant(), "{}", r.human());
    assert!(
        failed_ids(&r)
            .iter()
            .any(|id| id == "refresh.replay-rejected"),
        "{:?}",
        failed_ids(&r)
    );
}

/// Widening is tested with one resource scope: a server that grants a refresh a scope
/// beyond the grant fails, with the widening scenario's check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_resource_scope_catches_a_widened_refresh() {
    let r = run_one_scope(Defects::from(Defect::ScopeWidening)).await;
    assert!(!r.conformant(), "{}", r.human());
    let widening = r
        .failures
        .iter()
        .find(|f| f.id == "refresh.scope-widening-refused")
        .unwrap_or_else(|| panic!("{:?}", failed_ids(&r)));
    assert!(
        widening.scenario == "scope-widening-refused"
            || widening.scenario.starts_with("exhaustive")
    );
}
