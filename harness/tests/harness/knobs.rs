//! The policy knobs for how real servers behave (check order, refresh-token lifetime anchor,
//! revocation cascade targets, whose replay reuse detection acts on), against the reference
//! server: a server that follows the declared value passes every scenario and exhaustive
//! sequence, and a server that follows another value is caught under the check that names
//! the behaviour.

use tokenlife_harness::{Report, RunOptions};
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::common::{failed_ids, shipped, Embedded};

fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml).unwrap()
}

/// The shipped scenarios, the exhaustive sequences to depth 3 and a short random phase,
/// against a server following `actual`, judged under `declared`.
async fn run(declared: Policy, actual: Policy) -> Report {
    run_set(declared, actual, 3, &shipped()).await
}

/// `set` against a server following `actual`, judged under `declared`.
async fn run_set(
    declared: Policy,
    actual: Policy,
    depth: u16,
    set: &tokenlife_harness::scenario::ScenarioSet,
) -> Report {
    let server = Embedded::start(actual, Defects::none()).await;
    let target =
        tokenlife_harness::target::reference_target(server.0.url(), Embedded::clients(), declared);
    let control: std::sync::Arc<dyn tokenlife_harness::session::Control> = server.clone();
    let options = RunOptions {
        depth,
        seed: 11,
        cases: 32,
        ..RunOptions::default()
    };
    let report = tokenlife_harness::run(target, set, options, Some(control))
        .await
        .unwrap();
    server.0.stop().await;
    report
}

/// Every new value, on a profile where it changes answers.
fn new_values() -> Vec<Policy> {
    [
        "profile = \"bcp\"\nnarrowing = \"refused\"\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]\n",
        "profile = \"bcp\"\nnarrowing = \"refused\"\ncheck_order = [\"expiry\", \"scope\", \"reuse\"]\n",
        "profile = \"bcp\"\ncheck_order = [\"scope\", \"expiry\", \"reuse\"]\n",
        "profile = \"bcp\"\nrefresh_ttl_anchor = \"access-expiry\"\n",
        "profile = \"bcp\"\nrefresh_ttl = \"2m\"\nrefresh_ttl_anchor = \"access-expiry\"\n",
        "profile = \"grace-same\"\nrefresh_ttl_anchor = \"access-expiry\"\n",
        "profile = \"bcp\"\nrevoke_access_cascades = \"grant\"\nrevoke_consumed_cascades = \"grant\"\n",
        "profile = \"bcp\"\nrevoke_access_cascades = \"access-tokens\"\nrevoke_refresh_cascades = \"refresh-tokens\"\n",
        "profile = \"rfc6749\"\nrevoke_refresh_cascades = \"access-tokens\"\nrevoke_consumed_cascades = \"refresh-tokens\"\n",
        "profile = \"grace-new\"\nrevoke_consumed_cascades = \"access-tokens\"\n",
    ]
    .into_iter()
    .map(policy)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_following_each_new_value_passes() {
    for p in new_values() {
        let r = run(p.clone(), p.clone()).await;
        assert!(r.conformant(), "{}:\n{}", p.to_toml(), r.human());
        // (The shipped narrower-scope scenario assumes a narrowing server.)
        if p.narrowing != tokenlife_model::policy::Narrowing::Refused {
            assert!(!r.has_scenario_errors(), "{}:\n{}", p.to_toml(), r.human());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_checking_reuse_first_is_caught_under_a_declared_scope_first_order() {
    let declared = policy(
        "profile = \"bcp\"\nnarrowing = \"refused\"\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]\n",
    );
    let actual = policy("profile = \"bcp\"\nnarrowing = \"refused\"\n");
    let r = run(declared, actual).await;
    assert!(!r.conformant(), "{}", r.human());
    let ids = failed_ids(&r);
    assert!(
        ids.iter()
            .all(|id| id == "refresh.narrower-scope" || id == "refresh.scope-widening-refused"),
        "{ids:?}\n{}",
        r.human()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_counting_from_issue_is_caught_under_a_declared_access_expiry_anchor() {
    // A refresh token shorter-lived than its access token: the server's dies at 2 min, the
    // declared one at 5 min + 2 min, and the access token's expiry at 5 min lies between.
    let short = "profile = \"bcp\"\nrefresh_ttl = \"2m\"\n";
    let declared = policy(&format!("{short}refresh_ttl_anchor = \"access-expiry\"\n"));
    let r = run(declared, policy(short)).await;
    assert!(!r.conformant(), "{}", r.human());
    // A plain refresh with the token the policy says is live: a live token refused.
    let ids = failed_ids(&r);
    assert!(
        ids.iter().any(|id| id == "refresh.valid-accepted"),
        "{ids:?}\n{}",
        r.human()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_revocations_end_the_grant_is_caught_under_bcp() {
    // node-oidc-provider's cascades, one at a time: revoking an access token, or a consumed
    // refresh token, ends the grant.
    // (Revoking a consumed token changes no model state where nothing cascades, so the
    // transition cover does not follow it with a refresh: the shipped
    // revoke-consumed-refresh-token scenario does.)
    let set = shipped();
    for (knob, id) in [
        (
            "revoke_access_cascades",
            "revoke.access-cascades-to-refresh",
        ),
        ("revoke_consumed_cascades", "revoke.consumed-refresh-token"),
    ] {
        let actual = policy(&format!("profile = \"bcp\"\n{knob} = \"grant\"\n"));
        let r = run_set(Policy::profile("bcp").unwrap(), actual.clone(), 3, &set).await;
        assert!(!r.conformant(), "{}", r.human());
        let ids = failed_ids(&r);
        assert!(ids.iter().all(|i| i == id), "{id}: {ids:?}\n{}", r.human());
        // Declared as it is, the same server passes the same run.
        let r = run_set(actual.clone(), actual, 3, &set).await;
        assert!(r.conformant(), "{knob}: {}", r.human());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_refresh_ends_is_judged_as_declared() {
    // django-oauth-toolkit's refresh: the presented refresh token's access token ends.
    let dot = policy("profile = \"bcp\"\nrefresh_ends_access = \"presented\"\n");
    for p in [
        dot.clone(),
        policy("profile = \"grace-same\"\nrefresh_ends_access = \"presented\"\n"),
        policy(
            "profile = \"rfc6749\"\nrotation = \"never\"\nrefresh_ends_access = \"presented\"\n",
        ),
    ] {
        let r = run(p.clone(), p.clone()).await;
        assert!(r.conformant(), "{}:\n{}", p.to_toml(), r.human());
        let exercised = r.scenarios.iter().flat_map(|s| &s.evaluations).any(|e| {
            e.id == "refresh.ends-presented-access"
                && e.verdict == tokenlife_harness::Verdict::Passed
        });
        assert!(exercised, "{}:\n{}", p.to_toml(), r.human());
    }
    let bcp = Policy::profile("bcp").unwrap();
    // Such a server judged under the default: a live access token refused.
    let r = run(bcp.clone(), dot.clone()).await;
    assert!(!r.conformant(), "{}", r.human());
    let ids = failed_ids(&r);
    assert!(
        ids.iter().any(|i| i == "resource.live-token-accepted"),
        "{ids:?}\n{}",
        r.human()
    );
    // A server that keeps the access token, judged under the knob: the knob's own check.
    let r = run(dot, bcp).await;
    assert!(!r.conformant(), "{}", r.human());
    let ids = failed_ids(&r);
    assert!(
        ids.iter().any(|i| i == "refresh.ends-presented-access"),
        "{ids:?}\n{}",
        r.human()
    );
}

/// The confidential client's RT1 rotated to RT2, then the public client presents the
/// consumed RT1: the owner's access token and successor show whether its family lived.
const OTHER_CLIENT_REPLAY: &str = r#"name = "other-client-replay"
description = "Another client presents a consumed refresh token: refused; the owner's family lives or dies as the policy's reuse_presenter says (RFC 6749 §10.4, RFC 9700 §4.14.2)."

[requires]
rotation_confidential = "always"
grace = false
reuse_detection = true

[[steps]]
action = "authorize"
client = "confidential"
access = "at1"
refresh = "rt1"

[[steps]]
action = "refresh"
rt = "rt1"
access = "at2"
refresh = "rt2"
expect = "rotated"

[[steps]]
action = "refresh"
rt = "rt1"
by = "other"
expect = "invalid_grant"

[[steps]]
action = "use-access"
at = "at2"

[[steps]]
action = "introspect"
token = "at2"

[[steps]]
action = "refresh"
rt = "rt2"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_replay_is_judged_by_whose_reuse_counts() {
    // django-oauth-toolkit runs its reuse protection before it compares the clients.
    let any = policy("profile = \"bcp\"\nreuse_presenter = \"any-client\"\n");
    let owner = Policy::profile("bcp").unwrap();
    let mut set = shipped();
    set.scenarios.push(
        tokenlife_harness::scenario::parse("other-client-replay.toml", OTHER_CLIENT_REPLAY)
            .unwrap(),
    );
    let ran = |r: &Report| {
        r.scenarios
            .iter()
            .find(|s| s.name == "other-client-replay")
            .map(|s| s.status)
    };
    for p in [owner.clone(), any.clone()] {
        let r = run_set(p.clone(), p.clone(), 3, &set).await;
        assert!(r.conformant(), "{}:\n{}", p.to_toml(), r.human());
        assert_eq!(
            ran(&r),
            Some(tokenlife_harness::report::ScenarioStatus::Passed),
            "{}",
            r.human()
        );
    }
    // A server that revokes the family, judged under "owner": the other client's
    // presentation broke binding, and the failure says so.
    let r = run_set(owner.clone(), any.clone(), 3, &set).await;
    assert!(!r.conformant(), "{}", r.human());
    let ids = failed_ids(&r);
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i == "refresh.client-binding"),
        "{ids:?}\n{}",
        r.human()
    );
    // A server that keeps it, judged under "any-client": reuse detection's check.
    let r = run_set(any, owner, 3, &set).await;
    assert!(!r.conformant(), "{}", r.human());
    let ids = failed_ids(&r);
    assert!(
        ids.iter().any(|i| i == "refresh.family-revoked-on-replay"),
        "{ids:?}\n{}",
        r.human()
    );
}
