//! Getting an authorization code (RFC 6749 §4.1.1–4.1.2) with PKCE S256 (RFC 7636 §4) on
//! every request.
//!
//! Mode `redirect`: GET the authorization endpoint and follow redirects by hand with a
//! cookie jar (login and consent pages that redirect on their own) until the first
//! Location on the client's `redirect_uri`; read `code` and check `state` (RFC 6749 §10.12).
//! Mode `command`: run a command with the authorization URL as its last argument and in
//! `$TOKENLIFE_AUTHORIZE_URL`; it prints the code or the final redirect URL.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::http::{strip_query, Http, HttpError, Request};
use crate::secret::Secret;
use crate::target::{AuthorizeConfig, AuthorizeMode, ClientConfig};

/// How many redirects are followed before giving up (a loop).
pub const MAX_REDIRECTS: usize = 20;
/// How long an authorize command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A random URL-safe string of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A PKCE pair (RFC 7636 §4.1–4.2).
#[derive(Clone, Debug)]
pub struct Pkce {
    /// `code_verifier`: 43 characters.
    pub verifier: Secret,
    /// `code_challenge` = BASE64URL(SHA256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn new() -> Pkce {
        let verifier = random_token(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Pkce::new()
    }
}

/// A code, ready to be exchanged.
#[derive(Clone, Debug)]
pub struct Code {
    /// The authorization code.
    pub code: Secret,
    /// The PKCE verifier of the request.
    pub verifier: Secret,
}

/// Why no code came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// The exchange failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server redirected back with an error.
    #[error("the authorization server answered `{error}`{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The `error` parameter.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The redirect back has no `code`.
    #[error("the redirect to redirect_uri carries no code")]
    NoCode,
    /// `state` was not returned unchanged.
    #[error("the redirect to redirect_uri returned state {got:?} instead of the one sent (RFC 6749 §4.1.2)")]
    StateMismatch {
        /// What came back.
        got: Option<String>,
    },
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("more than {MAX_REDIRECTS} redirects without reaching redirect_uri (a redirect loop?); last: {last}")]
    TooManyRedirects {
        /// The last URL, without its query.
        last: String,
    },
    /// A page that does not redirect: interaction the harness cannot do.
    #[error("{url} answered {status} instead of redirecting; a login or consent page needs authorize mode = \"command\"")]
    Stuck {
        /// The URL, without its query.
        url: String,
        /// Its status.
        status: u16,
    },
    /// The command failed.
    #[error("the authorize command failed: {0}")]
    Command(String),
}

/// The authorization request URL for `client` asking `scope`, with PKCE and `state`.
pub fn authorization_url(
    endpoint: &str,
    client: &ClientConfig,
    scope: &str,
    pkce: &Pkce,
    state: &str,
    extra: &BTreeMap<String, String>,
) -> Result<String, HttpError> {
    let mut u =
        reqwest::Url::parse(endpoint).map_err(|_| HttpError::BadUrl(strip_query(endpoint)))?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &client.redirect_uri);
        // Nothing to ask for (a client with no resource scope, openid or offline_access):
        // no `scope` at all, since an empty one is malformed (RFC 6749 §3.3: 1*scope-token).
        if !scope.is_empty() {
            q.append_pair("scope", scope);
        }
        q.append_pair("state", state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    Ok(u.to_string())
}

/// Whether `location` is on `redirect_uri` (same URL before any query).
fn on_redirect_uri(location: &str, redirect_uri: &str) -> bool {
    strip_query(location) == strip_query(redirect_uri)
}

/// Reads the authorization response from the final redirect URL.
pub fn read_redirect(url: &str, state: &str) -> Result<Secret, AuthorizeError> {
    let u = reqwest::Url::parse(url).map_err(|_| HttpError::BadUrl(strip_query(url)))?;
    let params: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
    if let Some(error) = params.get("error") {
        return Err(AuthorizeError::Refused {
            error: error.clone(),
            description: params.get("error_description").cloned(),
        });
    }
    if params.get("state").map(String::as_str) != Some(state) {
        return Err(AuthorizeError::StateMismatch {
            got: params.get("state").cloned(),
        });
    }
    params
        .get("code")
        .map(|c| Secret::new(c.clone()))
        .ok_or(AuthorizeError::NoCode)
}

/// A minimal cookie jar: name=value per host, enough for login pages that set a session.
#[derive(Debug, Default)]
struct Jar(BTreeMap<String, BTreeMap<String, String>>);

impl Jar {
    fn store(&mut self, host: &str, set_cookie: &str) {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        if let Some((name, value)) = pair.split_once('=') {
            self.0
                .entry(host.to_string())
                .or_default()
                .insert(name.trim().to_string(), value.trim().to_string());
        }
    }

    fn header(&self, host: &str) -> Option<String> {
        let c = self.0.get(host)?;
        (!c.is_empty()).then(|| {
            c.iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Gets a code for `client` with `scope`.
pub async fn authorize(
    http: &Http,
    endpoint: &str,
    config: &AuthorizeConfig,
    client: &ClientConfig,
    scope: &str,
) -> Result<Code, AuthorizeError> {
    let pkce = Pkce::new();
    let state = random_token(16);
    let url = authorization_url(endpoint, client, scope, &pkce, &state, &config.params)?;
    let code = match &config.mode {
        AuthorizeMode::Redirect => follow(http, &url, client, &state).await?,
        AuthorizeMode::Command(cmd) => run_command(cmd, &url, &state).await?,
    };
    Ok(Code {
        code,
        verifier: pkce.verifier,
    })
}

async fn follow(
    http: &Http,
    start: &str,
    client: &ClientConfig,
    state: &str,
) -> Result<Secret, AuthorizeError> {
    let mut jar = Jar::default();
    let mut url = start.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let parsed = reqwest::Url::parse(&url).map_err(|_| HttpError::BadUrl(strip_query(&url)))?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        let mut req = Request::get(url.clone());
        if let Some(c) = jar.header(&host) {
            req = req.header("cookie", c);
        }
        let r = http.send(&req).await?;
        for v in r.headers_named("set-cookie") {
            jar.store(&host, v);
        }
        let location = match (r.status, r.header("location")) {
            (300..=399, Some(l)) => l.to_string(),
            (status, _) => {
                return Err(AuthorizeError::Stuck {
                    url: strip_query(&url),
                    status,
                })
            }
        };
        let next = parsed
            .join(&location)
            .map_err(|_| HttpError::BadUrl(strip_query(&location)))?
            .to_string();
        if on_redirect_uri(&next, &client.redirect_uri) {
            return read_redirect(&next, state);
        }
        url = next;
    }
    Err(AuthorizeError::TooManyRedirects {
        last: strip_query(&url),
    })
}

async fn run_command(cmd: &[String], url: &str, state: &str) -> Result<Secret, AuthorizeError> {
    let (program, args) = cmd
        .split_first()
        .ok_or_else(|| AuthorizeError::Command("empty command".into()))?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .arg(url)
        .env("TOKENLIFE_AUTHORIZE_URL", url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AuthorizeError::Command(format!("failed to start `{program}`: {e}")))?;
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            AuthorizeError::Command(format!(
                "`{program}` did not finish within {} s",
                COMMAND_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| AuthorizeError::Command(format!("`{program}`: {e}")))?;
    if !out.status.success() {
        return Err(AuthorizeError::Command(format!(
            "`{program}` exited with {}",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .ok_or_else(|| AuthorizeError::Command(format!("`{program}` printed nothing")))?;
    if last.starts_with("http://") || last.starts_with("https://") {
        read_redirect(last, state)
    } else {
        Ok(Secret::new(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_s256_of_the_verifier() {
        let p = Pkce::new();
        assert_eq!(p.verifier.expose().len(), 43);
        assert_eq!(
            p.challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(p.verifier.expose().as_bytes()))
        );
    }

    #[test]
    fn the_redirect_is_read_and_state_checked() {
        let code = read_redirect("http://c/cb?code=abc&state=s1", "s1").unwrap();
        assert_eq!(code.expose(), "abc");
        assert!(matches!(
            read_redirect("http://c/cb?code=abc&state=s2", "s1"),
            Err(AuthorizeError::StateMismatch { .. })
        ));
        assert!(matches!(
            read_redirect("http://c/cb?error=access_denied&state=s1", "s1"),
            Err(AuthorizeError::Refused { .. })
        ));
        assert!(on_redirect_uri("http://c/cb?code=1", "http://c/cb"));
        assert!(!on_redirect_uri("http://c/cb2?code=1", "http://c/cb"));
    }

    #[test]
    fn the_jar_keeps_cookies_per_host() {
        let mut j = Jar::default();
        j.store("h", "sid=1; Path=/; HttpOnly");
        j.store("h", "x=2");
        assert_eq!(j.header("h").unwrap(), "sid=1; x=2");
        assert_eq!(j.header("other"), None);
    }
}
