//! `/authorize`: RFC 6749 §4.1.1, §4.1.2, §4.1.2.1; RFC 7636.

use axum::http::{header, StatusCode};
use tokenlife_model::ErrorCode;

use crate::common::*;

fn redirected_error(r: &Resp, c: &C, code: ErrorCode) {
    assert_eq!(
        r.status,
        StatusCode::FOUND,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let loc = r.header(header::LOCATION).unwrap();
    assert!(loc.starts_with(&redirect_uri(c)), "{loc}");
    let q = location_query(r);
    assert_eq!(q.get("error").map(String::as_str), Some(code.as_str()));
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    assert!(!q.contains_key("code"));
}

fn not_redirected(r: &Resp) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header(header::LOCATION).is_none());
    assert_eq!(r.error().as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn a_valid_request_redirects_with_a_code_and_the_state() {
    let s = Srv::new(profile("bcp")).await;
    let r = s
        .authorize_with(&A, &[("scope", "offline_access read")])
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert!(r
        .header(header::LOCATION)
        .unwrap()
        .starts_with(&redirect_uri(&A)));
    let q = location_query(&r);
    assert!(q["code"].len() >= 43);
    assert_eq!(q["state"], "st-1");
    // Confidential clients may skip PKCE; the redirect_uri may be omitted (one registered).
    let r = s
        .get("/authorize?response_type=code&client_id=app-a&scope=read")
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let code = location_query(&r)["code"].clone();
    let t = s
        .post_as(
            &A,
            "/token",
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;
    assert_eq!(tokens(&t).scope, "read");
}

#[tokio::test]
async fn client_and_redirect_uri_errors_are_never_redirected() {
    let s = Srv::new(profile("bcp")).await;
    not_redirected(
        &s.get("/authorize?response_type=code&client_id=nobody")
            .await,
    );
    not_redirected(&s.get("/authorize?response_type=code").await);
    not_redirected(
        &s.get("/authorize?response_type=code&client_id=app-a&redirect_uri=http://evil.example/cb")
            .await,
    );
    // Exact match only: a prefix or an extra path segment is another URI.
    not_redirected(
        &s.get("/authorize?response_type=code&client_id=app-a&redirect_uri=http://127.0.0.1/cb/app-a/x")
            .await,
    );
    let ru = redirect_uri(&A);
    not_redirected(
        &s.get(&format!(
            "/authorize?response_type=code&client_id=app-a&redirect_uri={ru}&redirect_uri={ru}"
        ))
        .await,
    );
    not_redirected(&s.get("/authorize?client_id=%ff").await);
}

#[tokio::test]
async fn other_errors_are_redirected_with_the_state() {
    let s = Srv::new(profile("bcp")).await;
    let ru = redirect_uri(&A);
    let base = format!("/authorize?client_id=app-a&redirect_uri={ru}&state=st-1");
    redirected_error(&s.get(&base).await, &A, ErrorCode::InvalidRequest);
    redirected_error(
        &s.get(&format!("{base}&response_type=token")).await,
        &A,
        ErrorCode::UnsupportedResponseType,
    );
    redirected_error(
        &s.get(&format!("{base}&response_type=code&scope=admin"))
            .await,
        &A,
        ErrorCode::InvalidScope,
    );
    redirected_error(
        &s.get(&format!("{base}&response_type=code&scope=read&scope=write"))
            .await,
        &A,
        ErrorCode::InvalidRequest,
    );
    redirected_error(
        &s.authorize_with(&A, &[("login_hint", "mallory")]).await,
        &A,
        ErrorCode::AccessDenied,
    );
}

#[tokio::test]
async fn public_clients_must_use_pkce_s256() {
    let s = Srv::new(profile("bcp")).await;
    let ru = redirect_uri(&SPA);
    let base = format!("/authorize?response_type=code&client_id=spa&redirect_uri={ru}&state=st-1");
    redirected_error(&s.get(&base).await, &SPA, ErrorCode::InvalidRequest);
    let ch = challenge();
    redirected_error(
        &s.get(&format!(
            "{base}&code_challenge={ch}&code_challenge_method=plain"
        ))
        .await,
        &SPA,
        ErrorCode::InvalidRequest,
    );
    redirected_error(
        &s.get(&format!("{base}&code_challenge={ch}")).await,
        &SPA,
        ErrorCode::InvalidRequest,
    );
    redirected_error(
        &s.get(&format!(
            "{base}&code_challenge=short&code_challenge_method=S256"
        ))
        .await,
        &SPA,
        ErrorCode::InvalidRequest,
    );
    let t = s.login(&SPA, FULL).await;
    assert!(t.refresh.is_some());
}

#[tokio::test]
async fn login_hint_picks_the_user() {
    let s = Srv::new(profile("bcp")).await;
    let r = s
        .authorize_with(&A, &[("scope", "read"), ("login_hint", "bob")])
        .await;
    let code = location_query(&r)["code"].clone();
    let t = tokens(&s.exchange(&A, &code).await);
    assert_eq!(s.resource(&t.access).await.json()["sub"], "bob");
    let t = s.login(&A, "read").await;
    assert_eq!(s.resource(&t.access).await.json()["sub"], "alice");
}
