//! The deep defects (five or six actions, time moved to the edge of a window): the old
//! default generation (the transition cover to depth 4 and 32 uniform random cases) misses
//! each one; the aimed search at its default budget kills each with no scenario at all, and
//! the shrunk walk it writes out replays the failure against the defect and passes against
//! the clean server. Budgets are requests, so nothing here depends on the machine's speed.

use tokenlife_harness::search::DEFAULT_BUDGET;
use tokenlife_harness::{Report, RunOptions};
use tokenlife_model::Policy;
use tokenlife_server::{Defect, Defects};

use crate::common::{failed_ids, run_opts, run_with};

/// A policy file of the reference server's catalogue.
fn policy(text: &str) -> Policy {
    Policy::from_toml(text).unwrap()
}

fn policy_of(d: Defect) -> Policy {
    match d {
        Defect::GraceSlides => Policy::profile("grace-same").unwrap(),
        Defect::ReuseCountReset => policy(include_str!(
            "../../../reference-server/policies/grace-new-reuse-once.toml"
        )),
        Defect::IdleRefreshedByRefused => policy(include_str!(
            "../../../reference-server/policies/bcp-idle.toml"
        )),
        Defect::ExpiryOnlyAtRotation => policy(include_str!(
            "../../../reference-server/policies/grace-same-short.toml"
        )),
        other => panic!("{other} is not a deep defect"),
    }
}

fn generated_only(depth: u16, cases: u32, budget: u64) -> RunOptions {
    RunOptions {
        seed: 1,
        depth,
        cases,
        budget,
        random_len: 8,
        stop_at_first_failure: true,
        ..RunOptions::default()
    }
}

async fn run(d: Defect, defects: Defects, options: RunOptions) -> Report {
    let none = tokenlife_harness::scenario::from_texts([]).unwrap();
    run_opts(policy_of(d), defects, &none, options).await
}

async fn found_by_the_search_only(d: Defect) {
    let before = run(d, Defects::from(d), generated_only(4, 32, 0)).await;
    assert!(
        before.conformant(),
        "{d}: the old default generation found it, so it is not deep:\n{}",
        before.human()
    );
    let after = run(d, Defects::from(d), generated_only(4, 0, DEFAULT_BUDGET)).await;
    assert!(
        !after.conformant(),
        "{d} survived the search:\n{}",
        after.human()
    );
    let failing: Vec<&str> = after
        .scenarios
        .iter()
        .filter(|s| s.status == tokenlife_harness::report::ScenarioStatus::Failed)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(failing, ["search-seed-1"], "{d}: {}", after.human());
    // The shrunk walk replays the failure, and is no false alarm on the clean server.
    let replay = after.replays.first().expect("a replay scenario");
    let set = tokenlife_harness::scenario::from_texts([("replay.toml", replay.scenario.as_str())])
        .unwrap_or_else(|e| panic!("{e}\n{}", replay.scenario));
    let id = &after.failures[0].id;
    let again = run_with(policy_of(d), Defects::from(d), &set).await;
    assert!(
        failed_ids(&again).contains(id),
        "{d}: {}\n{}",
        replay.scenario,
        again.human()
    );
    let clean = run_with(policy_of(d), Defects::none(), &set).await;
    assert!(
        clean.conformant(),
        "{d}: {}\n{}",
        replay.scenario,
        clean.human()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grace_slides_is_found_by_the_search_only() {
    found_by_the_search_only(Defect::GraceSlides).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_count_reset_is_found_by_the_search_only() {
    found_by_the_search_only(Defect::ReuseCountReset).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_refreshed_by_refused_is_found_by_the_search_only() {
    found_by_the_search_only(Defect::IdleRefreshedByRefused).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_only_at_rotation_is_found_by_the_search_only() {
    found_by_the_search_only(Defect::ExpiryOnlyAtRotation).await;
}
