//! Random failures are shrunk to the steps they need and named for the step that failed.

use tokenlife_harness::target::reference_target;
use tokenlife_harness::{Report, RunOptions};
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::common::Embedded;

/// A target declaring `declared` in front of a reference server that follows `actual`,
/// run through the random phase only.
async fn random_against(declared: Policy, actual: Policy, seed: u64) -> Report {
    let server = Embedded::start(actual, Defects::default()).await;
    let target = reference_target(server.0.url(), Embedded::clients(), declared);
    let none = tokenlife_harness::scenario::from_texts([]).unwrap();
    let options = RunOptions {
        seed,
        cases: 64,
        random_len: 8,
        ..RunOptions::default()
    };
    let control: std::sync::Arc<dyn tokenlife_harness::session::Control> = server.clone();
    let report = tokenlife_harness::run(target, &none, options, Some(control))
        .await
        .unwrap();
    server.0.stop().await;
    report
}

/// A target declaring `bcp` (no access-token cascade) in front of a server whose access-token
/// revocation reaches the grant's refresh tokens, as node-oidc-provider's does.
async fn against_a_cascading_server(seed: u64) -> Report {
    let declared = Policy::profile("bcp").unwrap();
    let mut actual = declared.clone();
    actual.revoke_access_cascades = tokenlife_model::policy::RevokeCascade::RefreshTokens;
    random_against(declared, actual, seed).await
}

/// Seed `seed` against the cascading server, whose only failure must be the undeclared
/// cascade.
async fn cascade_failure(seed: u64) -> Report {
    let r = against_a_cascading_server(seed).await;
    assert_eq!(
        crate::common::failed_ids(&r),
        vec!["revoke.access-cascades-to-refresh".to_string()],
        "seed {seed}:\n{}",
        r.human()
    );
    r
}

/// The case reported against a server whose access-token revocation ends the grant while
/// its policy declares no cascade: seed 16's failing case holds another client's attempt to
/// revoke RT0 before the owner revokes AT0. The failure is the owner's revocation reaching
/// RT0, and the other client's attempt is not needed for it.
#[tokio::test]
async fn a_shrunk_failure_names_the_cascade_and_keeps_only_the_steps_it_needs() {
    assert!(!Policy::profile("bcp")
        .unwrap()
        .revoke_access_cascades
        .ends_refresh_tokens());
    let r = cascade_failure(16).await;
    let replay = r.replays.first().expect("a replay scenario");
    let text = &replay.scenario;
    assert!(!text.contains("by = \"other\""), "{text}");
    // Authorize, the owner revokes AT0, the owner refreshes with RT0: nothing else.
    assert_eq!(text.matches("[[steps]]").count(), 3, "{text}");
    assert!(text.contains("token = \"at0\"\nby = \"owner\""), "{text}");
}

/// Seed 17's failing case holds a theft of RT0 (no step of its own in the scenario file,
/// but a step of the trace) that the failure does not need: only the final pass, which
/// tries every step, removes it.
#[tokio::test]
async fn the_final_shrinking_pass_removes_a_step_that_mints_nothing_and_is_not_needed() {
    let r = cascade_failure(17).await;
    let random = r
        .scenarios
        .iter()
        .find(|s| s.name == "random-seed-17")
        .expect("the random phase's result");
    let reason = random.reason.as_deref().unwrap_or_default();
    assert!(reason.ends_with("; 3 steps after shrinking"), "{reason}");
}

/// Seed 7's failing case asks for a wider scope after the owner revoked AT0: the model,
/// declaring no cascade, expects `invalid_scope` for a live token; the server, whose
/// revocation reached RT0, answers `invalid_grant`. That names the cascade, not the error
/// code.
#[tokio::test]
async fn a_dead_token_refused_before_its_scope_names_the_revocation_that_killed_it() {
    let r = cascade_failure(7).await;
    let text = &r.replays.first().expect("a replay scenario").scenario;
    assert_eq!(text.matches("[[steps]]").count(), 3, "{text}");
    assert!(text.contains("scope = \"read write\""), "{text}");
}

/// Seed 3's failing case refreshes RT0 and revokes the new AT1 before refreshing with the
/// new RT1: the rotation is not needed, but its tokens are used later, so dropping it needs
/// the later steps to use what it was issued from (RT0, AT0). Without that the trace kept
/// 4 steps; with it, the same 3 as every other case of this failure.
#[tokio::test]
async fn a_rotation_the_failure_does_not_need_is_shrunk_away() {
    let r = cascade_failure(3).await;
    let text = &r.replays.first().expect("a replay scenario").scenario;
    assert_eq!(text.matches("[[steps]]").count(), 3, "{text}");
    assert!(text.contains("token = \"at0\""), "{text}");
    assert!(text.contains("rt = \"rt0\""), "{text}");
}
