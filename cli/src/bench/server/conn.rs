//! The HTTP/1.1 connection a `bench server` client refreshes over: keep-alive, requests
//! with `Content-Length`, responses parsed by `httparse`, so that the load generator costs
//! little CPU beside the server it measures.

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use tokenlife_server::config::{DEMO_CONFIDENTIAL_ID, DEMO_CONFIDENTIAL_SECRET};
use tokenlife_server::form::encode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The scope every benchmark grant asks for.
const SCOPE: &str = "offline_access read";

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    refresh_token: Option<String>,
}

/// A keep-alive HTTP/1.1 connection to the server, opened again when it breaks.
pub(super) struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    request: Vec<u8>,
    authorization: String,
}

/// A response: status, `Location`, body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

impl Conn {
    pub(super) fn new(addr: SocketAddr) -> Conn {
        let credentials = format!("{DEMO_CONFIDENTIAL_ID}:{DEMO_CONFIDENTIAL_SECRET}");
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
            request: Vec::with_capacity(512),
            authorization: format!("Basic {}", STANDARD.encode(credentials)),
        }
    }

    /// A new grant: `/authorize` (approved automatically), then the code for tokens.
    pub(super) async fn new_family(&mut self) -> Result<String, String> {
        let query = encode([
            ("response_type", "code"),
            ("client_id", DEMO_CONFIDENTIAL_ID),
            ("scope", SCOPE),
            ("state", "bench"),
        ]);
        let a = self
            .exchange("GET", &format!("/authorize?{query}"), None)
            .await?;
        let location = match (a.status, a.location) {
            (302, Some(l)) => l,
            (status, _) => return Err(format!("/authorize answered {status}, not a redirect")),
        };
        let code = location
            .split_once('?')
            .map(|(_, q)| q)
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| "/authorize redirected without a code".to_string())?;
        let body = encode([("grant_type", "authorization_code"), ("code", &code)]);
        let t = self.token(&body).await?;
        t.refresh_token
            .ok_or_else(|| "the code exchange returned no refresh token".to_string())
    }

    /// One refresh grant; the successor refresh token, if the server rotated.
    pub(super) async fn refresh(&mut self, refresh: &str) -> Result<Option<String>, String> {
        // The harness's own refresh form, so every refresh the project sends is built once.
        let form = tokenlife_harness::request::refresh_form(refresh, None);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        Ok(self.token(&body).await?.refresh_token)
    }

    async fn token(&mut self, body: &str) -> Result<TokenAnswer, String> {
        let a = self.exchange("POST", "/token", Some(body)).await?;
        if a.status != 200 {
            return Err(format!(
                "/token answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body[..a.body.len().min(200)])
            ));
        }
        let t: TokenAnswer = serde_json::from_slice(&a.body)
            .map_err(|e| format!("/token answered malformed JSON: {e}"))?;
        if t.token_type != "Bearer" || t.access_token.is_empty() {
            return Err("/token answered without a Bearer access token".into());
        }
        Ok(t)
    }

    /// Sends one request and reads its response; on any I/O or protocol error the
    /// connection is dropped (the next request opens a new one).
    async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&str>,
    ) -> Result<Answer, String> {
        let result = self.exchange_once(method, target, body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange_once(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&str>,
    ) -> Result<Answer, String> {
        use std::io::Write as _;
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
            s.set_nodelay(true)
                .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("no connection".into());
        };
        self.request.clear();
        let _ = write!(
            self.request,
            "{method} {target} HTTP/1.1\r\nHost: {}\r\n",
            self.addr
        );
        if let Some(b) = body {
            let _ = write!(
                self.request,
                "Authorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{b}",
                self.authorization,
                b.len()
            );
        } else {
            self.request.extend_from_slice(b"\r\n");
        }
        stream
            .write_all(&self.request)
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        self.buf.clear();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(&self.buf)
                .map_err(|e| format!("malformed response: {e}"))?;
            if let httparse::Status::Complete(head) = parsed {
                let status = response.code.unwrap_or(0);
                let mut length = None;
                let mut location = None;
                let mut close = false;
                for h in response.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if h.name.eq_ignore_ascii_case("location") {
                        location = std::str::from_utf8(h.value).ok().map(str::to_string);
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = h.value.eq_ignore_ascii_case(b"close");
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err("chunked responses are not supported".into());
                    }
                }
                let length = length.unwrap_or(0);
                while self.buf.len() < head + length {
                    read_more(stream, &mut self.buf).await?;
                }
                let body = self.buf[head..head + length].to_vec();
                if close {
                    self.stream = None;
                }
                return Ok(Answer {
                    status,
                    location,
                    body,
                });
            }
            read_more(stream, &mut self.buf).await?;
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    if n == 0 {
        return Err("the server closed the connection".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}
