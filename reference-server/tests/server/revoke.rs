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
