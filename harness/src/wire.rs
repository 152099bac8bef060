//! The wire: reading the token, revocation, introspection and resource responses into
//! [`Observed`] plus what the protocol checks look at, and the model's scope bits as a
//! client's scope names. The requests are built in [`request`](crate::request).
//!
//! RFC 6749 §3.3 (scope), §5.1/§5.2 (token responses); RFC 7009 §2.2; RFC 7662 §2.2;
//! RFC 6750 §3.1 (the resource's challenge); OpenID Connect Core §12.2 (ID-token claims).

use tokenlife_model::state::Scope;
use tokenlife_model::ErrorCode;

use crate::generate::Scopes;
use crate::http::Response;
use crate::oracle::Observed;
use crate::secret::Secret;
use crate::target::ClientConfig;

/// The scope a refresh names to widen a grant of a client registered for one resource
/// scope: a scope token no grant of it holds (see [`scope_names`]).
pub const NOT_GRANTED: &str = "tokenlife-not-granted";

/// What the model's scope bits stand for on the wire, for one grant of one client.
enum Map {
    /// These names are the model's whole scope together (one resource scope, or none).
    Whole(Vec<String>),
    /// Bit `i` is `names[i]`.
    Bits(Vec<String>),
}

/// The map for a grant of `grant` (the scope it was authorized with) to `client`.
///
/// The model's whole scope is the client's whole resource registration. With two resource
/// scopes, `read` and `write` are the first two. With none, the grant is the registration
/// and no scope can be named. With one, a grant of the whole scope is that name; a grant of
/// the model's `read` (a strict subset) is that name too, and `write` then stands for
/// [`NOT_GRANTED`], a scope the grant does not hold: asking for `read write` on a refresh
/// asks for a scope "not originally granted by the resource owner", which RFC 6749 §6
/// forbids and §5.2 answers `invalid_scope` ("exceeds the scope granted"), so widening is
/// tested with one scope. Narrowing a grant of the whole scope to a strict subset is what
/// one scope cannot express (see [`one_resource_scope`]).
fn map(client: &ClientConfig, grant: Scope) -> Map {
    let mut names = client.resource_scopes();
    match Scopes::of(names.len()) {
        Scopes::One if grant != Scope::ALL => {
            names.push(NOT_GRANTED.to_string());
            Map::Bits(names)
        }
        Scopes::None | Scopes::One => Map::Whole(names),
        Scopes::Two => Map::Bits(names),
    }
}

/// How the model's scopes stand on `client`'s registration (see [`Scopes`]).
pub fn scopes_of(client: &ClientConfig) -> Scopes {
    Scopes::of(client.resource_scopes().len())
}

/// The model scope bits as the client's scope names, in a grant authorized for `grant`
/// (see `map`). A strict subset of a whole grant needs two resource scopes; asked of a
/// client with fewer, the error is the capability it lacks (the walk and the scenarios
/// leave such requests out beforehand, see [`Scopes`]).
pub fn scope_names(
    client: &ClientConfig,
    grant: Scope,
    scope: Scope,
) -> Result<Vec<String>, String> {
    match map(client, grant) {
        Map::Whole(names) if scope == Scope::ALL => Ok(names),
        Map::Whole(names) if names.is_empty() => Err(no_resource_scope([client])),
        Map::Whole(_) => Err(one_resource_scope([client])),
        Map::Bits(names) => Ok((0..Scope::NAMES.len())
            .filter(|bit| scope.0 & (1 << bit) != 0)
            .filter_map(|bit| names.get(bit).cloned())
            .collect()),
    }
}

/// "client `a` has" / "clients `a` and `b` have".
fn who<'c>(clients: impl IntoIterator<Item = &'c ClientConfig>, one: &str, many: &str) -> String {
    let ids: Vec<String> = clients.into_iter().map(|c| format!("`{}`", c.id)).collect();
    match ids.as_slice() {
        [id] => format!("client {id} {one}"),
        _ => format!("clients {} {many}", ids.join(" and ")),
    }
}

/// Why a client cannot take part in scope narrowing or widening: the reason a scenario
/// that needs them is skipped, and the report's line about what could not be tested.
pub fn no_resource_scope<'c>(clients: impl IntoIterator<Item = &'c ClientConfig>) -> String {
    format!(
        "scope narrowing and widening — {} no resource scope",
        who(clients, "has", "have")
    )
}

/// The capability clients registered for one resource scope lack: a strict subset of a
/// grant of it, which narrowing a refresh (RFC 6749 §6) needs. The report's line about it,
/// and the reason of each scenario it accounts for.
pub fn one_resource_scope<'c>(clients: impl IntoIterator<Item = &'c ClientConfig>) -> String {
    let clients: Vec<&ClientConfig> = clients.into_iter().collect();
    let names: Vec<String> = clients
        .iter()
        .flat_map(|c| c.resource_scopes())
        .map(|n| format!("`{n}`"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    format!(
        "scope narrowing, a refresh asking for a strict subset of the grant (RFC 6749 §6) — {} one resource scope ({}), and a strict subset needs two",
        who(clients, "is registered for", "are registered for"),
        names.join(", ")
    )
}

/// A scope string read as model bits in a grant authorized for `grant` (names the map
/// does not hold are ignored; see `map`).
pub fn scope_bits(client: &ClientConfig, grant: Scope, text: &str) -> Scope {
    let has = |name: &String| text.split_whitespace().any(|w| w == name);
    match map(client, grant) {
        Map::Whole(names) if names.is_empty() || names.iter().any(has) => Scope::ALL,
        Map::Whole(_) => Scope::EMPTY,
        Map::Bits(names) => Scope(
            names
                .iter()
                .enumerate()
                .filter(|(_, n)| has(n))
                .fold(0u8, |bits, (i, _)| bits | 1 << i),
        ),
    }
}

/// What a token response showed besides the tokens, for the protocol checks.
#[derive(Clone, Debug, Default)]
pub struct TokenExtras {
    /// `token_type`.
    pub token_type: Option<String>,
    /// The request carried a DPoP proof (set by the exchange, not read from the response):
    /// the token type must then be `DPoP` (RFC 9449 §5).
    pub dpop_sent: bool,
    /// `expires_in`.
    pub expires_in: Option<i64>,
    /// Whether `Cache-Control` has `no-store`.
    pub no_store: bool,
    /// Whether the response carried `scope`.
    pub scope_present: bool,
    /// The `scope` member as sent.
    pub scope_text: Option<String>,
    /// The claims of an `id_token` that OpenID Connect Core §12.2 pins on refresh, or why
    /// they could not be read; `None` without an `id_token`.
    pub id_claims: Option<Result<IdClaims, String>>,
}

/// The ID-token claims a refreshed ID token must keep (OpenID Connect Core §12.2).
pub const ID_CLAIMS: [&str; 5] = ["iss", "sub", "aud", "azp", "auth_time"];

/// Those claims of one ID token (absent ones absent).
pub type IdClaims = std::collections::BTreeMap<String, serde_json::Value>;

/// The §12.2 claims of a compact JWS/JWT `id_token` (its payload, unverified: the
/// signature is the client's business, the claims are what the check compares).
pub fn id_token_claims(token: &str) -> Result<IdClaims, String> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or("the id_token is not a compact JWT (no payload part)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the id_token payload is not base64url: {e}"))?;
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the id_token payload is not a JSON object: {e}"))?;
    Ok(ID_CLAIMS
        .iter()
        .filter_map(|k| obj.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect())
}

/// Reads a token endpoint response for a grant authorized for `grant`; `Err` says why it
/// is no OAuth response at all.
pub fn read_token(
    r: &Response,
    client: &ClientConfig,
    grant: Scope,
) -> Result<(Observed, TokenExtras), String> {
    let body = r
        .json_object()
        .map_err(|e| format!("{} from the token endpoint: {e}", r.status))?;
    match r.status {
        200 => {
            let access = body
                .get("access_token")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .ok_or("200 from the token endpoint without an access_token")?;
            let refresh = match body.get("refresh_token") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(Secret::new(s.clone())),
                Some(_) => return Err("refresh_token is not a string".into()),
            };
            let scope_text = body.get("scope").and_then(|v| v.as_str());
            let extras = TokenExtras {
                token_type: body
                    .get("token_type")
                    .and_then(|v| v.as_str())
                    .map(String::from),
                expires_in: body.get("expires_in").and_then(|v| v.as_i64()),
                no_store: r
                    .headers_named("cache-control")
                    .any(|v| v.to_ascii_lowercase().contains("no-store")),
                scope_present: scope_text.is_some(),
                scope_text: scope_text.map(String::from),
                id_claims: body
                    .get("id_token")
                    .and_then(|v| v.as_str())
                    .map(id_token_claims),
                dpop_sent: false,
            };
            Ok((
                Observed::Tokens {
                    access: Secret::new(access),
                    refresh,
                    scope: scope_text.map(|s| scope_bits(client, grant, s)),
                },
                extras,
            ))
        }
        400..=499 => {
            let code = body.get("error").and_then(|v| v.as_str()).ok_or_else(|| {
                format!(
                    "{} from the token endpoint without an `error` member",
                    r.status
                )
            })?;
            let error: ErrorCode = code
                .parse()
                .map_err(|e: String| format!("{} from the token endpoint: {e}", r.status))?;
            Ok((
                Observed::Error {
                    status: r.status,
                    error,
                },
                TokenExtras::default(),
            ))
        }
        s => Err(format!(
            "{s} from the token endpoint (a token response is 200 or a 4xx OAuth error)"
        )),
    }
}

/// Reads a revocation response (RFC 7009 §2.2): 200, an OAuth error, or another 4xx.
/// The flag says a 200 carried an error member.
pub fn read_revocation(r: &Response) -> Result<(Observed, bool), String> {
    match r.status {
        200 => {
            let error_body = r
                .json_object()
                .ok()
                .is_some_and(|m| m.contains_key("error"));
            Ok((Observed::Revocation { ok: true }, error_body))
        }
        400..=499 => {
            let code = r
                .json_object()
                .ok()
                .and_then(|m| m.get("error").and_then(|v| v.as_str()).map(String::from));
            Ok(match code.as_deref().map(str::parse::<ErrorCode>) {
                Some(Ok(ErrorCode::InvalidClient)) => (
                    Observed::Error {
                        status: r.status,
                        error: ErrorCode::InvalidClient,
                    },
                    false,
                ),
                _ => (Observed::Revocation { ok: false }, false),
            })
        }
        s => Err(format!(
            "{s} from the revocation endpoint (RFC 7009 §2.2: 200, or an error response)"
        )),
    }
}

/// Reads an introspection response (RFC 7662 §2.2); the list holds members besides `active`.
pub fn read_introspection(r: &Response) -> Result<(Observed, Vec<String>), String> {
    if r.status != 200 {
        return Err(format!(
            "{} from the introspection endpoint (RFC 7662 §2.2: 200 with a JSON object)",
            r.status
        ));
    }
    let m = r.json_object().map_err(|e| format!("introspection: {e}"))?;
    let active = m
        .get("active")
        .and_then(|v| v.as_bool())
        .ok_or("introspection response without a boolean `active`")?;
    let extra = m.keys().filter(|k| *k != "active").cloned().collect();
    Ok((Observed::Introspection { active }, extra))
}

/// Reads a resource response (RFC 6750 §3.1); the flag says a refusal had the right challenge.
pub fn read_resource(r: &Response) -> Result<(Observed, bool), String> {
    match r.status {
        200..=299 => Ok((Observed::Resource { ok: true }, true)),
        400..=403 => {
            let challenge_ok = r.status == 401
                && r.headers_named("www-authenticate").any(|v| {
                    let l = v.to_ascii_lowercase();
                    let l = l.trim_start();
                    (l.starts_with("bearer") || l.starts_with("dpop"))
                        && (l.contains("error=\"invalid_token\"")
                            || l.contains("error=invalid_token")
                            || (l.starts_with("dpop") && l.contains("invalid_dpop_proof")))
                });
            Ok((Observed::Resource { ok: false }, challenge_ok))
        }
        s => Err(format!(
            "{s} from the protected resource (RFC 6750: 200, or 401 invalid_token)"
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::target::AuthMethod;

    #[test]
    fn id_token_claims_are_read_from_the_payload() {
        use base64::Engine as _;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"iss":"https://op","sub":"u1","aud":"app","iat":5,"auth_time":3}"#)
        );
        let c = id_token_claims(&jwt).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c["sub"], "u1");
        assert!(!c.contains_key("iat") && !c.contains_key("azp"));
        assert!(id_token_claims("not-a-jwt").is_err());
        assert!(id_token_claims("a.!!!.c").is_err());
    }

    /// A client with a space and a colon in its id and secret (fixtures for `request` too).
    pub(crate) fn client(auth: AuthMethod) -> ClientConfig {
        ClientConfig {
            id: "app a".into(),
            secret: (auth != AuthMethod::None).then(|| Secret::new("s:1")),
            auth,
            redirect_uri: "http://c/cb".into(),
            scope: vec![
                "openid".into(),
                "offline_access".into(),
                "read".into(),
                "write".into(),
            ],
            dpop: false,
        }
    }

    #[test]
    fn scopes_map_both_ways() {
        let all = Scope::ALL;
        let c = client(AuthMethod::None);
        assert_eq!(scope_names(&c, all, all).unwrap(), vec!["read", "write"]);
        assert_eq!(
            scope_bits(&c, all, "openid offline_access write"),
            Scope::WRITE
        );
        assert_eq!(scope_bits(&c, Scope::READ, "read write"), all);
        let mut bare = client(AuthMethod::None);
        bare.scope = vec!["openid".into(), "offline_access".into()];
        assert_eq!(scope_names(&bare, all, all).unwrap(), Vec::<String>::new());
        let e = scope_names(&bare, all, Scope::READ).unwrap_err();
        assert!(e.contains("has no resource scope"), "{e}");
        assert_eq!(scope_bits(&bare, all, "openid offline_access"), all);
        // One resource scope: a whole grant is that name, and cannot be narrowed.
        let mut one = client(AuthMethod::None);
        one.scope = vec!["openid".into(), "offline_access".into(), "api".into()];
        assert_eq!(scopes_of(&one), Scopes::One);
        assert_eq!(scope_names(&one, all, all).unwrap(), vec!["api"]);
        let e = scope_names(&one, all, Scope::READ).unwrap_err();
        assert!(
            e.contains("client `app a` is registered for one resource scope (`api`)"),
            "{e}"
        );
        assert_eq!(scope_bits(&one, all, "openid offline_access api"), all);
        assert_eq!(scope_bits(&one, all, "openid"), Scope::EMPTY);
        // A `read` grant is that name too; widening it asks for a scope it does not hold.
        let read = Scope::READ;
        assert_eq!(scope_names(&one, read, read).unwrap(), vec!["api"]);
        assert_eq!(
            scope_names(&one, read, all).unwrap(),
            vec!["api", NOT_GRANTED]
        );
        assert_eq!(scope_bits(&one, read, "openid api"), read);
        assert_eq!(scope_bits(&one, read, &format!("api {NOT_GRANTED}")), all);
    }

    #[test]
    fn token_responses_are_read() {
        let c = client(AuthMethod::None);
        let ok = Response {
            status: 200,
            headers: vec![("cache-control".into(), "no-store".into())],
            body: br#"{"access_token":"a","refresh_token":"r","token_type":"Bearer","expires_in":60,"scope":"read"}"#.to_vec(),
        };
        let (o, x) = read_token(&ok, &c, Scope::ALL).unwrap();
        assert!(matches!(
            o,
            Observed::Tokens {
                scope: Some(Scope::READ),
                ..
            }
        ));
        assert!(x.no_store && x.expires_in == Some(60));
        let bad = Response {
            status: 500,
            headers: vec![],
            body: b"oops".to_vec(),
        };
        assert!(read_token(&bad, &c, Scope::ALL)
            .unwrap_err()
            .contains("500"));
    }
}
