//! Fixtures: servers with test clients, request helpers and semantic assertions.

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokenlife_model::{ErrorCode, Policy};
use tokenlife_server::config::{AuthMethod, Client};
use tokenlife_server::scope::Scope;
use tokenlife_server::{app, AppState, Defect, Defects, RunningServer, Secret, ServerConfig};
use tower::ServiceExt;

/// A test client.
#[derive(Clone, Copy, Debug)]
pub struct C {
    pub id: &'static str,
    pub secret: Option<&'static str>,
    pub auth: AuthMethod,
}

/// Confidential, `client_secret_basic`.
pub const A: C = C {
    id: "app-a",
    secret: Some("secret-a"),
    auth: AuthMethod::ClientSecretBasic,
};
/// Confidential, `client_secret_post`.
pub const B: C = C {
    id: "app-b",
    secret: Some("secret-b"),
    auth: AuthMethod::ClientSecretPost,
};
/// Public.
pub const SPA: C = C {
    id: "spa",
    secret: None,
    auth: AuthMethod::None,
};
/// Another public client.
pub const SPA2: C = C {
    id: "spa-2",
    secret: None,
    auth: AuthMethod::None,
};

pub const FULL: &str = "offline_access openid read write";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub fn redirect_uri(c: &C) -> String {
    format!("http://127.0.0.1/cb/{}", c.id)
}

pub fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

pub fn clients() -> Vec<Client> {
    [A, B, SPA, SPA2]
        .iter()
        .map(|c| Client {
            id: c.id.into(),
            secret: c.secret.map(Secret::new),
            auth: c.auth,
            redirect_uri: redirect_uri(c),
            scope: Scope::parse(FULL).unwrap(),
            dpop: false,
        })
        .collect()
}

/// A policy from TOML (`profile = "bcp"\n knob = …`).
pub fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml).unwrap()
}

pub fn profile(name: &str) -> Policy {
    Policy::profile(name).unwrap()
}

pub fn config(policy: Policy, defects: Defects, database: &str) -> ServerConfig {
    let mut cfg = ServerConfig::demo("127.0.0.1:0".parse::<SocketAddr>().unwrap());
    cfg.clients = clients();
    cfg.users = vec!["alice".into(), "bob".into()];
    cfg.policy = policy;
    cfg.defects = defects;
    cfg.test_clock = true;
    cfg.database = database.into();
    cfg.demo = false;
    cfg
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> Option<String> {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
    }
}

/// What a token response carried.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub scope: String,
    pub expires_in: i64,
}

impl Tokens {
    pub fn rt(&self) -> &str {
        self.refresh.as_deref().expect("a refresh token")
    }
}

/// Where requests go: the router in process, or a real server over loopback.
#[derive(Clone)]
pub enum Target {
    Router(Router),
    Http(reqwest::Client, String),
}

/// A server under test.
#[derive(Clone)]
pub struct Srv {
    pub target: Target,
    pub state: AppState,
}

impl Srv {
    /// A correct server under `policy`, in memory, driven with `oneshot`.
    pub async fn new(policy: Policy) -> Srv {
        Srv::with(policy, Defects::none(), "sqlite::memory:").await
    }

    pub async fn with(policy: Policy, defects: Defects, database: &str) -> Srv {
        let cfg = config(policy, defects, database);
        let state = AppState::new(&cfg, "http://issuer.test".into())
            .await
            .unwrap();
        Srv {
            target: Target::Router(app(state.clone())),
            state,
        }
    }

    pub async fn defective(policy: Policy, d: Defect) -> Srv {
        Srv::with(policy, Defects::from(d), "sqlite::memory:").await
    }

    /// A client of a running server.
    pub fn remote(server: &RunningServer) -> Srv {
        Srv {
            target: Target::Http(
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap(),
                server.url().to_string(),
            ),
            state: server.state().clone(),
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        match &self.target {
            Target::Router(app) => {
                let r = app.clone().oneshot(req).await.unwrap();
                let status = r.status();
                let headers = r.headers().clone();
                let body = to_bytes(r.into_body(), usize::MAX).await.unwrap().to_vec();
                Resp {
                    status,
                    headers,
                    body,
                }
            }
            Target::Http(client, base) => {
                let (parts, body) = req.into_parts();
                let body = to_bytes(body, usize::MAX).await.unwrap();
                let url = format!("{base}{}", parts.uri);
                let r = client
                    .request(parts.method, url)
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                Resp {
                    status: r.status(),
                    headers: r.headers().clone(),
                    body: r.bytes().await.unwrap().to_vec(),
                }
            }
        }
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A form POST authenticated as `c` by its registered method.
    pub async fn post_as(&self, c: &C, uri: &str, params: &[(&str, &str)]) -> Resp {
        let req = post_request(c, uri, params);
        self.send(req).await
    }

    /// A raw form POST with no client authentication added.
    pub async fn post_raw(
        &self,
        uri: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::post(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(body.into()).unwrap()).await
    }

    /// `GET /authorize` with PKCE; the 302's query, parsed.
    pub async fn authorize_with(&self, c: &C, extra: &[(&str, &str)]) -> Resp {
        let ch = challenge();
        let ru = redirect_uri(c);
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code");
        q.append_pair("client_id", c.id);
        q.append_pair("redirect_uri", &ru);
        q.append_pair("state", "st-1");
        q.append_pair("code_challenge", &ch);
        q.append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        let uri = format!("/authorize?{}", q.finish());
        drop(q);
        self.get(&uri).await
    }

    pub async fn code(&self, c: &C, scope: &str) -> String {
        let r = self.authorize_with(c, &[("scope", scope)]).await;
        assert_eq!(
            r.status,
            StatusCode::FOUND,
            "{:?}",
            String::from_utf8_lossy(&r.body)
        );
        let q = location_query(&r);
        assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
        q.get("code").cloned().expect("a code")
    }

    pub async fn exchange(&self, c: &C, code: &str) -> Resp {
        let ru = redirect_uri(c);
        self.post_as(
            c,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &ru),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    /// Authorization code flow + exchange; asserts success.
    pub async fn login(&self, c: &C, scope: &str) -> Tokens {
        let code = self.code(c, scope).await;
        tokens(&self.exchange(c, &code).await)
    }

    pub async fn refresh(&self, c: &C, rt: &str, scope: Option<&str>) -> Resp {
        let mut p = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        if let Some(s) = scope {
            p.push(("scope", s));
        }
        self.post_as(c, "/token", &p).await
    }

    pub async fn resource(&self, at: &str) -> Resp {
        self.send(
            Request::get("/api/resource")
                .header(header::AUTHORIZATION, format!("Bearer {at}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn revoke(&self, c: &C, token: &str, hint: Option<&str>) -> Resp {
        let mut p = vec![("token", token)];
        if let Some(h) = hint {
            p.push(("token_type_hint", h));
        }
        self.post_as(c, "/revoke", &p).await
    }

    pub async fn introspect(&self, c: &C, token: &str) -> Resp {
        self.post_as(c, "/introspect", &[("token", token)]).await
    }

    pub async fn advance(&self, seconds: u32) {
        let r = self
            .send(
                Request::post("/test/clock")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(format!("{{\"advance_seconds\": {seconds}}}")))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{:?}",
            String::from_utf8_lossy(&r.body)
        );
    }

    /// Whether a refresh token still refreshes (consuming it if the policy rotates).
    pub async fn refreshes(&self, c: &C, rt: &str) -> bool {
        self.refresh(c, rt, None).await.status == StatusCode::OK
    }

    /// Whether an access token is honoured at the resource.
    pub async fn works(&self, at: &str) -> bool {
        let r = self.resource(at).await;
        match r.status {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => {
                assert_invalid_token(&r);
                false
            }
            other => panic!("resource answered {other}"),
        }
    }
}

/// A form POST authenticated as `c` by its registered method.
pub fn post_request(c: &C, uri: &str, params: &[(&str, &str)]) -> Request<Body> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    let mut req =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    match c.auth {
        AuthMethod::ClientSecretBasic => {
            let cred = STANDARD.encode(format!("{}:{}", c.id, c.secret.unwrap()));
            req = req.header(header::AUTHORIZATION, format!("Basic {cred}"));
        }
        AuthMethod::ClientSecretPost => {
            form.append_pair("client_id", c.id);
            form.append_pair("client_secret", c.secret.unwrap());
        }
        AuthMethod::None => {
            form.append_pair("client_id", c.id);
        }
    }
    for (k, v) in params {
        form.append_pair(k, v);
    }
    req.body(Body::from(form.finish())).unwrap()
}

pub fn location_query(r: &Resp) -> std::collections::HashMap<String, String> {
    let loc = r.header(header::LOCATION).expect("a Location header");
    let query = loc.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A successful token response, checked for RFC 6749 §5.1's headers and fields.
pub fn tokens(r: &Resp) -> Tokens {
    assert_eq!(r.header(header::PRAGMA), Some("no-cache"));
    token_response(r, "Bearer")
}

/// A 200 token response with `Cache-Control: no-store` and this `token_type`: its tokens.
pub fn token_response(r: &Resp, token_type: &str) -> Tokens {
    assert_eq!(
        r.status,
        StatusCode::OK,
        "expected tokens, got {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
    let v = r.json();
    assert_eq!(v["token_type"], token_type, "{v}");
    Tokens {
        access: v["access_token"].as_str().unwrap().to_string(),
        refresh: v["refresh_token"].as_str().map(String::from),
        scope: v["scope"].as_str().unwrap_or_default().to_string(),
        expires_in: v["expires_in"].as_i64().unwrap(),
    }
}

pub fn assert_error(r: &Resp, status: StatusCode, code: ErrorCode) {
    assert_eq!(
        (r.status, r.error().as_deref()),
        (status, Some(code.as_str())),
        "body: {}",
        String::from_utf8_lossy(&r.body)
    );
}

/// RFC 6749 §5.2: 400 `invalid_grant`.
pub fn assert_invalid_grant(r: &Resp) {
    assert_error(r, StatusCode::BAD_REQUEST, ErrorCode::InvalidGrant);
}

pub fn assert_invalid_request(r: &Resp) {
    assert_error(r, StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest);
}

pub fn assert_invalid_scope(r: &Resp) {
    assert_error(r, StatusCode::BAD_REQUEST, ErrorCode::InvalidScope);
}

/// 401 `invalid_client`; with `basic`, the `WWW-Authenticate: Basic` challenge too.
pub fn assert_invalid_client(r: &Resp, basic: bool) {
    assert_error(r, StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient);
    let challenge = r.header(header::WWW_AUTHENTICATE);
    if basic {
        assert!(
            challenge.is_some_and(|c| c.starts_with("Basic")),
            "{challenge:?}"
        );
    }
}

/// RFC 6750 §3.1: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
pub fn assert_invalid_token(r: &Resp) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let c = r.header(header::WWW_AUTHENTICATE).unwrap_or_default();
    assert!(
        c.starts_with("Bearer") && c.contains("error=\"invalid_token\""),
        "{c}"
    );
}

/// RFC 7662 §2.2: exactly `{"active": false}`.
pub fn assert_inactive(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({ "active": false }));
}

pub fn assert_active(r: &Resp) -> Value {
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["active"], true, "{v}");
    v
}

/// Every log line of this test binary from the first call on (a global subscriber: a
/// thread-local one misses events whose callsites other threads cached as uninteresting).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
    .clone()
}

/// A policy file of `reference-server/policies/` with a server nonce: `bcp-dpop` and
/// `dpop_nonce = true`.
pub const BCP_DPOP_NONCE: &str = include_str!("../../policies/bcp-dpop-nonce.toml");

/// A token request with one `DPoP` header per proof given (RFC 9449 §4.1).
pub fn with_proofs(mut req: Request<Body>, proofs: &[&str]) -> Request<Body> {
    for p in proofs {
        req.headers_mut().append(
            header::HeaderName::from_static("dpop"),
            header::HeaderValue::from_str(p).unwrap(),
        );
    }
    req
}

/// A successful token response whose access token is DPoP-bound (RFC 9449 §5).
pub fn dpop_tokens(r: &Resp) -> Tokens {
    token_response(r, "DPoP")
}
