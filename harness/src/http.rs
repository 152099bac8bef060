//! The HTTP adapter: every request the harness sends goes through here.
//!
//! reqwest with rustls (plus an optional extra trust anchor), a per-request timeout that
//! covers the body and every retry, capped body reads, no automatic redirects, a `max_rps`
//! cap and 429 + `Retry-After` honoured (RFC 6585 §4, RFC 9110 §10.2.3) while the timeout
//! allows it. A misbehaving server (a timeout, a dropped connection, a huge body, a 429
//! storm) is an [`HttpError`], never a panic or a hang; every request answers to the run's
//! [`Guard`] (its deadline, a signal, the circuit breaker). Error messages carry no query
//! string: a Location can hold an authorization code. The adapter also remembers every
//! origin it sent credentials to, for the report.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::guard::Guard;

/// Adapter settings.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The timeout of one request, body and every 429 retry (and its wait) included.
    pub timeout: Duration,
    /// The largest body read; a longer one is an error.
    pub max_body: usize,
    /// An extra trust anchor (PEM).
    pub ca_file: Option<PathBuf>,
    /// Requests per second at most.
    pub max_rps: Option<u32>,
    /// How many times a 429 is retried.
    pub max_429_retries: u32,
    /// When set, every completed exchange is appended here (benchmarks replay them).
    pub record: Option<Recording>,
    /// The run's deadline, stop switch and circuit breaker (default: inert).
    pub guard: Guard,
}

/// Completed exchanges, in the order they completed.
pub type Recording = std::sync::Arc<std::sync::Mutex<Vec<(Request, Response)>>>;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
            ca_file: None,
            max_rps: None,
            max_429_retries: 3,
            record: None,
            guard: Guard::default(),
        }
    }
}

/// Why an exchange did not give a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The adapter cannot be built (a bad `ca_file`).
    #[error("failed to set up HTTP: {0}")]
    Setup(String),
    /// No answer within the timeout.
    #[error("no answer from {url} within {seconds} s")]
    Timeout {
        /// The URL, without its query.
        url: String,
        /// The timeout.
        seconds: u64,
    },
    /// The connection could not be made.
    #[error("failed to connect to {url}: {reason}")]
    Connect {
        /// The URL, without its query.
        url: String,
        /// Why.
        reason: String,
    },
    /// The connection broke before a whole response arrived.
    #[error("the connection to {url} broke before a whole response arrived: {reason}")]
    Dropped {
        /// The URL, without its query.
        url: String,
        /// Why.
        reason: String,
    },
    /// The body is longer than the cap.
    #[error("the response body of {url} is longer than {limit} bytes")]
    BodyTooLarge {
        /// The URL, without its query.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// Still 429 after the retries, or a `Retry-After` the timeout cannot wait for.
    #[error("{url} kept answering 429 Too Many Requests{why}")]
    RateLimited {
        /// The URL, without its query.
        url: String,
        /// What ended the retries, from `; ` on (empty: the retries ran out).
        why: String,
    },
    /// The run stopped (its deadline, a signal, the circuit breaker): the request was not
    /// sent, or its answer no longer awaited.
    #[error("not sent: {reason}")]
    Stopped {
        /// Why the run stopped.
        reason: String,
    },
    /// Not a URL.
    #[error("`{0}` is not a usable URL")]
    BadUrl(String),
}

impl HttpError {
    /// Whether the target could not be reached at all (exit code 4 before any check).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HttpError::Connect { .. } | HttpError::Timeout { .. })
    }

    /// Whether the exchange says nothing about the server's OAuth behaviour, only that it
    /// could not answer in time: no answer within the timeout, a connection refused or
    /// broken mid-run, 429 after every retry. A run reports these as infrastructure
    /// problems (what it could not finish is not tested), never as a failed check: an
    /// overloaded development server is not a non-conformant one; nor is a request the
    /// stopped run did not send. A body over the cap and a bad URL are answers, judged as
    /// such.
    pub fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            HttpError::Timeout { .. }
                | HttpError::Connect { .. }
                | HttpError::Dropped { .. }
                | HttpError::RateLimited { .. }
                | HttpError::Stopped { .. }
        )
    }
}

/// A URL without query or fragment, for messages.
pub fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_string()
}

/// One request.
#[derive(Clone, Debug)]
pub struct Request {
    /// GET or POST.
    pub method: reqwest::Method,
    /// The URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// A form body (`application/x-www-form-urlencoded`).
    pub form: Option<Vec<(String, String)>>,
    /// A JSON body.
    pub json: Option<serde_json::Value>,
}

impl Request {
    /// A GET.
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: reqwest::Method::GET,
            url: url.into(),
            headers: Vec::new(),
            form: None,
            json: None,
        }
    }

    /// A form POST.
    pub fn post_form(url: impl Into<String>, form: Vec<(String, String)>) -> Request {
        Request {
            method: reqwest::Method::POST,
            url: url.into(),
            headers: Vec::new(),
            form: Some(form),
            json: None,
        }
    }

    /// A JSON POST.
    pub fn post_json(url: impl Into<String>, json: serde_json::Value) -> Request {
        Request {
            method: reqwest::Method::POST,
            url: url.into(),
            headers: Vec::new(),
            form: None,
            json: Some(json),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The form body as sent (`application/x-www-form-urlencoded`), if there is one.
    pub fn form_body(&self) -> Option<String> {
        self.form.as_ref().map(|form| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .finish()
        })
    }
}

/// A whole response.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (at most the cap).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as a JSON object, or why it is not one.
    pub fn json_object(&self) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => Err("the body is JSON but not an object".into()),
            // The preview is cut by the redactor, after it has replaced every secret it
            // knows: cut here, a token's prefix would survive.
            Err(e) => Err(format!(
                "the body is not JSON ({e}): {}",
                crate::secret::preview(&self.body)
            )),
        }
    }
}

/// The adapter.
#[derive(Debug)]
pub struct Http {
    client: reqwest::Client,
    config: HttpConfig,
    next_slot: Mutex<Option<Instant>>,
    /// The origins (`scheme://host:port`) that received a client secret or a token.
    credentials_sent_to: std::sync::Mutex<BTreeSet<String>>,
}

impl Http {
    /// Builds the adapter.
    pub fn new(config: HttpConfig) -> Result<Http, HttpError> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("tokenlife/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                HttpError::Setup(format!("failed to read ca_file {}: {e}", path.display()))
            })?;
            // Every certificate of the bundle; a file with none is an error, not a no-op.
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                HttpError::Setup(format!(
                    "ca_file {} is not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(HttpError::Setup(format!(
                    "ca_file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
            for cert in certs {
                b = b.add_root_certificate(cert);
            }
        }
        let client = b.build().map_err(|e| HttpError::Setup(e.to_string()))?;
        Ok(Http {
            client,
            config,
            next_slot: Mutex::new(None),
            credentials_sent_to: std::sync::Mutex::new(BTreeSet::new()),
        })
    }

    /// The settings.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    async fn pace(&self) {
        let Some(rps) = self.config.max_rps else {
            return;
        };
        let gap = Duration::from_secs_f64(1.0 / f64::from(rps.max(1)));
        let wait_until = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + gap);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }

    /// The origins that received a client secret or a token so far, sorted.
    pub fn credentials_sent_to(&self) -> Vec<String> {
        self.credentials_sent_to
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends a request and reads the whole response; a 429 is retried after `Retry-After`
    /// while the timeout allows. A stopped run sends nothing and abandons what is in flight;
    /// the answer (or its absence) counts for the circuit breaker.
    pub async fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let guard = &self.config.guard;
        if let Some(reason) = guard.stopped() {
            return Err(HttpError::Stopped { reason });
        }
        self.note_credentials(req);
        let result = tokio::select! {
            r = self.send_bounded(req) => r,
            reason = guard.wait() => Err(HttpError::Stopped { reason }),
        };
        match &result {
            Err(HttpError::Stopped { .. }) => {}
            Err(e) if e.is_infrastructure() => {
                guard.record(&strip_query(&req.url), Some(&e.to_string()));
            }
            _ => guard.record(&strip_query(&req.url), None),
        }
        result
    }

    /// Remembers the origin of a request that carries a client secret or a token.
    fn note_credentials(&self, req: &Request) {
        const CARRY: [&str; 6] = [
            "client_secret",
            "client_assertion",
            "refresh_token",
            "code",
            "code_verifier",
            "token",
        ];
        let carries = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            || req
                .form
                .as_ref()
                .is_some_and(|f| f.iter().any(|(k, _)| CARRY.contains(&k.as_str())));
        if !carries {
            return;
        }
        if let Ok(u) = reqwest::Url::parse(&req.url) {
            if let Ok(mut set) = self.credentials_sent_to.lock() {
                set.insert(u.origin().ascii_serialization());
            }
        }
    }

    /// [`Http::send`] without the guard: every attempt and every `Retry-After` wait within
    /// one timeout (the `max_rps` pacing before the first attempt is the harness's own
    /// queue, outside it). A `Retry-After` longer than what is left ends the retries at once.
    async fn send_bounded(&self, req: &Request) -> Result<Response, HttpError> {
        self.pace().await;
        let timeout = self.config.timeout;
        let end = Instant::now() + timeout;
        let url = || strip_query(&req.url);
        let mut attempt = 0;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HttpError::Timeout {
                    url: url(),
                    seconds: timeout.as_secs(),
                });
            }
            let r = self.send_once(req, left).await?;
            if r.status != 429 {
                if let Some(rec) = &self.config.record {
                    if let Ok(mut v) = rec.lock() {
                        v.push((req.clone(), r.clone()));
                    }
                }
                return Ok(r);
            }
            if attempt >= self.config.max_429_retries {
                return Err(HttpError::RateLimited {
                    url: url(),
                    why: String::new(),
                });
            }
            attempt += 1;
            let wait = r
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .min(60);
            if Instant::now() + Duration::from_secs(wait) >= end {
                return Err(HttpError::RateLimited {
                    url: url(),
                    why: format!(
                        "; it asked to retry after {wait} s, past the request's timeout of {} s",
                        timeout.as_secs()
                    ),
                });
            }
            tracing::info!(url = %url(), wait, "429: waiting as Retry-After says");
            tokio::time::sleep(Duration::from_secs(wait)).await;
            self.pace().await;
        }
    }

    async fn send_once(&self, req: &Request, timeout: Duration) -> Result<Response, HttpError> {
        let url =
            reqwest::Url::parse(&req.url).map_err(|_| HttpError::BadUrl(strip_query(&req.url)))?;
        let shown = strip_query(&req.url);
        let mut b = self
            .client
            .request(req.method.clone(), url)
            .timeout(timeout);
        for (n, v) in &req.headers {
            b = b.header(n.as_str(), v.as_str());
        }
        if let Some(body) = req.form_body() {
            b = b
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        if let Some(json) = &req.json {
            b = b.json(json);
        }
        let seconds = self.config.timeout.as_secs();
        let mut resp = b
            .send()
            .await
            .map_err(|e| classify(&shown, seconds, &e, true))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if resp
            .content_length()
            .is_some_and(|n| n > self.config.max_body as u64)
        {
            return Err(HttpError::BodyTooLarge {
                url: shown,
                limit: self.config.max_body,
            });
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.config.max_body {
                        return Err(HttpError::BodyTooLarge {
                            url: shown,
                            limit: self.config.max_body,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(classify(&shown, seconds, &e, false)),
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn classify(url: &str, seconds: u64, e: &reqwest::Error, sending: bool) -> HttpError {
    let reason = {
        // The error chain, without the URL (reqwest puts it in its Display).
        let mut parts = Vec::new();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = src {
            parts.push(s.to_string());
            src = s.source();
        }
        if parts.is_empty() {
            "unknown error".to_string()
        } else {
            parts.join(": ")
        }
    };
    if e.is_timeout() {
        HttpError::Timeout {
            url: url.to_string(),
            seconds,
        }
    } else if e.is_connect() {
        HttpError::Connect {
            url: url.to_string(),
            reason,
        }
    } else if sending && e.is_request() && !e.is_body() {
        // Sent, but the connection closed before a response head came back.
        HttpError::Dropped {
            url: url.to_string(),
            reason,
        }
    } else {
        HttpError::Dropped {
            url: url.to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_never_reach_messages() {
        assert_eq!(strip_query("http://h/cb?code=abc#x"), "http://h/cb");
        let e = HttpError::Timeout {
            url: strip_query("http://h/a?code=zzz"),
            seconds: 3,
        };
        assert!(!e.to_string().contains("zzz"));
    }

    #[test]
    fn json_bodies_are_checked() {
        let r = Response {
            status: 200,
            headers: vec![("cache-control".into(), "no-store".into())],
            body: b"<html>".to_vec(),
        };
        assert!(r.json_object().unwrap_err().contains("not JSON"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}
