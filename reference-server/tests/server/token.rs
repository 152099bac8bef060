//! `/token`: RFC 6749 §3.2, §4.1.3, §5.1, §5.2, §6 request handling; RFC 7636.

use axum::http::{header, StatusCode};
use tokenlife_model::ErrorCode;

use crate::common::*;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn code_exchange_issues_tokens_with_no_store_and_the_real_lifetime() {
    let s = Srv::new(policy("profile = \"bcp\"\naccess_ttl = \"60s\"")).await;
    for c in [A, B, SPA] {
        let t = s.login(&c, FULL).await;
        assert_eq!(t.expires_in, 60);
        assert_eq!(t.scope, FULL);
        assert!(t.access.len() >= 43 && t.rt().len() >= 43);
        assert!(s.works(&t.access).await);
    }
    // expires_in is the truth: alive one second before, dead at the deadline.
    let t = s.login(&A, FULL).await;
    s.advance(59).await;
    assert!(s.works(&t.access).await);
    s.advance(1).await;
    assert!(!s.works(&t.access).await);
    let r = s.refresh(&A, t.rt(), None).await;
    assert_eq!(tokens(&r).expires_in, 60);
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&A, FULL).await;
    let body = format!("grant_type=refresh_token&refresh_token={}", t.rt());
    // Wrong Basic secret: 401 with a Basic challenge.
    let bad = format!("Basic {}", base64_basic("app-a", "wrong"));
    let r = s
        .post_raw("/token", body.clone(), &[FORM, ("authorization", &bad)])
        .await;
    assert_invalid_client(&r, true);
    let r = s
        .post_raw(
            "/token",
            body.clone(),
            &[
                FORM,
                (
                    "authorization",
                    &format!("Basic {}", base64_basic("nobody", "x")),
                ),
            ],
        )
        .await;
    assert_invalid_client(&r, true);
    let r = s
        .post_raw(
            "/token",
            body.clone(),
            &[FORM, ("authorization", "Basic !!!")],
        )
        .await;
    assert_invalid_client(&r, true);
    // No authentication at all for a confidential client's token.
    assert_invalid_client(&s.post_raw("/token", body.clone(), &[FORM]).await, false);
    let r = s
        .post_raw("/token", format!("{body}&client_id=app-a"), &[FORM])
        .await;
    assert_invalid_client(&r, false);
    // Wrong client_secret_post secret.
    let r = s
        .post_raw(
            "/token",
            format!("{body}&client_id=app-b&client_secret=nope"),
            &[FORM],
        )
        .await;
    assert_invalid_client(&r, false);
    // The registered method only: app-a is client_secret_basic.
    let r = s
        .post_raw(
            "/token",
            format!("{body}&client_id=app-a&client_secret=secret-a"),
            &[FORM],
        )
        .await;
    assert_invalid_client(&r, false);
    // Two methods at once.
    let good = format!("Basic {}", base64_basic("app-a", "secret-a"));
    let r = s
        .post_raw(
            "/token",
            format!("{body}&client_secret=secret-a"),
            &[FORM, ("authorization", &good)],
        )
        .await;
    assert_invalid_request(&r);
    // None of that touched the token.
    assert!(s.refreshes(&A, t.rt()).await);
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

#[tokio::test]
async fn malformed_requests_get_invalid_request_never_a_500() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&SPA, FULL).await;
    assert_invalid_request(&s.post_as(&SPA, "/token", &[]).await);
    assert_invalid_request(
        &s.post_as(&SPA, "/token", &[("grant_type", "refresh_token")])
            .await,
    );
    assert_invalid_request(
        &s.post_as(&SPA, "/token", &[("grant_type", "authorization_code")])
            .await,
    );
    assert_error(
        &s.post_as(&SPA, "/token", &[("grant_type", "password")])
            .await,
        StatusCode::BAD_REQUEST,
        ErrorCode::UnsupportedGrantType,
    );
    let rt = t.rt();
    let r = s
        .post_raw(
            "/token",
            format!("client_id=spa&grant_type=refresh_token&refresh_token={rt}&refresh_token={rt}"),
            &[FORM],
        )
        .await;
    assert_invalid_request(&r);
    let r = s
        .post_raw(
            "/token",
            b"client_id=spa&grant_type=%ff%fe".to_vec(),
            &[FORM],
        )
        .await;
    assert_invalid_request(&r);
    let r = s
        .post_raw("/token", b"client_id=spa&grant_type=\xff".to_vec(), &[FORM])
        .await;
    assert_invalid_request(&r);
    let r = s
        .post_raw(
            "/token",
            "{\"grant_type\": \"refresh_token\"}",
            &[("content-type", "application/json")],
        )
        .await;
    assert_invalid_request(&r);
    let big = format!("client_id=spa&pad={}", "x".repeat(100 * 1024));
    let r = s.post_raw("/token", big, &[FORM]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = s.refresh(&SPA, rt, Some("read\"write")).await;
    assert_invalid_scope(&r);
    assert_eq!(s.get("/token").await.status, StatusCode::METHOD_NOT_ALLOWED);
    // The token survived all of it.
    assert!(s.refreshes(&SPA, rt).await);
}

#[tokio::test]
async fn authorization_code_errors_are_invalid_grant() {
    let s = Srv::new(profile("bcp")).await;
    // Unknown code.
    assert_invalid_grant(&s.exchange(&A, "no-such-code").await);
    // Another client's code.
    let code = s.code(&A, FULL).await;
    assert_invalid_grant(&s.exchange(&B, &code).await);
    // Wrong verifier, missing verifier, wrong redirect_uri.
    let ru = redirect_uri(&SPA);
    let bad_verifier = "x".repeat(43);
    let cases: [(&str, Option<&str>); 4] = [
        (&ru, Some(&bad_verifier)),
        (&ru, None),
        (&ru, Some("short")),
        ("http://127.0.0.1/cb/other", Some(VERIFIER)),
    ];
    for (redirect, verifier) in cases {
        let code = s.code(&SPA, FULL).await;
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ];
        p.extend(verifier.map(|v| ("code_verifier", v)));
        assert_invalid_grant(&s.post_as(&SPA, "/token", &p).await);
    }
    // A verifier without a challenge (RFC 9700 §2.1.1: a downgrade).
    let r = s
        .get("/authorize?response_type=code&client_id=app-a&scope=read")
        .await;
    let code = location_query(&r)["code"].clone();
    let r = s
        .post_as(
            &A,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_invalid_grant(&r);
    // Expired code.
    let code = s.code(&A, FULL).await;
    s.advance(120).await;
    assert_invalid_grant(&s.exchange(&A, &code).await);
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_tokens_when_the_policy_says_so() {
    let s = Srv::new(profile("bcp")).await;
    let code = s.code(&A, FULL).await;
    let t = tokens(&s.exchange(&A, &code).await);
    assert_invalid_grant(&s.exchange(&A, &code).await);
    assert!(!s.works(&t.access).await);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);

    let s = Srv::new(profile("rfc6749")).await;
    let code = s.code(&A, FULL).await;
    let t = tokens(&s.exchange(&A, &code).await);
    assert_invalid_grant(&s.exchange(&A, &code).await);
    assert!(s.works(&t.access).await);
    assert!(s.refreshes(&A, t.rt()).await);
}

#[tokio::test]
async fn offline_access_decides_the_refresh_token_when_required() {
    let strict = Srv::new(profile("strict")).await;
    assert!(strict.login(&A, "openid read").await.refresh.is_none());
    assert!(strict
        .login(&A, "offline_access read")
        .await
        .refresh
        .is_some());
    let bcp = Srv::new(profile("bcp")).await;
    assert!(bcp.login(&A, "openid read").await.refresh.is_some());
}

#[tokio::test]
async fn the_demo_callback_shows_the_code() {
    let s = Srv::new(profile("bcp")).await;
    let r = s.get("/cb?code=abc&state=xyz").await;
    assert_eq!(r.json(), serde_json::json!({"code": "abc", "state": "xyz"}));
    assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
}
