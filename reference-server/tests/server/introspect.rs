//! `/introspect`: RFC 7662 §2.1, §2.2.

use crate::common::*;

#[tokio::test]
async fn live_tokens_are_described() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&A, FULL).await;
    let now = s.state.now();
    let v = assert_active(&s.introspect(&A, &t.access).await);
    assert_eq!(v["client_id"], "app-a");
    assert_eq!(v["scope"], FULL);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["exp"], now + 300);
    let v = assert_active(&s.introspect(&B, t.rt()).await);
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(v["exp"], now + 600);
}

#[tokio::test]
async fn dead_and_unknown_tokens_are_only_inactive() {
    let s = Srv::new(profile("bcp")).await;
    assert_inactive(&s.introspect(&A, "unknown").await);
    // Consumed.
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    assert_inactive(&s.introspect(&A, t0.rt()).await);
    assert_active(&s.introspect(&A, t1.rt()).await);
    // Revoked.
    s.revoke(&A, &t1.access, None).await;
    assert_inactive(&s.introspect(&A, &t1.access).await);
    // Expired.
    s.advance(600).await;
    assert_inactive(&s.introspect(&A, t1.rt()).await);
    assert_inactive(&s.introspect(&A, &t0.access).await);
}

#[tokio::test]
async fn introspection_requires_authentication_and_public_clients_see_only_their_own() {
    let s = Srv::new(profile("bcp")).await;
    let a = s.login(&A, FULL).await;
    let p = s.login(&SPA, FULL).await;
    let r = s
        .post_raw(
            "/introspect",
            format!("token={}", a.access),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_invalid_client(&r, false);
    assert_active(&s.introspect(&SPA, &p.access).await);
    assert_inactive(&s.introspect(&SPA2, &p.access).await);
    assert_inactive(&s.introspect(&SPA, &a.access).await);
    assert_active(&s.introspect(&B, &p.access).await);
}
