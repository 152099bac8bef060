//! Configuration: the clients, users and policy of one server, from a TOML file or built in.
//!
//! The file uses the `[[clients]]` and `[policy]` tables of a tokenlife target file
//! (design.md, "The reference server"), read and checked through the model's configuration
//! vocabulary, so both files mean the same by them; this file adds the server's own rules
//! (its client id syntax, a scope set per client) and reads `secret_env` variables.
//! Unknown keys are errors that name them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use tokenlife_model::config::{
    check_clients, check_url, is_http_url, ClientEntry, ConfigFile, FieldError, FileError,
};
use tokenlife_model::{Policy, PolicyTable};

pub use tokenlife_model::config::AuthMethod;

use crate::bind::Exposure;
use crate::clock::Clock;
use crate::conn::Limits;
use crate::defects::Defects;
use crate::scope::Scope;
use crate::secret::Secret;

/// A registered client: the model's client registration, its scope held as a set that
/// requests are compared against.
pub type Client = tokenlife_model::config::Client<Scope>;

/// The demo confidential client's id (no config file).
pub const DEMO_CONFIDENTIAL_ID: &str = "demo-confidential";
/// The demo confidential client's secret. Documented, so only for local trials.
pub const DEMO_CONFIDENTIAL_SECRET: &str = "demo-secret";
/// The demo public client's id.
pub const DEMO_PUBLIC_ID: &str = "demo-public";
/// The demo user, approved automatically; also the default user of a config without users.
pub const DEMO_USER: &str = "demo-user";
/// The scopes of the demo clients.
pub const DEMO_SCOPE: &str = "openid offline_access read write";

/// The demo clients, with redirect URIs under `base` (the server's own `/cb` page).
pub fn demo_clients(base: &str) -> Vec<Client> {
    let base = base.trim_end_matches('/');
    let scope = Scope::parse(DEMO_SCOPE).unwrap_or_default();
    vec![
        Client {
            id: DEMO_CONFIDENTIAL_ID.into(),
            secret: Some(Secret::new(DEMO_CONFIDENTIAL_SECRET)),
            auth: AuthMethod::ClientSecretBasic,
            redirect_uri: format!("{base}/cb"),
            scope: scope.clone(),
            dpop: false,
        },
        Client {
            id: DEMO_PUBLIC_ID.into(),
            secret: None,
            auth: AuthMethod::None,
            redirect_uri: format!("{base}/cb"),
            scope,
            dpop: false,
        },
    ]
}

/// Everything one server needs to start.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// `sqlite:PATH`, `sqlite::memory:` or `postgres://…`.
    pub database: String,
    /// The issuer identifier; defaults to `http://` + the bound address.
    pub issuer: Option<String>,
    /// The registered clients.
    pub clients: Vec<Client>,
    /// The users that are approved automatically; the first is the default for `/authorize`
    /// without `login_hint`. Empty: the one demo user.
    pub users: Vec<String>,
    /// The refresh-token policy.
    pub policy: Policy,
    /// Freeze the clock and expose `POST /test/clock` (loopback only).
    pub test_clock: bool,
    /// Injected defects (none for a correct server).
    pub defects: Defects,
    /// A clock to use instead of the wall clock or the frozen test clock (tests).
    pub clock: Option<Arc<dyn Clock>>,
    /// Whether the configuration is the built-in demo (then it is printed at start).
    pub demo: bool,
    /// Whether an address other than loopback may be bound (`--allow-remote`); never with
    /// the demo clients or the test clock ([`crate::bind`]).
    pub allow_remote: bool,
    /// Connection deadlines and the connection cap.
    pub limits: Limits,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("database", &redact_url(&self.database))
            .field("issuer", &self.issuer)
            .field("clients", &self.clients)
            .field("users", &self.users)
            .field("policy", &self.policy.profile)
            .field("test_clock", &self.test_clock)
            .field("defects", &self.defects)
            .field("allow_remote", &self.allow_remote)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!(
                    "{}{}:<redacted>{}",
                    &url[..s + 3],
                    &userinfo[..c],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl ServerConfig {
    /// The demo server: the demo clients and user, `bcp`, an in-memory store.
    pub fn demo(bind: SocketAddr) -> ServerConfig {
        ServerConfig {
            bind,
            database: "sqlite::memory:".into(),
            issuer: None,
            clients: demo_clients(&format!("http://{bind}")),
            users: Vec::new(),
            policy: Policy::default(),
            test_clock: false,
            defects: Defects::none(),
            clock: None,
            demo: true,
            allow_remote: false,
            limits: Limits::DEFAULT,
        }
    }

    /// What decides whether its address may be other than loopback.
    pub fn exposure(&self) -> Exposure {
        Exposure {
            allow_remote: self.allow_remote,
            demo: self.demo,
            test_clock: self.test_clock,
        }
    }

    /// The users, with the demo user when none is configured.
    pub fn effective_users(&self) -> Vec<String> {
        if self.users.is_empty() {
            vec![DEMO_USER.to_string()]
        } else {
            self.users.clone()
        }
    }
}

/// A config file that could not be used; the message names the field.
pub type ConfigError = FileError<ConfigFile>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    issuer: Option<String>,
    #[serde(default)]
    clients: Vec<ClientEntry>,
    #[serde(default)]
    users: Vec<FileUser>,
    policy: Option<PolicyTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    name: String,
}

/// What a config file sets.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// `issuer`, if given.
    pub issuer: Option<String>,
    /// The clients (at least one).
    pub clients: Vec<Client>,
    /// The users (possibly none).
    pub users: Vec<String>,
    /// The `[policy]` table resolved, if given.
    pub policy: Option<Policy>,
}

/// Reads and checks a config file.
pub fn load_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::read(path, &e))?;
    parse(&text, |name| std::env::var(name).ok())
}

/// Parses config text; `env` looks up `secret_env` variables.
pub fn parse(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<FileSettings, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    if let Some(issuer) = &file.issuer {
        check_url("issuer", issuer, is_http_url)?;
        if issuer.contains('?') {
            return Err(ConfigError::invalid(
                "issuer",
                "must not have a query (RFC 8414 §2)",
            ));
        }
    }
    if file.clients.is_empty() {
        return Err(ConfigError::invalid(
            "clients",
            "declare at least one [[clients]] table",
        ));
    }
    // The server's own rule first: a client id goes into HTTP Basic and the store's keys.
    for (i, c) in file.clients.iter().enumerate() {
        if c.id.trim().is_empty() || c.id.chars().any(|ch| ch.is_control() || ch == ':') {
            return Err(ConfigError::invalid(
                format!("clients[{i}].id"),
                "must be non-empty, without ':' or control characters",
            ));
        }
    }
    let mut clients = Vec::with_capacity(file.clients.len());
    for (i, c) in check_clients(file.clients, env, is_http_url)?
        .into_iter()
        .enumerate()
    {
        // The model has checked the tokens, so this cannot fail; an error beats a panic.
        let scope = Scope::parse(&c.scope.join(" ")).ok_or_else(|| {
            ConfigError::invalid(
                format!("clients[{i}].scope"),
                "must be space-separated scope tokens (RFC 6749 §3.3)",
            )
        })?;
        clients.push(c.with_scope(scope));
    }
    let mut users = Vec::new();
    for (i, u) in file.users.into_iter().enumerate() {
        if u.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("users[{i}].name"),
                "must not be empty",
            ));
        }
        if users.contains(&u.name) {
            return Err(ConfigError::invalid(
                format!("users[{i}].name"),
                format!("`{}` is declared twice", u.name),
            ));
        }
        users.push(u.name);
    }
    let policy = file
        .policy
        .map(|table| table.resolve(text))
        .transpose()
        .map_err(|e| FieldError::from_policy("policy", e))?;
    Ok(FileSettings {
        issuer: file.issuer,
        clients,
        users,
        policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife_model::ClientType;

    const GOOD: &str = r#"
issuer = "http://127.0.0.1:9000"
[[clients]]
id = "app-a"
secret = "secret-a"
auth = "client_secret_basic"
redirect_uri = "http://127.0.0.1:9000/cb"
scope = "openid offline_access read write"
[[clients]]
id = "app-b"
secret_env = "APP_B_SECRET"
auth = "client_secret_post"
redirect_uri = "http://127.0.0.1:9000/cb"
scope = "read"
[[clients]]
id = "spa"
auth = "none"
redirect_uri = "http://127.0.0.1:9000/cb"
scope = "offline_access read"
[[users]]
name = "alice"
[policy]
profile = "strict"
access_ttl = "60s"
refresh_ttl = "600s"
"#;

    fn env(name: &str) -> Option<String> {
        (name == "APP_B_SECRET").then(|| "secret-b".to_string())
    }

    #[test]
    fn the_design_example_loads() {
        let s = parse(GOOD, env).unwrap();
        assert_eq!(s.clients.len(), 3);
        assert_eq!(s.clients[1].secret.as_ref().unwrap().expose(), "secret-b");
        assert_eq!(s.clients[2].client_type(), ClientType::Public);
        assert_eq!(s.users, vec!["alice".to_string()]);
        let p = s.policy.unwrap();
        assert_eq!(p.access_ttl.get(), 60);
        assert_eq!(p.profile, "strict+custom");
    }

    fn field_of(text: &str) -> String {
        match parse(text, env).unwrap_err() {
            ConfigError::Invalid { field, .. } => field,
            other => other.to_string(),
        }
    }

    #[test]
    fn bad_files_name_the_field() {
        // Unknown keys and bad values are syntax errors whose message names the key.
        let named = [
            ("scope = \"read\"", "scope = \"read\"\ncolour = 1", "colour"),
            ("issuer =", "isuer =", "isuer"),
            ("auth = \"none\"", "auth = \"nope\"", "nope"),
        ];
        for (from, to, want) in named {
            assert!(field_of(&GOOD.replacen(from, to, 1)).contains(want), "{to}");
        }
        let fields = [
            ("APP_B_SECRET", "NOPE", "clients[1].secret_env"),
            (
                "auth = \"none\"",
                "auth = \"none\"\nsecret = \"x\"",
                "clients[2].secret",
            ),
            (
                "profile = \"strict\"",
                "profile = \"strict\"\nrotaton = \"never\"",
                "policy.rotaton",
            ),
            (
                "access_ttl = \"60s\"",
                "access_ttl = \"0s\"",
                "policy.access_ttl",
            ),
            (
                "profile = \"strict\"",
                "profile = \"nope\"",
                "policy.profile",
            ),
            ("id = \"app-b\"", "id = \"app-a\"", "clients[1].id"),
            ("http://127.0.0.1:9000/cb", "/cb", "clients[0].redirect_uri"),
        ];
        for (from, to, want) in fields {
            assert_eq!(field_of(&GOOD.replacen(from, to, 1)), want, "{to}");
        }
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:pw@localhost/db"),
            "postgres://u:<redacted>@localhost/db"
        );
        assert_eq!(redact_url("sqlite:x.db"), "sqlite:x.db");
    }
}
