//! The configuration vocabulary shared by the reference server's config file and the
//! harness's target file: a client registration, its authentication method, a redacting
//! [`Secret`], the one check of a `[[clients]]` entry, and the errors both files report
//! ([`FileError`], which only names the file differently).
//!
//! Both files carry the same `[[clients]]` table (design.md, "The harness" and "The
//! reference server"), so its reading lives here once; each file adds the rules only it
//! has (the server's id syntax, the harness's two clients). A client's
//! `scope` is what it is registered for (RFC 6749 §3.3), `auth` its token endpoint
//! authentication method (RFC 6749 §2.3.1, RFC 7591 `token_endpoint_auth_method` names),
//! its `redirect_uri` an absolute URI without a fragment (RFC 6749 §3.1.2).
//!
//! No I/O here either: a `secret_env` variable is looked up through the function the
//! caller passes, so the environment is read at the edge (target or config loading).

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::policy::{ClientType, PolicyError};

/// A secret value: a token, a code, a PKCE verifier or a client secret. `Debug` and
/// `Display` print `<redacted>`, so a secret never reaches a log line or a report by
/// accident; only [`Secret::expose`] gives the value, for the few places that must send,
/// hash or compare it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How a client authenticates at the token, revocation and introspection endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A public client: `client_id` only, PKCE required (RFC 7636).
    None,
}

impl AuthMethod {
    /// The registered name (RFC 7591 §2).
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

/// A registered client. `S` is how its scope is held: the harness keeps the file's order
/// (`Vec<String>`, the default), because the first two resource scopes stand for the
/// model's `read` and `write`; the server keeps a set it can compare requests against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client<S = Vec<String>> {
    /// `client_id`.
    pub id: String,
    /// The secret of a confidential client.
    pub secret: Option<Secret>,
    /// Its authentication method.
    pub auth: AuthMethod,
    /// Its one registered redirect URI (matched exactly).
    pub redirect_uri: String,
    /// The scopes it is registered for.
    pub scope: S,
    /// It holds a DPoP key and proves possession of it on every token request and
    /// resource call (RFC 9449); the policy's `sender_constraint` says what the server
    /// must then do.
    pub dpop: bool,
}

impl<S> Client<S> {
    /// Confidential or public (RFC 6749 §2.1).
    pub fn client_type(&self) -> ClientType {
        match self.auth {
            AuthMethod::None => ClientType::Public,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                ClientType::Confidential
            }
        }
    }

    /// The same client with its scope held as `scope`.
    pub fn with_scope<T>(self, scope: T) -> Client<T> {
        Client {
            id: self.id,
            secret: self.secret,
            auth: self.auth,
            redirect_uri: self.redirect_uri,
            scope,
            dpop: self.dpop,
        }
    }
}

impl Client {
    /// Whether the client is registered for the scope `name` (`openid`, `offline_access`):
    /// a server refuses an authorization that asks for more than the registration
    /// (`invalid_scope`, RFC 6749 §3.3), so nothing may be asked for that is not here.
    pub fn registers(&self, name: &str) -> bool {
        self.scope.iter().any(|s| s == name)
    }

    /// The two resource scopes the model's `read` and `write` bits stand for: the first two
    /// registered scopes other than `openid` and `offline_access`.
    pub fn resource_scopes(&self) -> Vec<String> {
        self.scope
            .iter()
            .filter(|s| *s != "openid" && *s != "offline_access")
            .take(2)
            .cloned()
            .collect()
    }
}

/// One `[[clients]]` entry as written. Unknown keys are errors that name them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// `client_id`.
    pub id: String,
    /// The secret, written in the file.
    pub secret: Option<String>,
    /// The environment variable that holds the secret.
    pub secret_env: Option<String>,
    /// The authentication method; by default `client_secret_basic` with a secret and
    /// `none` without.
    pub auth: Option<AuthMethod>,
    /// The registered redirect URI.
    pub redirect_uri: String,
    /// The registered scopes, space-separated.
    pub scope: String,
    /// The client holds a DPoP key (RFC 9449).
    #[serde(default)]
    pub dpop: bool,
}

/// A value of a configuration file that cannot be used: the field, as a path
/// (`clients[0].auth`, `policy.access_ttl`), and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {reason}")]
pub struct FieldError {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A policy error of the table `table` (`policy`), naming the knob under it.
    pub fn from_policy(table: &str, e: PolicyError) -> FieldError {
        match e {
            PolicyError::Invalid { field, reason } => {
                FieldError::new(format!("{table}.{field}"), reason)
            }
            PolicyError::UnknownProfile(_) => {
                FieldError::new(format!("{table}.profile"), e.to_string())
            }
            PolicyError::Syntax(m) => FieldError::new(table, m),
        }
    }
}

/// Names a kind of configuration file in its errors' messages.
pub trait FileKind {
    /// The word for the file: `target`, `config`.
    const NAME: &'static str;
}

/// Why a configuration file (a target file, a server config) cannot be used; `K` names
/// the file in the message. Messages name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError<K: FileKind> {
    /// The file cannot be read.
    #[error("failed to read {kind} file `{path}`: {reason}", kind = K::NAME)]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
        /// Which kind of file.
        file: PhantomData<K>,
    },
    /// Not TOML, an unknown key or a mistyped value.
    #[error("failed to parse the {kind} file: {0}", kind = K::NAME)]
    Syntax(String),
    /// A value is wrong.
    #[error("{kind} field `{field}`: {reason}", kind = K::NAME)]
    Invalid {
        /// The field, as a path (`clients[0].auth`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The harness's target file (design.md, "The harness").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetFile;

impl FileKind for TargetFile {
    const NAME: &'static str = "target";
}

/// The reference server's config file (design.md, "The reference server").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigFile;

impl FileKind for ConfigFile {
    const NAME: &'static str = "config";
}

impl<K: FileKind> FileError<K> {
    /// The file at `path` could not be read (the caller read it).
    pub fn read(path: &std::path::Path, e: &std::io::Error) -> FileError<K> {
        FileError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
            file: PhantomData,
        }
    }

    /// `field` has a wrong value.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> FileError<K> {
        FileError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl<K: FileKind> From<FieldError> for FileError<K> {
    fn from(e: FieldError) -> FileError<K> {
        FileError::invalid(e.field, e.reason)
    }
}

/// Checks that `url` passes `url_ok` ([`is_http_url`] or a stricter parser), as an error
/// that names `field`.
pub fn check_url(field: &str, url: &str, url_ok: impl Fn(&str) -> bool) -> Result<(), FieldError> {
    if url_ok(url) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("`{url}` is not an absolute http(s) URL"),
        ))
    }
}

/// Checks the `[[clients]]` entries in file order; `env` looks up `secret_env` variables
/// and `url_ok` tells an absolute http(s) URL ([`is_http_url`] or a stricter parser).
/// The rules every client has: a non-empty id declared once, a secret exactly when the
/// method needs one, an absolute http(s) redirect URI without a fragment, and at least one
/// scope token of RFC 6749 §3.3's characters.
pub fn check_clients(
    entries: Vec<ClientEntry>,
    env: impl Fn(&str) -> Option<String>,
    url_ok: impl Fn(&str) -> bool,
) -> Result<Vec<Client>, FieldError> {
    let mut clients: Vec<Client> = Vec::with_capacity(entries.len());
    for (i, c) in entries.into_iter().enumerate() {
        let client = c.check(i, &env, &url_ok)?;
        if clients.iter().any(|o| o.id == client.id) {
            let reason = format!("`{}` is declared twice", client.id);
            return Err(FieldError::new(format!("clients[{i}].id"), reason));
        }
        clients.push(client);
    }
    Ok(clients)
}

impl ClientEntry {
    /// Checks entry `i` on its own (everything but uniqueness).
    fn check(
        self,
        i: usize,
        env: impl Fn(&str) -> Option<String>,
        url_ok: impl Fn(&str) -> bool,
    ) -> Result<Client, FieldError> {
        let bad = |f: &str, reason: String| FieldError::new(format!("clients[{i}].{f}"), reason);
        if self.id.trim().is_empty() {
            return Err(bad("id", "must not be empty".into()));
        }
        let secret = match (self.secret, self.secret_env) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "secret",
                    "give `secret` or `secret_env`, not both".into(),
                ))
            }
            (Some(v), None) => Some(Secret::new(v)),
            (None, Some(var)) => match env(&var) {
                Some(v) => Some(Secret::new(v)),
                None => {
                    return Err(bad(
                        "secret_env",
                        format!("the environment variable `{var}` is not set"),
                    ))
                }
            },
            (None, None) => None,
        };
        let auth = self.auth.unwrap_or(if secret.is_some() {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::None
        });
        match (auth, &secret) {
            (AuthMethod::None, Some(_)) => {
                return Err(bad(
                    "secret",
                    "a client with auth = \"none\" is public and has no secret".into(),
                ))
            }
            (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, None) => {
                return Err(bad(
                    "secret",
                    format!(
                        "auth = \"{}\" needs `secret` or `secret_env`",
                        auth.as_str()
                    ),
                ))
            }
            (_, Some(v)) if v.expose().is_empty() => {
                return Err(bad("secret", "must not be empty".into()))
            }
            _ => {}
        }
        check_url(
            &format!("clients[{i}].redirect_uri"),
            &self.redirect_uri,
            url_ok,
        )?;
        if self.redirect_uri.contains('#') {
            return Err(bad(
                "redirect_uri",
                "must not have a fragment (RFC 6749 §3.1.2)".into(),
            ));
        }
        let scope: Vec<String> = self.scope.split_whitespace().map(String::from).collect();
        if scope.is_empty() {
            return Err(bad(
                "scope",
                "list the scopes the client is registered for".into(),
            ));
        }
        if !scope.iter().all(|t| is_scope_token(t)) {
            return Err(bad(
                "scope",
                "must be space-separated scope tokens (RFC 6749 §3.3)".into(),
            ));
        }
        Ok(Client {
            id: self.id,
            secret,
            auth,
            redirect_uri: self.redirect_uri,
            scope,
            dpop: self.dpop,
        })
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Whether `url` is an absolute http(s) URL with an authority and no whitespace: the
/// shape every URL of both files must have. The harness, which links a full URL parser,
/// passes a stricter test to [`check_clients`].
pub fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| {
        !r.is_empty() && !r.starts_with('/') && !url.chars().any(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, secret: Option<&str>, auth: Option<AuthMethod>) -> ClientEntry {
        ClientEntry {
            id: id.into(),
            secret: secret.map(String::from),
            secret_env: None,
            auth,
            redirect_uri: "http://127.0.0.1:9000/cb".into(),
            scope: "openid offline_access read write".into(),
            dpop: false,
        }
    }

    fn field(entries: Vec<ClientEntry>) -> String {
        check_clients(entries, |_| None, is_http_url)
            .unwrap_err()
            .field
    }

    #[test]
    fn secrets_print_redacted() {
        let s = Secret::new("tok-123456");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "tok-123456");
        let c = check_clients(
            vec![entry("a", Some("s3cret"), None)],
            |_| None,
            is_http_url,
        );
        let c = c.unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn the_method_defaults_from_the_secret() {
        let c = check_clients(
            vec![entry("a", Some("s"), None), entry("b", None, None)],
            |_| None,
            is_http_url,
        )
        .unwrap();
        assert_eq!(c[0].auth, AuthMethod::ClientSecretBasic);
        assert_eq!(c[1].client_type(), ClientType::Public);
        assert_eq!(c[0].resource_scopes(), vec!["read", "write"]);
        assert!(c[0].registers("offline_access") && !c[0].registers("admin"));
    }

    #[test]
    fn secret_env_is_looked_up_through_the_caller() {
        let mut e = entry("a", None, Some(AuthMethod::ClientSecretPost));
        e.secret_env = Some("A".into());
        let env = |n: &str| (n == "A").then(|| "from-env".to_string());
        let c = check_clients(vec![e], env, is_http_url).unwrap();
        assert_eq!(c[0].secret.as_ref().map(Secret::expose), Some("from-env"));
    }

    #[test]
    fn file_errors_name_their_file() {
        let e =
            FileError::<TargetFile>::from(FieldError::new("clients[0].id", "must not be empty"));
        assert_eq!(
            e.to_string(),
            "target field `clients[0].id`: must not be empty"
        );
        let e = FileError::<ConfigFile>::Syntax("line 2: oops".into());
        assert_eq!(
            e.to_string(),
            "failed to parse the config file: line 2: oops"
        );
    }

    #[test]
    fn bad_entries_name_the_field() {
        assert_eq!(field(vec![entry(" ", None, None)]), "clients[0].id");
        assert_eq!(
            field(vec![entry("a", None, None), entry("a", None, None)]),
            "clients[1].id"
        );
        assert_eq!(
            field(vec![entry("a", Some("x"), Some(AuthMethod::None))]),
            "clients[0].secret"
        );
        assert_eq!(
            field(vec![entry("a", None, Some(AuthMethod::ClientSecretBasic))]),
            "clients[0].secret"
        );
        let mut e = entry("a", None, None);
        e.redirect_uri = "http://127.0.0.1/cb#x".into();
        assert_eq!(field(vec![e]), "clients[0].redirect_uri");
        let mut e = entry("a", None, None);
        e.scope = "read \"write\"".into();
        assert_eq!(field(vec![e]), "clients[0].scope");
    }
}
