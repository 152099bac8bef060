//! `/revoke`: RFC 7009 §2.1, §2.2.

use axum::http::StatusCode;

use crate::common::*;

fn ok(r: &Resp) {
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_cascades_to_the_grant_under_bcp() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&A, FULL).await;
    let other = s.login(&A, FULL).await;
    ok(&s.revoke(&A, t.rt(), Some("refresh_token")).await);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
    assert!(!s.works(&t.access).await);
    // Another family of the same client is untouched.
    assert!(s.works(&other.access).await);
    assert!(s.refreshes(&A, other.rt()).await);
    // Revoking again is fine.
    ok(&s.revoke(&A, t.rt(), None).await);
}

#[tokio::test]
async fn without_the_cascade_access_tokens_survive() {
    let s = Srv::new(profile("rfc6749")).await;
    let t = s.login(&A, FULL).await;
    ok(&s.revoke(&A, t.rt(), None).await);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
    assert!(s.works(&t.access).await);
}

#[tokio::test]
async fn revoking_an_access_token_cascades_only_when_the_policy_says_so() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&B, FULL).await;
    ok(&s.revoke(&B, &t.access, Some("access_token")).await);
    assert!(!s.works(&t.access).await);
    assert!(s.refreshes(&B, t.rt()).await);

    let s = Srv::new(policy("profile = \"bcp\"\nrevoke_access_cascades = true")).await;
    let t = s.login(&B, FULL).await;
    ok(&s.revoke(&B, &t.access, None).await);
    assert!(!s.works(&t.access).await);
    assert_invalid_grant(&s.refresh(&B, t.rt(), None).await);
}

#[tokio::test]
async fn a_wrong_hint_does_not_stop_the_lookup() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&A, FULL).await;
    ok(&s.revoke(&A, &t.access, Some("refresh_token")).await);
    assert!(!s.works(&t.access).await);
    let t = s.login(&A, FULL).await;
    ok(&s.revoke(&A, t.rt(), Some("access_token")).await);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
    let t = s.login(&A, FULL).await;
    ok(&s.revoke(&A, t.rt(), Some("id_token")).await);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
}

#[tokio::test]
async fn unknown_tokens_get_200_and_other_clients_tokens_are_left_alone() {
    let s = Srv::new(profile("bcp")).await;
    let r = s.revoke(&A, "no-such-token", None).await;
    ok(&r);
    assert!(r.body.is_empty());
    let t = s.login(&A, FULL).await;
    ok(&s.revoke(&B, t.rt(), None).await);
    ok(&s.revoke(&SPA, &t.access, None).await);
    assert!(s.works(&t.access).await);
    assert!(s.refreshes(&A, t.rt()).await);
}

#[tokio::test]
async fn revocation_requires_client_authentication_and_a_token() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&A, FULL).await;
    let r = s
        .post_raw(
            "/revoke",
            format!("token={}", t.rt()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_invalid_client(&r, false);
    assert_invalid_request(&s.revoke(&A, "", None).await);
    assert!(s.refreshes(&A, t.rt()).await);
}

#[tokio::test]
async fn revoking_a_consumed_token_inside_its_grace_window_revokes_it() {
    // A consumed token whose grace reuse would still be honoured is a live token: revoking
    // it stops the reuse, and under bcp's cascade the grant with it. Outside the window it is
    // dead already and the revocation changes nothing.
    let s = Srv::new(profile("grace-same")).await;
    let t = s.login(&A, FULL).await;
    assert!(s.refreshes(&A, t.rt()).await);
    ok(&s.revoke(&A, t.rt(), Some("refresh_token")).await);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
    assert!(!s.works(&t.access).await);
}

/// Authorize and rotate once under `knob = target`, revoke `which` ("at0", "at1", "rt0" —
/// consumed — or "rt1"), and say what is left alive: (AT0, AT1, RT1 refreshes).
async fn after_revoking(knob: &str, target: &str, which: &str) -> (bool, bool, bool) {
    let s = Srv::new(policy(&format!("profile = \"bcp\"\n{knob} = \"{target}\""))).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    let token = match which {
        "at0" => t0.access.clone(),
        "at1" => t1.access.clone(),
        "rt0" => t0.rt().to_string(),
        _ => t1.rt().to_string(),
    };
    ok(&s.revoke(&A, &token, None).await);
    let at0 = s.works(&t0.access).await;
    let at1 = s.works(&t1.access).await;
    (at0, at1, s.refreshes(&A, t1.rt()).await)
}

#[tokio::test]
async fn revoke_access_cascades_ends_each_target() {
    let knob = "revoke_access_cascades";
    assert_eq!(
        after_revoking(knob, "none", "at1").await,
        (true, false, true)
    );
    assert_eq!(
        after_revoking(knob, "refresh-tokens", "at1").await,
        (true, false, false)
    );
    assert_eq!(
        after_revoking(knob, "access-tokens", "at1").await,
        (false, false, true)
    );
    assert_eq!(
        after_revoking(knob, "grant", "at1").await,
        (false, false, false)
    );
}

#[tokio::test]
async fn revoke_refresh_cascades_ends_each_target() {
    let knob = "revoke_refresh_cascades";
    assert_eq!(
        after_revoking(knob, "none", "rt1").await,
        (true, true, false)
    );
    assert_eq!(
        after_revoking(knob, "refresh-tokens", "rt1").await,
        (true, true, false)
    );
    assert_eq!(
        after_revoking(knob, "access-tokens", "rt1").await,
        (false, false, false)
    );
    assert_eq!(
        after_revoking(knob, "grant", "rt1").await,
        (false, false, false)
    );
}

#[tokio::test]
async fn revoke_consumed_cascades_ends_each_target() {
    // RT0 is consumed by the rotation: under `none` its revocation changes nothing.
    let knob = "revoke_consumed_cascades";
    assert_eq!(
        after_revoking(knob, "none", "rt0").await,
        (true, true, true)
    );
    assert_eq!(
        after_revoking(knob, "refresh-tokens", "rt0").await,
        (true, true, false)
    );
    assert_eq!(
        after_revoking(knob, "access-tokens", "rt0").await,
        (false, false, true)
    );
    assert_eq!(
        after_revoking(knob, "grant", "rt0").await,
        (false, false, false)
    );
}
