//! OpenID Connect Core §12.2 on a small fake provider that sends ID tokens: a refreshed
//! ID token that keeps the original claims passes, one whose `sub` changed fails
//! `refresh.id-token-claims`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use tokenlife_harness::scenario::from_texts;
use tokenlife_harness::{Report, RunOptions};
use tokio::net::TcpListener;

#[derive(Default)]
struct Op {
    /// A refreshed ID token names another subject.
    switch_subject: bool,
    n: AtomicU32,
}

fn id_token(sub: &str) -> String {
    let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.c2ln",
        enc(r#"{"alg":"none"}"#),
        enc(&format!(
            r#"{{"iss":"http://op","sub":"{sub}","aud":"a","auth_time":1700000000,"iat":1700000001}}"#
        ))
    )
}

async fn authorize(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    let to = format!(
        "http://127.0.0.1/cb?code=code-{}&state={}",
        q.get("code_challenge").map_or(0, String::len),
        q.get("state").cloned().unwrap_or_default()
    );
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

async fn token(
    State(op): State<Arc<Op>>,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let n = op.n.fetch_add(1, Ordering::SeqCst);
    let refreshing = f.get("grant_type").map(String::as_str) == Some("refresh_token");
    let sub = if refreshing && op.switch_subject {
        "someone-else"
    } else {
        "user-1"
    };
    let body = serde_json::json!({
        "access_token": format!("access-token-number-{n}-of-the-fake-op"),
        "refresh_token": format!("refresh-token-number-{n}-of-the-fake-op"),
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "openid offline_access read write",
        "id_token": id_token(sub),
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn run(switch_subject: bool) -> Report {
    let op = Arc::new(Op {
        switch_subject,
        ..Op::default()
    });
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(op);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let text = format!(
        r#"
[server]
authorization_endpoint = "{url}/authorize"
token_endpoint = "{url}/token"
[[clients]]
id = "a"
secret = "s"
redirect_uri = "http://127.0.0.1/cb"
scope = "openid offline_access read write"
[[clients]]
id = "b"
auth = "none"
redirect_uri = "http://127.0.0.1/cb"
scope = "openid offline_access read write"
[policy]
profile = "bcp"
access_ttl = "300s"
"#
    );
    let target = tokenlife_harness::target::parse(&text, |_| None).unwrap();
    let set = from_texts([(
        "one.toml",
        "name = \"one\"\ndescription = \"one refresh\"\n[[steps]]\naction = \"authorize\"\nrefresh = \"rt\"\n[[steps]]\naction = \"refresh\"\nrt = \"rt\"\n",
    )])
    .unwrap();
    let options = RunOptions {
        only: vec!["refresh.id-token-claims".into()],
        ..RunOptions::default()
    };
    tokenlife_harness::run(target, &set, options, None)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refreshed_id_token_keeps_the_original_claims() {
    let r = run(false).await;
    assert!(r.conformant(), "{}", r.human());
    assert!(r.passed >= 1, "{}", r.human());
}

#[tokio::test]
async fn a_refreshed_id_token_for_another_subject_fails() {
    let r = run(true).await;
    assert_eq!(r.failures.len(), 1, "{}", r.human());
    let f = &r.failures[0];
    assert_eq!(f.id, "refresh.id-token-claims");
    assert_eq!(f.clause, "OIDC-12.2");
    assert!(
        f.message.contains("sub \"user-1\" became \"someone-else\""),
        "{}",
        f.message
    );
}
