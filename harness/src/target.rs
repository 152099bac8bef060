//! The target file: which server to test, its clients, how to authorize, its clock and the
//! policy it declares (design.md, "The harness").
//!
//! Key names are exactly design.md's; an unknown key is an error that names it. The
//! `[[clients]]` and `[policy]` tables are the model's configuration vocabulary, shared
//! with the reference server's config file and checked by the model; this file adds what
//! only a target needs (two clients, a policy its clients' registrations can meet). PKCE S256 is always used
//! (RFC 7636). Secrets come from the file or from `secret_env`, read here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokenlife_model::config::{check_clients, ClientEntry, FieldError, FileError, TargetFile};
use tokenlife_model::policy::Seconds;
use tokenlife_model::{ClientType, Policy, PolicyTable};

pub use tokenlife_model::config::AuthMethod;

use crate::secret::Secret;

/// One client of the target: the model's client registration, its scopes in file order.
pub type ClientConfig = tokenlife_model::config::Client;

/// How the harness gets an authorization code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeMode {
    /// GET the authorization endpoint and follow redirects by hand (cookie jar) to the
    /// first Location on the redirect URI.
    Redirect,
    /// Run a command with the authorization URL (last argument and
    /// `$TOKENLIFE_AUTHORIZE_URL`); it prints the code or the final redirect URL.
    Command(Vec<String>),
}

/// `[authorize]`.
#[derive(Clone, Debug)]
pub struct AuthorizeConfig {
    /// The mode.
    pub mode: AuthorizeMode,
    /// Extra query parameters.
    pub params: BTreeMap<String, String>,
}

/// `[clock]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockConfig {
    /// The server's clock is frozen and moves only by `POST {"advance_seconds": n}` to `url`.
    Endpoint {
        /// The clock endpoint.
        url: String,
        /// Tolerance around deadlines.
        skew: Seconds,
    },
    /// Wall time: the harness waits; around every deadline either outcome is accepted within `skew`.
    Real {
        /// Tolerance around deadlines.
        skew: Seconds,
    },
}

/// `[introspection]`: who calls RFC 7662 (default: the token's client).
#[derive(Clone, Debug)]
pub struct IntrospectionClient {
    /// The caller's `client_id`.
    pub client_id: String,
    /// Its secret (HTTP Basic).
    pub client_secret: Option<Secret>,
}

/// Endpoints given in the file (each overrides discovery).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    /// `authorization_endpoint`.
    pub authorization: Option<String>,
    /// `token_endpoint`.
    pub token: Option<String>,
    /// `revocation_endpoint`.
    pub revocation: Option<String>,
    /// `introspection_endpoint`.
    pub introspection: Option<String>,
}

/// A checked target file.
#[derive(Clone, Debug)]
pub struct Target {
    /// The issuer identifier (discovery starts from it).
    pub issuer: Option<String>,
    /// Endpoints given explicitly.
    pub endpoints: EndpointOverrides,
    /// The protected resource, if any.
    pub resource_url: Option<String>,
    /// An extra trust anchor (PEM) for HTTPS targets.
    pub ca_file: Option<PathBuf>,
    /// Requests per second at most.
    pub max_rps: Option<u32>,
    /// Hosts besides the issuer's that discovered endpoints may name (`allowed_hosts`):
    /// credentials go to a discovered endpoint only on the issuer's host or one of these.
    pub allowed_hosts: Vec<String>,
    /// The clients (two or more).
    pub clients: Vec<ClientConfig>,
    /// How to authorize.
    pub authorize: AuthorizeConfig,
    /// Who introspects.
    pub introspection: Option<IntrospectionClient>,
    /// The clock.
    pub clock: ClockConfig,
    /// The policy the target declares.
    pub policy: Policy,
    /// Whether the target file has a `[policy]` table: without one `policy` is the default
    /// one, which says nothing about the server (inference then compares no lifetime).
    pub policy_declared: bool,
}

impl Target {
    /// A name for reports: the issuer, or the token endpoint.
    pub fn name(&self) -> String {
        self.issuer
            .clone()
            .or_else(|| self.endpoints.token.clone())
            .unwrap_or_default()
    }

    /// The redactor every output of a run against this target goes through: every secret
    /// the file names (each client's, the introspection caller's, read from the file or
    /// from the environment) with its encoded and HTTP Basic forms. The one place a
    /// target's secrets are registered.
    pub fn redactor(&self) -> crate::secret::Redactor {
        let mut r = crate::secret::Redactor::default();
        for c in &self.clients {
            if let Some(secret) = &c.secret {
                r.add_client(&c.id, secret, format!("<secret of {}>", c.id));
            }
        }
        if let Some(IntrospectionClient {
            client_id,
            client_secret: Some(secret),
        }) = &self.introspection
        {
            r.add_client(client_id, secret, format!("<secret of {client_id}>"));
        }
        r
    }

    /// The first client of a type.
    pub fn client_of(&self, t: ClientType) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_type() == t)
    }

    /// Whether the target can be run as declared: its policy asks nothing of a client that
    /// the client's registration cannot give. The harness asks for `offline_access` only
    /// where a client is registered for it; under `offline_access_required` a client
    /// without it could get no refresh token at all, and every check would fail for a
    /// set-up the server cannot change, so that is a set-up error (loading a file and
    /// connecting both call this, so a target built in code is held to it too).
    pub fn check(&self) -> Result<(), TargetError> {
        if self.policy.offline_access_required {
            if let Some((i, c)) = self
                .clients
                .iter()
                .enumerate()
                .find(|(_, c)| !c.registers("offline_access"))
            {
                return Err(TargetError::invalid(
                    "policy.offline_access_required",
                    format!(
                        "the policy (profile `{}`) requires `offline_access` for a refresh \
                         token, but client `{}` (clients[{i}]) is not registered for it: add \
                         `offline_access` to its `scope`, or declare \
                         `offline_access_required = false`",
                        self.policy.profile, c.id
                    ),
                ));
            }
        }
        self.check_sender_constraints()
    }

    /// A target's clients must hold DPoP keys exactly where its policy's `sender_constraint`
    /// says their type uses DPoP, and be of a type the policy serves.
    fn check_sender_constraints(&self) -> Result<(), TargetError> {
        let p = &self.policy;
        for (i, c) in self.clients.iter().enumerate() {
            let t = c.client_type();
            let kind = match t {
                ClientType::Public => "public",
                ClientType::Confidential => "confidential",
            };
            if !p.client_types().any(|x| x == t) {
                return Err(TargetError::invalid(
                    "policy.public_clients",
                    format!(
                        "the policy (profile `{}`) serves no public clients, but client `{}`                          (clients[{i}]) is public: remove it, or declare `public_clients = true`",
                        p.profile, c.id
                    ),
                ));
            }
            let wanted = p.uses_dpop(t);
            if wanted != c.dpop {
                let (field, fix) = if wanted {
                    ("dpop = true", "holds no DPoP key")
                } else {
                    ("dpop = false", "holds a DPoP key")
                };
                return Err(TargetError::invalid(
                    format!("clients[{i}].dpop"),
                    format!(
                        "the policy (profile `{}`) has sender_constraint_{kind} = \"{}\", but                          client `{}` {fix}: set `{field}` on it, or change the policy's                          sender_constraint_{kind}",
                        p.profile,
                        p.sender_constraint(t),
                        c.id
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Why a target file cannot be used. Messages name the key.
pub type TargetError = FileError<TargetFile>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    server: FileServer,
    #[serde(default)]
    clients: Vec<ClientEntry>,
    authorize: Option<FileAuthorize>,
    introspection: Option<FileIntrospection>,
    clock: Option<FileClock>,
    policy: Option<PolicyTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    issuer: Option<String>,
    token_endpoint: Option<String>,
    authorization_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    resource_url: Option<String>,
    ca_file: Option<PathBuf>,
    max_rps: Option<u32>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuthorize {
    mode: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    command: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIntrospection {
    client_id: String,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClock {
    mode: String,
    url: Option<String>,
    skew: Option<Seconds>,
}

/// Reads and checks a target file; relative `ca_file` paths are taken from its folder.
pub fn load(path: &Path) -> Result<Target, TargetError> {
    let text = std::fs::read_to_string(path).map_err(|e| TargetError::read(path, &e))?;
    let mut t = parse(&text, |name| std::env::var(name).ok())?;
    if let (Some(ca), Some(dir)) = (&t.ca_file, path.parent()) {
        if ca.is_relative() {
            t.ca_file = Some(dir.join(ca));
        }
    }
    Ok(t)
}

/// A TOML error with its line, naming the key for an unknown field.
pub(crate) fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

/// Parses target text; `env` looks up `secret_env` variables.
pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Target, TargetError> {
    let file: FileTarget =
        toml::from_str(text).map_err(|e| TargetError::Syntax(toml_message(text, &e)))?;
    let s = file.server;
    for (field, v) in [
        ("server.issuer", &s.issuer),
        ("server.token_endpoint", &s.token_endpoint),
        ("server.authorization_endpoint", &s.authorization_endpoint),
        ("server.revocation_endpoint", &s.revocation_endpoint),
        ("server.introspection_endpoint", &s.introspection_endpoint),
        ("server.resource_url", &s.resource_url),
    ] {
        if let Some(url) = v {
            check_url(field, url)?;
        }
    }
    if let Some(issuer) = &s.issuer {
        if issuer.contains('?') || issuer.contains('#') {
            return Err(TargetError::invalid(
                "server.issuer",
                "must have no query or fragment (RFC 8414 §2)",
            ));
        }
    } else if s.token_endpoint.is_none() || s.authorization_endpoint.is_none() {
        return Err(TargetError::invalid(
            "server.issuer",
            "give `issuer` (for discovery) or both `token_endpoint` and `authorization_endpoint`",
        ));
    }
    for (i, host) in s.allowed_hosts.iter().enumerate() {
        check_host(&format!("server.allowed_hosts[{i}]"), host)?;
    }
    if s.max_rps == Some(0) {
        return Err(TargetError::invalid("server.max_rps", "must be at least 1"));
    }
    if file.clients.len() < 2 {
        return Err(TargetError::invalid(
            "clients",
            "declare two or more [[clients]]: the binding tests need a second client",
        ));
    }
    // A client with no resource scope (only `openid`, `offline_access`: the userinfo
    // endpoint as its protected resource) is a target too; the run leaves out what needs
    // a resource scope and says so.
    let clients = check_clients(file.clients, &env, parses_as_http_url)?;
    let authorize = match file.authorize {
        None => AuthorizeConfig {
            mode: AuthorizeMode::Redirect,
            params: BTreeMap::new(),
        },
        Some(a) => {
            let mode = match (a.mode.as_deref().unwrap_or("redirect"), a.command) {
                ("redirect", None) => AuthorizeMode::Redirect,
                ("redirect", Some(_)) => {
                    return Err(TargetError::invalid(
                        "authorize.command",
                        "only with mode = \"command\"",
                    ))
                }
                ("command", Some(cmd)) if !cmd.is_empty() && !cmd[0].is_empty() => {
                    AuthorizeMode::Command(cmd)
                }
                ("command", _) => {
                    return Err(TargetError::invalid(
                        "authorize.command",
                        "mode = \"command\" needs command = [\"program\", \"args\"...]",
                    ))
                }
                (other, _) => {
                    return Err(TargetError::invalid(
                        "authorize.mode",
                        format!("`{other}` is not a mode: use \"redirect\" or \"command\""),
                    ))
                }
            };
            AuthorizeConfig {
                mode,
                params: a.params,
            }
        }
    };
    let introspection = match file.introspection {
        None => None,
        Some(i) => {
            let client_secret = match (i.client_secret, i.client_secret_env) {
                (Some(_), Some(_)) => {
                    return Err(TargetError::invalid(
                        "introspection.client_secret",
                        "give `client_secret` or `client_secret_env`, not both",
                    ))
                }
                (Some(v), None) => Some(Secret::new(v)),
                (None, Some(var)) => Some(Secret::new(env(&var).ok_or_else(|| {
                    TargetError::invalid(
                        "introspection.client_secret_env",
                        format!("the environment variable `{var}` is not set"),
                    )
                })?)),
                (None, None) => None,
            };
            Some(IntrospectionClient {
                client_id: i.client_id,
                client_secret,
            })
        }
    };
    let clock = match file.clock {
        None => ClockConfig::Real { skew: Seconds(1) },
        Some(c) => match c.mode.as_str() {
            "endpoint" => {
                let url = c.url.ok_or_else(|| {
                    TargetError::invalid("clock.url", "mode = \"endpoint\" needs the clock's url")
                })?;
                check_url("clock.url", &url)?;
                ClockConfig::Endpoint {
                    url,
                    skew: c.skew.unwrap_or(Seconds(0)),
                }
            }
            "real" => {
                if c.url.is_some() {
                    return Err(TargetError::invalid(
                        "clock.url",
                        "only with mode = \"endpoint\"",
                    ));
                }
                ClockConfig::Real {
                    skew: c.skew.unwrap_or(Seconds(1)),
                }
            }
            other => {
                return Err(TargetError::invalid(
                    "clock.mode",
                    format!("`{other}` is not a clock mode: use \"endpoint\" or \"real\""),
                ))
            }
        },
    };
    let policy_declared = file.policy.is_some();
    let policy = match file.policy {
        None => Policy::default(),
        Some(table) => table
            .resolve(text)
            .map_err(|e| FieldError::from_policy("policy", e))?,
    };
    let target = Target {
        issuer: s.issuer.map(|i| i.trim_end_matches('/').to_string()),
        endpoints: EndpointOverrides {
            authorization: s.authorization_endpoint,
            token: s.token_endpoint,
            revocation: s.revocation_endpoint,
            introspection: s.introspection_endpoint,
        },
        resource_url: s.resource_url,
        ca_file: s.ca_file,
        max_rps: s.max_rps,
        allowed_hosts: s
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        clients,
        authorize,
        introspection,
        clock,
        policy,
        policy_declared,
    };
    target.check()?;
    Ok(target)
}

/// The target description of a tokenlife reference server at `url` (its discovery, its
/// `/api/resource`, its test clock at `/test/clock`), with the given clients and policy.
/// The CLI's embedded default and the tests use it.
pub fn reference_target(url: &str, clients: Vec<ClientConfig>, policy: Policy) -> Target {
    let url = url.trim_end_matches('/');
    // The reference server's clients hold DPoP keys exactly where its policy says so.
    let clients = clients
        .into_iter()
        .map(|c| ClientConfig {
            dpop: policy.uses_dpop(c.client_type()),
            ..c
        })
        .filter(|c| policy.client_types().any(|t| t == c.client_type()))
        .collect();
    Target {
        issuer: Some(url.to_string()),
        endpoints: EndpointOverrides::default(),
        resource_url: Some(format!("{url}/api/resource")),
        ca_file: None,
        max_rps: None,
        allowed_hosts: Vec::new(),
        clients,
        authorize: AuthorizeConfig {
            mode: AuthorizeMode::Redirect,
            params: BTreeMap::new(),
        },
        introspection: None,
        clock: ClockConfig::Endpoint {
            url: format!("{url}/test/clock"),
            skew: Seconds(0),
        },
        policy,
        policy_declared: true,
    }
}

/// Whether a full URL parser reads `url` as an absolute http(s) URL with a host.
fn parses_as_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// An `allowed_hosts` entry: a bare host name or IP address (no scheme, port or path),
/// read by a URL parser as the host it names.
fn check_host(field: &str, host: &str) -> Result<(), FieldError> {
    let bare = !host.is_empty()
        && !host.contains(['/', '?', '#', '@', ' ', ':'])
        && reqwest::Url::parse(&format!("http://{host}/"))
            .is_ok_and(|u| u.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host)));
    if bare {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "`{host}` is not a host name: give the host alone, as in \"auth.example.com\" \
                 (no scheme, port or path)"
            ),
        ))
    }
}

fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    tokenlife_model::config::check_url(field, url, parses_as_http_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const DESIGN: &str = r#"
[server]
issuer = "http://127.0.0.1:9000"
resource_url = "http://127.0.0.1:9000/api/resource"
max_rps = 50

[[clients]]
id = "app-a"
secret = "s3cret"
auth = "client_secret_basic"
redirect_uri = "http://127.0.0.1:9000/cb"
scope = "openid offline_access read write"

[[clients]]
id = "spa"
auth = "none"
redirect_uri = "http://127.0.0.1:9000/cb"
scope = "openid offline_access read write"

[authorize]
mode = "redirect"
params = { prompt = "consent" }

[introspection]
client_id = "resource-server"
client_secret = "rs"

[clock]
mode = "endpoint"
url = "http://127.0.0.1:9000/test/clock"

[policy]
profile = "bcp"
access_ttl = "60s"
refresh_ttl = "600s"
"#;

    fn err(text: &str) -> TargetError {
        parse(text, |_| None).unwrap_err()
    }

    #[test]
    fn clients_must_hold_dpop_keys_exactly_where_the_policy_says() {
        let bcp_dpop = DESIGN.replace("profile = \"bcp\"", "profile = \"bcp-dpop\"");
        // The public client's type uses DPoP under bcp-dpop: it must declare its key.
        let e = err(&bcp_dpop).to_string();
        assert!(e.contains("clients[1].dpop"), "{e}");
        assert!(e.contains("sender_constraint_public = \"dpop\""), "{e}");
        let keyed = bcp_dpop.replace(
            "id = \"spa\"\nauth = \"none\"",
            "id = \"spa\"\nauth = \"none\"\ndpop = true",
        );
        let t = parse(&keyed, |_| None).unwrap();
        assert!(t.clients[1].dpop && !t.clients[0].dpop);
        // A key where the policy has none.
        let stray = DESIGN.replace("id = \"app-a\"\n", "id = \"app-a\"\ndpop = true\n");
        let e = err(&stray).to_string();
        assert!(e.contains("clients[0].dpop"), "{e}");
        assert!(e.contains("holds a DPoP key"), "{e}");
        // fapi2 serves no public client.
        let fapi = DESIGN
            .replace("profile = \"bcp\"", "profile = \"fapi2\"")
            .replace("id = \"app-a\"\n", "id = \"app-a\"\ndpop = true\n");
        let e = err(&fapi).to_string();
        assert!(e.contains("public_clients"), "{e}");
        assert!(e.contains("`spa`"), "{e}");
    }

    #[test]
    fn the_design_example_loads() {
        let t = parse(DESIGN, |_| None).unwrap();
        assert_eq!(t.clients.len(), 2);
        assert_eq!(t.clients[1].client_type(), ClientType::Public);
        assert_eq!(t.clients[0].resource_scopes(), vec!["read", "write"]);
        assert_eq!(t.policy.access_ttl, Seconds(60));
        assert_eq!(t.authorize.params["prompt"], "consent");
        assert!(matches!(
            t.clock,
            ClockConfig::Endpoint {
                skew: Seconds(0),
                ..
            }
        ));
        assert!(!format!("{t:?}").contains("s3cret"));
        assert!(t.policy_declared);
        // Without `[policy]` the default policy stands in, declared by nobody.
        let bare = DESIGN[..DESIGN.find("[policy]").unwrap_or(DESIGN.len())].to_string();
        let t = parse(&bare, |_| None).unwrap();
        assert!(!t.policy_declared);
        assert_eq!(t.policy, Policy::default());
    }

    #[test]
    fn allowed_hosts_load_lower_cased_and_every_secret_is_redacted() {
        let text = DESIGN.replace(
            "max_rps = 50",
            "max_rps = 50\nallowed_hosts = [\"Tokens.Example\", \"10.0.0.2\"]",
        );
        let t = parse(&text, |_| None).unwrap();
        assert_eq!(t.allowed_hosts, vec!["tokens.example", "10.0.0.2"]);
        let r = t.redactor();
        // The introspection caller's secret and the client's, raw and in HTTP Basic.
        assert_eq!(r.apply("x rs y"), "x rs y", "too short to redact safely");
        let long = DESIGN.replace("client_secret = \"rs\"", "client_secret = \"rs-secret\"");
        let r = parse(&long, |_| None).unwrap().redactor();
        assert_eq!(
            r.apply("rs-secret s3cret"),
            "<secret of resource-server> <secret of app-a>"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(&DESIGN.replace("max_rps = 50", "max_rps = 50\ncolour = 1"));
        assert!(e.to_string().contains("colour"), "{e}");
        let e = err(&DESIGN.replace("access_ttl", "acess_ttl"));
        assert!(e.to_string().contains("acess_ttl"), "{e}");
    }

    #[test]
    fn secret_env_is_read() {
        let text = DESIGN.replace("secret = \"s3cret\"", "secret_env = \"APP_A\"");
        let t = parse(&text, |n| (n == "APP_A").then(|| "from-env".into())).unwrap();
        assert_eq!(t.clients[0].secret.as_ref().unwrap().expose(), "from-env");
        assert!(
            matches!(err(&text), TargetError::Invalid { field, .. } if field == "clients[0].secret_env")
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let field = |text: &str| match err(text) {
            TargetError::Invalid { field, .. } => field,
            other => other.to_string(),
        };
        let cases = [
            (
                "auth = \"none\"",
                "auth = \"none\"\nsecret = \"x\"",
                "clients[1].secret",
            ),
            ("mode = \"endpoint\"", "mode = \"sundial\"", "clock.mode"),
            ("profile = \"bcp\"", "profile = \"nope\"", "policy.profile"),
            ("max_rps = 50", "max_rps = 0", "server.max_rps"),
            (
                "max_rps = 50",
                "max_rps = 50\nallowed_hosts = [\"ok.example\", \"https://as.example/\"]",
                "server.allowed_hosts[1]",
            ),
            (
                "max_rps = 50",
                "max_rps = 50\nallowed_hosts = [\"as.example:8443\"]",
                "server.allowed_hosts[0]",
            ),
            (
                "max_rps = 50",
                "max_rps = 50\nallowed_hosts = [\"\"]",
                "server.allowed_hosts[0]",
            ),
            ("http://127.0.0.1:9000/cb", "/cb", "clients[0].redirect_uri"),
        ];
        for (from, to, want) in cases {
            assert_eq!(field(&DESIGN.replacen(from, to, 1)), want, "{to}");
        }
        // `strict` requires offline_access; the public client is not registered for it.
        let strict = DESIGN
            .replace("profile = \"bcp\"", "profile = \"strict\"")
            .replace(
                "scope = \"openid offline_access read write\"\n\n[authorize]",
                "scope = \"openid read write\"\n\n[authorize]",
            );
        let e = err(&strict);
        assert_eq!(field(&strict), "policy.offline_access_required");
        assert!(e.to_string().contains("`spa`"), "{e}");
        let relaxed = strict.replace(
            "refresh_ttl = \"600s\"",
            "refresh_ttl = \"600s\"\noffline_access_required = false",
        );
        assert!(parse(&relaxed, |_| None).is_ok());
        // A client with no resource scope is a target too.
        let bare = DESIGN.replace("openid offline_access read write", "openid offline_access");
        let t = parse(&bare, |_| None).unwrap();
        assert!(t.clients[0].resource_scopes().is_empty());
        let one_client = DESIGN.replacen("[[clients]]\nid = \"spa\"", "[extra]\nid = \"spa\"", 1);
        assert!(err(&one_client).to_string().contains("extra"));
    }
}
