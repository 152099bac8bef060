//! The OAuth requests, one builder each: the code exchange, the refresh, the revocation,
//! the introspection and the resource call. The runner, the probes and the load driver all
//! build their requests here, so a parameter is named, ordered and authenticated in one
//! place; [`wire`](crate::wire) reads the answers.
//!
//! RFC 6749 §2.3.1 (client_secret_basic with form-encoded id and secret, client_secret_post),
//! §4.1.3 (code exchange), §6 (refresh); RFC 7636 §4.5 (`code_verifier`); RFC 7009 §2.1;
//! RFC 7662 §2.1; RFC 6750 §2.1 (Bearer header).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::http::Request;
use crate::secret::Secret;
use crate::target::{AuthMethod, ClientConfig};

/// How a request authenticates.
#[derive(Clone, Copy, Debug)]
pub enum Credentials<'a> {
    /// As this client, by its registered method.
    Client(&'a ClientConfig),
    /// This client's `client_id` without any secret.
    NoAuth(&'a ClientConfig),
    /// An explicit id and secret over HTTP Basic (the `[introspection]` caller).
    Basic(&'a str, Option<&'a Secret>),
    /// An explicit id and secret in the body (the client-authentication probe's wrong one).
    Post(&'a str, &'a Secret),
}

/// The form parameters of a request, in the order they are sent.
pub type Form = Vec<(String, String)>;

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn pairs<const N: usize>(pairs: [(&str, &str); N]) -> Form {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A form POST with credentials applied (RFC 6749 §2.3.1).
pub fn post(url: &str, mut form: Form, creds: Credentials<'_>) -> Request {
    let mut basic = None;
    match creds {
        Credentials::Client(c) => match (c.auth, &c.secret) {
            (AuthMethod::ClientSecretBasic, Some(s)) => {
                basic = Some((c.id.as_str(), s.expose()));
            }
            (AuthMethod::ClientSecretPost, Some(s)) => {
                form.push(("client_id".into(), c.id.clone()));
                form.push(("client_secret".into(), s.expose().to_string()));
            }
            _ => form.push(("client_id".into(), c.id.clone())),
        },
        Credentials::NoAuth(c) => form.push(("client_id".into(), c.id.clone())),
        Credentials::Basic(id, secret) => match secret {
            Some(s) => basic = Some((id, s.expose())),
            None => form.push(("client_id".into(), id.to_string())),
        },
        Credentials::Post(id, secret) => {
            form.push(("client_id".into(), id.to_string()));
            form.push(("client_secret".into(), secret.expose().to_string()));
        }
    }
    let mut req = Request::post_form(url, form).header("accept", "application/json");
    if let Some((id, secret)) = basic {
        let pair = format!("{}:{}", form_encode(id), form_encode(secret));
        req = req.header("authorization", format!("Basic {}", STANDARD.encode(pair)));
    }
    req
}

/// The code exchange (RFC 6749 §4.1.3 with RFC 7636 §4.5's `code_verifier`), as `client`.
pub fn code_exchange(
    token_url: &str,
    client: &ClientConfig,
    code: &Secret,
    verifier: &Secret,
) -> Request {
    let form = pairs([
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", &client.redirect_uri),
        ("code_verifier", verifier.expose()),
    ]);
    post(token_url, form, Credentials::Client(client))
}

/// The parameters of a refresh (RFC 6749 §6): `grant_type`, `refresh_token` and, when
/// given, `scope` (space-separated names), in that order. [`refresh`] adds the client's
/// credentials; a client that writes its own HTTP can take `refresh(..).form_body()` (the
/// encoded body) and its `authorization` header, or these parameters alone.
pub fn refresh_form(refresh_token: &str, scope: Option<&str>) -> Form {
    let mut form = pairs([
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ]);
    if let Some(scope) = scope {
        form.push(("scope".into(), scope.into()));
    }
    form
}

/// A refresh (RFC 6749 §6) to the token endpoint; `scope` omitted asks for the original.
pub fn refresh(
    token_url: &str,
    refresh_token: &str,
    scope: Option<&str>,
    creds: Credentials<'_>,
) -> Request {
    post(token_url, refresh_form(refresh_token, scope), creds)
}

/// `token` and, when given, `token_type_hint`: the body of RFC 7009 §2.1 and RFC 7662 §2.1.
fn token_form(token: &str, hint: Option<&str>) -> Form {
    let mut form = pairs([("token", token)]);
    if let Some(hint) = hint {
        form.push(("token_type_hint".into(), hint.into()));
    }
    form
}

/// A revocation (RFC 7009 §2.1); `hint` is the `token_type_hint`, if any.
pub fn revocation(url: &str, token: &str, hint: Option<&str>, creds: Credentials<'_>) -> Request {
    post(url, token_form(token, hint), creds)
}

/// An introspection (RFC 7662 §2.1); `hint` is the `token_type_hint`, if any.
pub fn introspection(
    url: &str,
    token: &str,
    hint: Option<&str>,
    creds: Credentials<'_>,
) -> Request {
    post(url, token_form(token, hint), creds)
}

/// A call to the protected resource with a Bearer access token (RFC 6750 §2.1).
pub fn resource(url: &str, access_token: &Secret) -> Request {
    Request::get(url).header("authorization", format!("Bearer {}", access_token.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::client;

    fn form(r: &Request) -> Vec<(&str, &str)> {
        r.form
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn header<'r>(r: &'r Request, name: &str) -> Option<&'r str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn basic_auth_form_encodes_id_and_secret() {
        let c = client(AuthMethod::ClientSecretBasic);
        let r = post("http://s/token", vec![], Credentials::Client(&c));
        let expected = format!("Basic {}", STANDARD.encode("app+a:s%3A1"));
        assert_eq!(header(&r, "authorization"), Some(expected.as_str()));
        let p = client(AuthMethod::ClientSecretPost);
        let r = post("http://s/token", vec![], Credentials::Client(&p));
        assert!(form(&r).contains(&("client_secret", "s:1")));
    }

    #[test]
    fn an_explicit_secret_goes_where_it_is_told() {
        let wrong = Secret::new("w");
        let r = post("http://s/token", vec![], Credentials::Post("app", &wrong));
        assert_eq!(form(&r), [("client_id", "app"), ("client_secret", "w")]);
        assert_eq!(header(&r, "authorization"), None);
        let r = post("http://s/token", vec![], Credentials::Basic("app", None));
        assert_eq!(form(&r), [("client_id", "app")]);
    }

    #[test]
    fn a_refresh_names_its_grant_and_its_scope_only_when_asked() {
        let c = client(AuthMethod::None);
        let r = refresh("http://s/token", "rt", None, Credentials::Client(&c));
        assert_eq!(r.url, "http://s/token");
        assert_eq!(
            form(&r),
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt"),
                ("client_id", "app a")
            ]
        );
        assert_eq!(
            refresh_form("rt", Some("read write")).last(),
            Some(&("scope".to_string(), "read write".to_string()))
        );
    }

    #[test]
    fn a_refresh_body_is_form_encoded_for_a_client_that_writes_its_own_http() {
        let secret = Secret::new("s");
        let r = refresh(
            "/token",
            "r+t",
            None,
            Credentials::Basic("app", Some(&secret)),
        );
        assert_eq!(
            r.form_body().as_deref(),
            Some("grant_type=refresh_token&refresh_token=r%2Bt")
        );
        let expected = format!("Basic {}", STANDARD.encode("app:s"));
        assert_eq!(header(&r, "authorization"), Some(expected.as_str()));
    }

    #[test]
    fn a_code_exchange_carries_the_verifier_and_the_redirect_uri() {
        let c = client(AuthMethod::None);
        let r = code_exchange(
            "http://s/token",
            &c,
            &Secret::new("code"),
            &Secret::new("v"),
        );
        assert_eq!(
            form(&r),
            [
                ("grant_type", "authorization_code"),
                ("code", "code"),
                ("redirect_uri", "http://c/cb"),
                ("code_verifier", "v"),
                ("client_id", "app a")
            ]
        );
    }

    #[test]
    fn revocation_and_introspection_send_the_hint_only_when_given() {
        let c = client(AuthMethod::None);
        let r = revocation("http://s/revoke", "t", None, Credentials::Client(&c));
        assert_eq!(form(&r), [("token", "t"), ("client_id", "app a")]);
        let r = introspection(
            "http://s/introspect",
            "t",
            Some("refresh_token"),
            Credentials::NoAuth(&c),
        );
        assert_eq!(
            form(&r),
            [
                ("token", "t"),
                ("token_type_hint", "refresh_token"),
                ("client_id", "app a")
            ]
        );
    }

    #[test]
    fn the_resource_gets_a_bearer_header() {
        let r = resource("http://s/api", &Secret::new("at"));
        assert_eq!(header(&r, "authorization"), Some("Bearer at"));
        assert!(r.form.is_none());
    }
}
