//! The hostile-server fixture: the reference server behind a small proxy that misbehaves as
//! a test asks. It stalls the requests a rule picks (or every request once `stalled`),
//! counts what is in flight, holds refreshes, answers only so many token requests, echoes
//! every request's credentials and tokens back in bodies and headers (`echo`), and rewrites
//! the discovery metadata to name another host (`foreign_host`). It records every token the
//! server issued, so a test can look for them in what a run wrote.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokenlife_harness::target::{reference_target, ClockConfig};
use tokenlife_model::policy::Seconds;
use tokenlife_model::Policy;
use tokenlife_server::Defects;
use tokio::net::TcpListener;

use crate::common::Embedded;

/// Which requests the proxy never answers.
pub type Rule = fn(&Method, &str) -> bool;

pub struct Proxy {
    upstream: String,
    client: reqwest::Client,
    stall: Rule,
    delay: Duration,
    /// Milliseconds a refresh request waits before the server sees it (a lock, a queue).
    pub slow_refresh_ms: AtomicU64,
    /// One request at a time, as a single-process development server hashing a client
    /// secret on every request serves them.
    serial: Option<tokio::sync::Mutex<()>>,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Once set, nothing more is answered.
    pub stalled: AtomicBool,
    /// Token requests seen, and how many of them are answered.
    token_requests: AtomicUsize,
    pub token_limit: AtomicUsize,
    /// Every request's `Authorization` header and body echoed back: in an `x-echo` header,
    /// as the `error` of every error answer, and as a body that is not JSON (the request's
    /// body after 40 characters, so its token straddles a 60-character cut) for
    /// introspection.
    pub echo: AtomicBool,
    /// When set, the discovery metadata names this host instead of the proxy's own.
    pub foreign_host: Mutex<Option<String>>,
    /// Every access and refresh token the server issued.
    pub issued: Mutex<Vec<String>>,
    /// The proxy's own host, as the issuer names it.
    host: String,
}

async fn forward(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    let over = method == Method::POST
        && uri.path().ends_with("/token")
        && p.token_requests.fetch_add(1, Ordering::SeqCst) >= p.token_limit.load(Ordering::SeqCst);
    if over || (p.stall)(&method, uri.path()) || p.stalled.load(Ordering::SeqCst) {
        return std::future::pending().await;
    }
    let now = p.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    p.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _one = match &p.serial {
        Some(m) => Some(m.lock().await),
        None => None,
    };
    // Long enough that requests sent together overlap at the server.
    tokio::time::sleep(p.delay).await;
    if std::str::from_utf8(&body).is_ok_and(|b| b.contains("grant_type=refresh_token")) {
        let ms = p.slow_refresh_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut req = p
        .client
        .request(method.clone(), format!("{}{path}", p.upstream));
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let answer = req.body(body.clone()).send().await;
    p.in_flight.fetch_sub(1, Ordering::SeqCst);
    let Ok(r) = answer else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = r.status();
    let mut out = HeaderMap::new();
    for (name, value) in r.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out.append(name, value.clone());
        }
    }
    let mut answer_body = r.bytes().await.unwrap_or_default().to_vec();
    if uri.path().ends_with("/token") && status.is_success() {
        p.note_tokens(&answer_body);
    }
    if uri.path().contains("/.well-known/") {
        if let Some(host) = p.foreign_host.lock().unwrap().clone() {
            let text = String::from_utf8_lossy(&answer_body);
            // Every endpoint moves to the other host; the issuer stays.
            let issuer = format!("\"issuer\":\"http://{}", p.host);
            let moved = text
                .replace(&format!("http://{}", p.host), &format!("http://{host}"))
                .replace(&format!("\"issuer\":\"http://{host}"), &issuer);
            answer_body = moved.into_bytes();
        }
    }
    if p.echo.load(Ordering::SeqCst) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let echo = format!("{auth} {}", String::from_utf8_lossy(&body));
        if let Ok(v) = HeaderValue::from_str(&echo) {
            out.insert("x-echo", v);
        }
        if uri.path().ends_with("/introspect") {
            // The body first: the token begins at character 46 and runs past the 60th.
            out.insert("content-type", HeaderValue::from_static("text/plain"));
            answer_body = format!(
                "{}{} {auth}",
                "-".repeat(40),
                String::from_utf8_lossy(&body)
            )
            .into_bytes();
        } else if status.is_client_error() {
            answer_body = serde_json::to_vec(&serde_json::json!({
                "error": echo,
                "error_description": echo,
            }))
            .unwrap();
        }
    }
    (status, out, answer_body).into_response()
}

impl Proxy {
    /// Remembers the tokens of a token response.
    fn note_tokens(&self, body: &[u8]) {
        let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(body) else {
            return;
        };
        let mut issued = self.issued.lock().unwrap();
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = m.get(key).and_then(|v| v.as_str()) {
                issued.push(t.to_string());
            }
        }
    }
}

/// The reference server (issuer: the proxy, so discovery and redirects name the proxy)
/// behind a proxy that stalls what `stall` picks. `real_clock`: the server's wall clock.
pub async fn behind_proxy(
    policy: Policy,
    defects: Defects,
    stall: Rule,
    real_clock: bool,
) -> Proxied {
    behind(policy, defects, stall, real_clock, false).await
}

/// The server, its target (through the proxy) and the proxy.
pub type Proxied = (
    tokenlife_server::RunningServer,
    tokenlife_harness::Target,
    Arc<Proxy>,
);

/// [`behind_proxy`], serving one request at a time when `serial`.
pub async fn behind(
    policy: Policy,
    defects: Defects,
    stall: Rule,
    real_clock: bool,
    serial: bool,
) -> Proxied {
    behind_with(policy, defects, stall, real_clock, serial, |_| {}).await
}

/// [`behind`], with the server's configuration edited by `edit` before it starts.
pub async fn behind_with(
    policy: Policy,
    defects: Defects,
    stall: Rule,
    real_clock: bool,
    serial: bool,
    edit: impl FnOnce(&mut tokenlife_server::ServerConfig),
) -> Proxied {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let url = format!("http://{host}");
    let mut config = tokenlife_server::ServerConfig::demo("127.0.0.1:0".parse().unwrap());
    config.clients = tokenlife_server::config::demo_clients("http://127.0.0.1");
    config.issuer = Some(url.clone());
    config.policy = policy.clone();
    config.defects = defects;
    config.test_clock = !real_clock;
    config.demo = false;
    edit(&mut config);
    let server = tokenlife_server::start(config).await.unwrap();
    let proxy = Arc::new(Proxy {
        upstream: server.url().trim_end_matches('/').to_string(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        stall,
        delay: Duration::from_millis(if real_clock { 100 } else { 0 }),
        slow_refresh_ms: AtomicU64::new(0),
        serial: serial.then(|| tokio::sync::Mutex::new(())),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        stalled: AtomicBool::new(false),
        token_requests: AtomicUsize::new(0),
        token_limit: AtomicUsize::new(usize::MAX),
        echo: AtomicBool::new(false),
        foreign_host: Mutex::new(None),
        issued: Mutex::new(Vec::new()),
        host: host.clone(),
    });
    let app = Router::new().fallback(forward).with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut target = reference_target(&url, Embedded::clients(), policy);
    if real_clock {
        target.clock = ClockConfig::Real { skew: Seconds(1) };
    }
    (server, target, proxy)
}
