//! The HTTP adapter, discovery and authorization against small fake servers: RFC 8414
//! well-known before the issuer path, the OpenID Connect fallback, redirects through a
//! login page with a cookie, the `command` mode, 429 + Retry-After.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokenlife_harness::authorize::{authorize, AuthorizeError};
use tokenlife_harness::discovery::discover;
use tokenlife_harness::http::{Http, HttpConfig, HttpError, Request};
use tokenlife_harness::target::{AuthMethod, AuthorizeConfig, AuthorizeMode, ClientConfig};
use tokio::net::TcpListener;

async fn serve(app: Router) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

fn http() -> Http {
    Http::new(HttpConfig::default()).unwrap()
}

fn target_text(issuer: &str) -> String {
    format!(
        "[server]\nissuer = \"{issuer}\"\n[[clients]]\nid = \"a\"\nsecret = \"s\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n[[clients]]\nid = \"b\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n"
    )
}

async fn metadata(State(base): State<Arc<std::sync::Mutex<String>>>) -> Json<serde_json::Value> {
    let issuer = format!("{}/tenant", base.lock().unwrap());
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
    }))
}

#[tokio::test]
async fn discovery_inserts_well_known_before_the_issuer_path_then_tries_oidc() {
    for path in [
        "/.well-known/oauth-authorization-server/tenant",
        "/tenant/.well-known/openid-configuration",
    ] {
        let base = Arc::new(std::sync::Mutex::new(String::new()));
        let url = serve(
            Router::new()
                .route(path, get(metadata))
                .with_state(base.clone()),
        )
        .await;
        *base.lock().unwrap() = url.clone();
        let t = tokenlife_harness::target::parse(&target_text(&format!("{url}/tenant")), |_| None)
            .unwrap();
        let e = discover(&http(), &t).await.unwrap();
        assert_eq!(e.token, format!("{url}/tenant/token"), "{path}");
        assert_eq!(
            e.revocation.as_deref(),
            Some(format!("{url}/tenant/revoke").as_str())
        );
        assert_eq!(e.introspection, None);
        assert!(e.source.ends_with(path), "{}", e.source);
    }
}

#[tokio::test]
async fn discovery_refuses_metadata_for_another_issuer() {
    let base = Arc::new(std::sync::Mutex::new(
        "http://elsewhere.example".to_string(),
    ));
    let url = serve(
        Router::new()
            .route(
                "/.well-known/oauth-authorization-server/tenant",
                get(metadata),
            )
            .with_state(base),
    )
    .await;
    let t =
        tokenlife_harness::target::parse(&target_text(&format!("{url}/tenant")), |_| None).unwrap();
    let e = discover(&http(), &t).await.unwrap_err();
    assert!(e.to_string().contains("RFC 8414 §3.3"), "{e}");
}

fn client() -> ClientConfig {
    ClientConfig {
        id: "a".into(),
        secret: None,
        auth: AuthMethod::None,
        redirect_uri: "http://127.0.0.1/cb".into(),
        scope: vec!["read".into()],
        dpop: false,
    }
}

async fn start_login(Query(q): Query<HashMap<String, String>>) -> Response {
    // A login page that sets a session cookie and redirects to itself to "approve".
    let state = q.get("state").cloned().unwrap_or_default();
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, format!("/login?state={state}")),
            (header::SET_COOKIE, "sid=42; Path=/; HttpOnly".to_string()),
        ],
    )
        .into_response()
}

async fn login(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if cookie != "sid=42" {
        return (StatusCode::FORBIDDEN, "no session").into_response();
    }
    let to = format!(
        "http://127.0.0.1/cb?code=the-code&state={}",
        q.get("state").cloned().unwrap_or_default()
    );
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

#[tokio::test]
async fn redirect_mode_follows_a_login_page_with_its_cookie() {
    let url = serve(
        Router::new()
            .route("/authorize", get(start_login))
            .route("/login", get(login)),
    )
    .await;
    let cfg = AuthorizeConfig {
        mode: AuthorizeMode::Redirect,
        params: BTreeMap::new(),
    };
    let code = authorize(
        &http(),
        &format!("{url}/authorize"),
        &cfg,
        &client(),
        "read",
    )
    .await
    .unwrap();
    assert_eq!(code.code.expose(), "the-code");
}

#[tokio::test]
async fn a_wrong_state_is_refused() {
    async fn bad_state() -> Response {
        (
            StatusCode::FOUND,
            [(header::LOCATION, "http://127.0.0.1/cb?code=c&state=forged")],
        )
            .into_response()
    }
    let url = serve(Router::new().route("/authorize", get(bad_state))).await;
    let cfg = AuthorizeConfig {
        mode: AuthorizeMode::Redirect,
        params: BTreeMap::new(),
    };
    let e = authorize(
        &http(),
        &format!("{url}/authorize"),
        &cfg,
        &client(),
        "read",
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AuthorizeError::StateMismatch { .. }), "{e}");
}

#[tokio::test]
async fn command_mode_reads_the_final_redirect_url() {
    // The command gets the authorization URL as its last argument and prints the redirect.
    let script = r#"state=$(printf '%s' "$1" | sed -n 's/.*[?&]state=\([^&]*\).*/\1/p'); printf 'log line\nhttp://127.0.0.1/cb?code=cmd-code&state=%s\n' "$state""#;
    let cfg = AuthorizeConfig {
        mode: AuthorizeMode::Command(vec!["sh".into(), "-c".into(), script.into(), "sh".into()]),
        params: BTreeMap::new(),
    };
    let code = authorize(
        &http(),
        "http://127.0.0.1:9/authorize",
        &cfg,
        &client(),
        "read",
    )
    .await
    .unwrap();
    assert_eq!(code.code.expose(), "cmd-code");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_and_a_persistent_one_reported() {
    let hits = Arc::new(AtomicUsize::new(0));
    async fn limited(State(hits): State<Arc<AtomicUsize>>) -> Response {
        if hits.fetch_add(1, Ordering::SeqCst) == 0 {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "0")]).into_response()
        } else {
            "ok".into_response()
        }
    }
    async fn always() -> Response {
        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "0")]).into_response()
    }
    let url = serve(
        Router::new()
            .route("/limited", get(limited))
            .route("/always", get(always))
            .with_state(hits.clone()),
    )
    .await;
    let h = Http::new(HttpConfig {
        max_rps: Some(1000),
        ..HttpConfig::default()
    })
    .unwrap();
    let r = h
        .send(&Request::get(format!("{url}/limited")))
        .await
        .unwrap();
    assert_eq!((r.status, hits.load(Ordering::SeqCst)), (200, 2));
    let e = h
        .send(&Request::get(format!("{url}/always")))
        .await
        .unwrap_err();
    assert!(matches!(e, HttpError::RateLimited { .. }), "{e}");
}

/// A 429 storm asking for a minute between tries: `--timeout` bounds the request, retries and
/// their waits included. Before, each of the three retries waited the 60 s (180 s in all).
#[tokio::test]
async fn a_429_storm_is_bounded_by_the_timeout() {
    let hits = Arc::new(AtomicUsize::new(0));
    async fn storm(State(hits): State<Arc<AtomicUsize>>) -> Response {
        hits.fetch_add(1, Ordering::SeqCst);
        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "60")]).into_response()
    }
    let url = serve(
        Router::new()
            .route("/token", get(storm))
            .with_state(hits.clone()),
    )
    .await;
    let h = Http::new(HttpConfig {
        timeout: std::time::Duration::from_secs(2),
        ..HttpConfig::default()
    })
    .unwrap();
    // A hang guard only, far above the 2 s timeout: the assertions are on the outcome.
    let e = tokio::time::timeout(
        std::time::Duration::from_secs(50),
        h.send(&Request::get(format!("{url}/token"))),
    )
    .await
    .expect("the request outlived its timeout by far")
    .unwrap_err();
    assert!(matches!(e, HttpError::RateLimited { .. }), "{e}");
    assert!(e.to_string().contains("past the request's timeout"), "{e}");
    assert!(e.is_infrastructure());
    // Asked once: a wait the timeout cannot afford is not waited.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
