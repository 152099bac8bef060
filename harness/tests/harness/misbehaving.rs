//! A small fake server that misbehaves (a 500, invalid JSON, no answer, a huge body, a
//! redirect loop, a dropped connection): each run ends with a failed check and a clear
//! message, or, for no answer at all, an infrastructure problem; never a panic or a hang.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokenlife_harness::http::HttpConfig;
use tokenlife_harness::scenario::from_texts;
use tokenlife_harness::{Report, RunOptions};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    ServerError,
    InvalidJson,
    Hang,
    Huge,
    RedirectLoop,
    /// `invalid_client` with 400 and no challenge, even to HTTP Basic.
    NoChallenge,
}

async fn authorize(
    State(mode): State<Mode>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if mode == Mode::RedirectLoop {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "/authorize?again=1")],
        )
            .into_response();
    }
    let to = format!(
        "http://127.0.0.1/cb?code=c0de&state={}",
        q.get("state").cloned().unwrap_or_default()
    );
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

async fn token(State(mode): State<Mode>) -> Response {
    match mode {
        Mode::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        Mode::InvalidJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{not json",
        )
            .into_response(),
        Mode::Hang => std::future::pending::<Response>().await,
        Mode::Huge => (StatusCode::OK, "x".repeat(3 * 1024 * 1024)).into_response(),
        Mode::RedirectLoop => StatusCode::NOT_FOUND.into_response(),
        Mode::NoChallenge => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"invalid_client"}"#,
        )
            .into_response(),
    }
}

async fn fake(mode: Mode) -> String {
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(mode);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

/// Accepts connections and closes them without a word.
async fn dropper() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    url
}

fn target(authz: &str, token: &str) -> tokenlife_harness::Target {
    let text = format!(
        r#"
[server]
authorization_endpoint = "{authz}/authorize"
token_endpoint = "{token}/token"
[[clients]]
id = "a"
secret = "s"
redirect_uri = "http://127.0.0.1/cb"
scope = "offline_access read write"
[[clients]]
id = "b"
auth = "none"
redirect_uri = "http://127.0.0.1/cb"
scope = "offline_access read write"
[clock]
mode = "endpoint"
url = "{authz}/clock"
"#
    );
    tokenlife_harness::target::parse(&text, |_| None).unwrap()
}

async fn run(authz: &str, token: &str) -> Report {
    let set = from_texts([(
        "one.toml",
        "name = \"one\"\ndescription = \"one refresh\"\n[[steps]]\naction = \"authorize\"\nrefresh = \"rt\"\n[[steps]]\naction = \"refresh\"\nrt = \"rt\"\n",
    )])
    .unwrap();
    let options = RunOptions {
        http: HttpConfig {
            timeout: Duration::from_secs(1),
            ..HttpConfig::default()
        },
        // Each case is about one misbehaviour of the token endpoint, not client auth.
        skip: vec!["client-authentication".into()],
        ..RunOptions::default()
    };
    tokenlife_harness::run(target(authz, token), &set, options, None)
        .await
        .unwrap()
}

fn only_failure(r: &Report) -> (String, String) {
    assert_eq!(r.failures.len(), 1, "{}", r.human());
    (r.failures[0].id.clone(), r.failures[0].message.clone())
}

#[tokio::test]
async fn each_misbehaviour_is_a_failed_check_with_a_clear_message() {
    let cases: [(Mode, &str, &str); 4] = [
        (
            Mode::ServerError,
            "token.well-formed",
            "500 from the token endpoint",
        ),
        (Mode::InvalidJson, "token.well-formed", "not JSON"),
        (Mode::Huge, "token.well-formed", "longer than"),
        (
            Mode::RedirectLoop,
            "authorize.tokens-issued",
            "redirect loop",
        ),
    ];
    for (mode, id, words) in cases {
        let url = fake(mode).await;
        let r = run(&url, &url).await;
        let (got_id, msg) = only_failure(&r);
        assert_eq!(got_id, id, "{mode:?}: {msg}");
        assert!(msg.contains(words), "{mode:?}: {msg}");
        assert!(!msg.contains("c0de"), "a code leaked: {msg}");
    }
}

#[tokio::test]
async fn invalid_client_over_basic_without_a_challenge_fails() {
    let url = fake(Mode::NoChallenge).await;
    let set = from_texts([(
        "one.toml",
        "name = \"one\"\ndescription = \"one grant\"\n[[steps]]\naction = \"authorize\"\n",
    )])
    .unwrap();
    let options = RunOptions {
        only: vec!["token.invalid-client".into()],
        ..RunOptions::default()
    };
    let r = tokenlife_harness::run(target(&url, &url), &set, options, None)
        .await
        .unwrap();
    let (id, msg) = only_failure(&r);
    assert_eq!(id, "token.invalid-client");
    assert!(msg.contains("status 400 instead of 401"), "{msg}");
    assert!(msg.contains("no WWW-Authenticate header"), "{msg}");
    assert!(!msg.contains("tokenlife-probe-wrong-secret"), "{msg}");
}

/// No failure, one infrastructure problem at the code exchange (step 1), with `words`.
fn only_unanswered(r: &Report, words: &str) {
    assert!(r.failures.is_empty(), "{}", r.human());
    assert_eq!(r.infrastructure.len(), 1, "{}", r.human());
    let i = &r.infrastructure[0];
    assert_eq!((i.scenario.as_str(), i.step), ("one", 1), "{}", r.human());
    assert!(i.message.contains(words), "{}", i.message);
    assert!(!i.message.contains("c0de"), "a code leaked: {}", i.message);
}

#[tokio::test]
async fn no_answer_is_an_infrastructure_problem_not_a_failed_check() {
    let url = fake(Mode::Hang).await;
    let r = run(&url, &url).await;
    only_unanswered(&r, "no answer");
}

#[tokio::test]
async fn a_dropped_connection_is_an_infrastructure_problem() {
    let authz = fake(Mode::ServerError).await;
    let token = dropper().await;
    let r = run(&authz, &token).await;
    only_unanswered(&r, "broke");
}

#[tokio::test]
async fn an_unreachable_target_is_reported_as_such() {
    // A port that was free a moment ago: nothing listens there.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let text = format!(
        "[server]\nissuer = \"{url}\"\n[[clients]]\nid = \"a\"\nsecret = \"s\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n[[clients]]\nid = \"b\"\nredirect_uri = \"http://127.0.0.1/cb\"\nscope = \"read\"\n"
    );
    let t = tokenlife_harness::target::parse(&text, |_| None).unwrap();
    let set = tokenlife_harness::builtin::scenarios().unwrap();
    let e = tokenlife_harness::run(t, &set, RunOptions::default(), None)
        .await
        .unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    let _ = Arc::new(());
}
