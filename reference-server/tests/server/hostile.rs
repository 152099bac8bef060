//! Hostile and clumsy clients over real TCP: slow request heads and bodies, idle
//! connections, more connections than the cap, half-closed requests, oversized bodies and
//! wrong methods. Deadlines are configured short for the test; what is asserted is that a
//! connection is closed or answered, each wait bounded by a generous [`GUARD`] so that a
//! server that never does fails instead of hanging.

use std::time::Duration;

use axum::http::{header, StatusCode};
use tokenlife_server::{Defects, Limits, RunningServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

/// How long anything the server must do may take before the test calls it a hang.
const GUARD: Duration = Duration::from_secs(30);

const SHORT: Duration = Duration::from_millis(500);

async fn served(limits: Limits) -> RunningServer {
    let mut cfg = config(profile("bcp"), Defects::none(), "sqlite::memory:");
    cfg.limits = limits;
    tokenlife_server::start(cfg).await.unwrap()
}

async fn connect(server: &RunningServer) -> TcpStream {
    TcpStream::connect(server.local_addr()).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset); panics after [`GUARD`].
/// Returns what was read.
async fn until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("the server kept the connection open");
    seen
}

/// One response read off the connection: status line, headers (lower-case names), body.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Option<(Raw, usize)> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body = bytes.get(end..end + len)?.to_vec();
        Some((
            Raw {
                status,
                headers,
                body,
            },
            end + len,
        ))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads one whole response; panics after [`GUARD`] or if the connection closes first.
async fn response(tcp: &mut TcpStream) -> Raw {
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            if let Some((r, _)) = Raw::parse(&seen) {
                return r;
            }
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => panic!(
                    "closed without a whole response: {:?}",
                    String::from_utf8_lossy(&seen)
                ),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("no response from the server")
}

fn discovery_request() -> &'static [u8] {
    b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: t\r\n\r\n"
}

/// The RFC 6749 §5.2 shape: JSON with `error`, `no-store`.
fn assert_oauth_json(r: &Raw, status: u16, code: &str) {
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["error"], code);
}

#[tokio::test]
async fn slow_or_silent_request_heads_are_closed_after_the_header_timeout() {
    let server = served(Limits {
        header_timeout: SHORT,
        ..Limits::DEFAULT
    })
    .await;
    // Nothing at all.
    let mut silent = connect(&server).await;
    // A partial head, then nothing.
    let mut partial = connect(&server).await;
    partial
        .write_all(b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: applic")
        .await
        .unwrap();
    // Dripping a byte at a time is no way around it: the deadline runs from the start.
    let mut drip = connect(&server).await;
    let dripping = async {
        for b in b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nX: " {
            if drip.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        until_closed(&mut drip).await
    };
    assert!(until_closed(&mut silent).await.is_empty());
    assert!(until_closed(&mut partial).await.is_empty());
    assert!(dripping.await.is_empty());
    // The server still answers a client that sends its request.
    let mut ok = connect(&server).await;
    ok.write_all(discovery_request()).await.unwrap();
    assert_eq!(response(&mut ok).await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_body_gets_an_oauth_408_and_the_connection_is_closed() {
    let server = served(Limits {
        body_timeout: SHORT,
        ..Limits::DEFAULT
    })
    .await;
    let mut tcp = connect(&server).await;
    tcp.write_all(
        b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type",
    )
    .await
    .unwrap();
    let r = response(&mut tcp).await;
    assert_oauth_json(&r, 408, "invalid_request");
    assert_eq!(r.header("connection"), Some("close"));
    until_closed(&mut tcp).await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = served(Limits {
        idle_timeout: SHORT,
        ..Limits::DEFAULT
    })
    .await;
    let mut tcp = connect(&server).await;
    tcp.write_all(discovery_request()).await.unwrap();
    let r = response(&mut tcp).await;
    assert_eq!(r.status, 200);
    assert_ne!(r.header("connection"), Some("close"), "kept alive");
    assert!(until_closed(&mut tcp).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn the_connection_cap_holds_further_connections_until_one_closes() {
    let logs = capture_logs();
    let server = served(Limits {
        max_connections: 2,
        header_timeout: Duration::from_secs(60),
        ..Limits::DEFAULT
    })
    .await;
    let first = connect(&server).await;
    let _second = connect(&server).await;
    let mut third = connect(&server).await;
    third.write_all(discovery_request()).await.unwrap();
    // Two connections hold the two slots: the third is not served while they stay open.
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(SHORT, third.read(&mut byte)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    // One closes: the third is served.
    drop(first);
    assert_eq!(
        response(&mut third).await.status,
        200,
        "served once a slot is free"
    );
    let text = logs.text();
    assert!(text.contains("connection cap reached"), "{text}");
    assert!(text.contains("max_connections=2"), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn idle_connections_past_the_cap_time_out_and_the_server_answers_again() {
    let server = served(Limits {
        max_connections: 2,
        header_timeout: SHORT,
        ..Limits::DEFAULT
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(connect(&server).await);
    }
    let mut ok = connect(&server).await;
    ok.write_all(discovery_request()).await.unwrap();
    assert_eq!(response(&mut ok).await.status, 200);
    for mut c in idle {
        assert!(until_closed(&mut c).await.is_empty());
    }
    server.shutdown().await;
}

/// A request written whole, then the client's write side shut down (`SHUT_WR`).
async fn half_closed(server: &RunningServer, request: &[u8]) -> Vec<u8> {
    let mut tcp = connect(server).await;
    tcp.write_all(request).await.unwrap();
    tcp.shutdown().await.unwrap();
    until_closed(&mut tcp).await
}

#[tokio::test]
async fn a_half_closed_client_gets_its_answer() {
    let server = served(Limits::DEFAULT).await;
    let answer = half_closed(&server, discovery_request()).await;
    let (r, _) = Raw::parse(&answer).expect("a response");
    assert_eq!(r.status, 200);

    let ru = redirect_uri(&A);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", A.id)
        .append_pair("redirect_uri", &ru)
        .append_pair("scope", FULL)
        .append_pair("state", "s")
        .finish();
    let req = format!("GET /authorize?{query} HTTP/1.1\r\nHost: t\r\n\r\n");
    for _ in 0..5 {
        let answer = half_closed(&server, req.as_bytes()).await;
        let (r, _) = Raw::parse(&answer).expect("a response");
        assert_eq!(r.status, 302);
        assert!(r.header("location").is_some_and(|l| l.contains("code=")));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_half_closed_refresh_is_answered_and_its_successor_refreshes() {
    let server = served(Limits::DEFAULT).await;
    let s = Srv::remote(&server);
    let t = s.login(&SPA, FULL).await;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", t.rt())
        .append_pair("client_id", SPA.id)
        .finish();
    let req = format!(
        "POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = half_closed(&server, req.as_bytes()).await;
    let (r, _) = Raw::parse(&answer).expect("the refresh's answer");
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let successor = r.json()["refresh_token"]
        .as_str()
        .expect("a rotated refresh token")
        .to_string();
    assert_ne!(successor, t.rt());
    // The client got its successor, so it has no reason to replay; the family lives on.
    let next = tokens(&s.refresh(&SPA, &successor, None).await);
    assert!(s.works(&next.access).await);
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_body_over_tcp_is_an_oauth_413() {
    let server = served(Limits::DEFAULT).await;
    let s = Srv::remote(&server);
    let big = format!("client_id=spa&pad={}", "x".repeat(100 * 1024));
    for path in ["/token", "/revoke", "/introspect"] {
        let r = s
            .post_raw(
                path,
                big.clone(),
                &[("content-type", "application/x-www-form-urlencoded")],
            )
            .await;
        assert_error(
            &r,
            StatusCode::PAYLOAD_TOO_LARGE,
            tokenlife_model::ErrorCode::InvalidRequest,
        );
        assert_eq!(r.header(header::CONTENT_TYPE), Some("application/json"));
        assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_error_of_the_oauth_endpoints_is_an_oauth_json_error() {
    use axum::body::Body;
    use axum::http::{Method, Request};
    let s = Srv::new(profile("bcp")).await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    for path in ["/token", "/revoke", "/introspect"] {
        let mut answers = Vec::new();
        let big = format!("client_id=spa&pad={}", "x".repeat(100 * 1024));
        answers.push(("oversized", s.post_raw(path, big, &[form]).await, 413));
        answers.push((
            "wrong content type",
            s.post_raw(
                path,
                "{\"token\": \"x\"}",
                &[("content-type", "application/json")],
            )
            .await,
            400,
        ));
        answers.push((
            "malformed form",
            s.post_raw(path, b"client_id=spa&token=%ff%fe".to_vec(), &[form])
                .await,
            400,
        ));
        answers.push((
            "repeated parameter",
            s.post_raw(path, "client_id=spa&client_id=spa", &[form])
                .await,
            400,
        ));
        for method in [
            Method::GET,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            let r = s
                .send(
                    Request::builder()
                        .method(method.clone())
                        .uri(path)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_eq!(r.header(header::ALLOW), Some("POST"), "{method} {path}");
            answers.push(("wrong method", r, 405));
        }
        for (what, r, status) in answers {
            assert_eq!(
                r.status.as_u16(),
                status,
                "{what} at {path}: {:?}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(
                r.header(header::CONTENT_TYPE),
                Some("application/json"),
                "{what} at {path}"
            );
            assert_eq!(
                r.header(header::CACHE_CONTROL),
                Some("no-store"),
                "{what} at {path}"
            );
            let v = r.json();
            assert_eq!(v["error"], "invalid_request", "{what} at {path}");
            assert!(v["error_description"].is_string(), "{what} at {path}");
        }
    }
    // Authorization errors stay what they were: a redirect, or the error page when no
    // redirect is safe; resource errors stay a `WWW-Authenticate` challenge.
    let r = s.authorize_with(&A, &[("response_type", "token")]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let r = s.get("/authorize?client_id=nobody").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s.get("/api/resource").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header(header::WWW_AUTHENTICATE).is_some());
}
