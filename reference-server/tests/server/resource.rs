//! `/api/resource`: RFC 6750 §2.1, §3, §3.1.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};

use crate::common::*;

#[tokio::test]
async fn bearer_tokens_are_honoured_until_they_die() {
    let s = Srv::new(profile("bcp")).await;
    let t = s.login(&A, FULL).await;
    let r = s.resource(&t.access).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["client_id"], "app-a");
    assert_invalid_token(&s.resource("unknown").await);
    s.advance(300).await;
    assert_invalid_token(&s.resource(&t.access).await);
}

#[tokio::test]
async fn no_token_gets_the_plain_challenge() {
    let s = Srv::new(profile("bcp")).await;
    let r = s.get("/api/resource").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let c = r.header(header::WWW_AUTHENTICATE).unwrap();
    assert!(c.starts_with("Bearer") && !c.contains("error="), "{c}");
    let r = s
        .send(
            Request::get("/api/resource")
                .header(header::AUTHORIZATION, "Basic YTpi")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r
        .header(header::WWW_AUTHENTICATE)
        .unwrap()
        .contains("error="));
    // Tokens in the query are not accepted (RFC 9700 §2.3 / RFC 6750 §2.3 discouraged).
    let t = s.login(&A, FULL).await;
    let r = s
        .get(&format!("/api/resource?access_token={}", t.access))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_test_clock_exists_only_when_asked_for() {
    let mut cfg = config(profile("bcp"), Default::default(), "sqlite::memory:");
    cfg.test_clock = false;
    let state = tokenlife_server::AppState::new(&cfg, "http://x".into())
        .await
        .unwrap();
    let app = tokenlife_server::app(state);
    let s = Srv {
        target: Target::Router(app),
        state: tokenlife_server::AppState::new(&cfg, "http://x".into())
            .await
            .unwrap(),
    };
    let r = s
        .post_raw(
            "/test/clock",
            "{\"advance_seconds\": 5}",
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let s = Srv::new(profile("bcp")).await;
    let before = s.state.now();
    s.advance(7).await;
    assert_eq!(s.state.now(), before + 7);
    let r = s
        .post_raw(
            "/test/clock",
            "{\"advance_seconds\": -5}",
            &[("content-type", "application/json")],
        )
        .await;
    assert_invalid_request(&r);

    // Refused off loopback.
    let mut cfg = config(profile("bcp"), Default::default(), "sqlite::memory:");
    cfg.bind = "0.0.0.0:0".parse().unwrap();
    let err = tokenlife_server::start(cfg).await.unwrap_err();
    assert!(matches!(
        err,
        tokenlife_server::ServerError::Exposure(tokenlife_server::bind::BindRefused::TestClock(_))
    ));
    assert_eq!(err.exit_code(), 2);
}
