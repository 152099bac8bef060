//! Discovery: the target's endpoints from RFC 8414 metadata, then OpenID Connect Discovery,
//! unless the target file gives them.
//!
//! RFC 8414 §3: the well-known suffix is inserted between the host and any issuer path
//! (`https://h/tenant` → `https://h/.well-known/oauth-authorization-server/tenant`);
//! OpenID Connect Discovery 1.0 §4 appends `/.well-known/openid-configuration` to the
//! issuer. RFC 8414 §3.3: the metadata's `issuer` must be the issuer asked about.
//!
//! Metadata is trusted only as far as the issuer's host: an endpoint it names on another
//! host would receive the clients' secrets and tokens, so it is refused unless the target
//! file names that endpoint itself or allows the host (`allowed_hosts`) (RFC 9700 §4.4,
//! mix-up and endpoint confusion).

use crate::http::{strip_query, Http, HttpError, Request};
use crate::target::Target;

/// The endpoints the harness talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint (RFC 6749 §3.1).
    pub authorization: String,
    /// The token endpoint (RFC 6749 §3.2).
    pub token: String,
    /// The revocation endpoint (RFC 7009), if any.
    pub revocation: Option<String>,
    /// The introspection endpoint (RFC 7662), if any.
    pub introspection: Option<String>,
    /// The protected resource, if any.
    pub resource: Option<String>,
    /// Where the endpoints came from, for the report.
    pub source: String,
    /// Whether the metadata's `grant_types_supported` lists `refresh_token` (`None`: no
    /// metadata, or the member is absent).
    pub refresh_grant_listed: Option<bool>,
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The metadata could not be fetched at all.
    #[error("failed to fetch the metadata: {0}")]
    Http(#[from] HttpError),
    /// Neither document exists.
    #[error("failed to discover the endpoints: no metadata at {}; give the endpoints in [server]", tried.join(" or "))]
    NotFound {
        /// The URLs tried.
        tried: Vec<String>,
    },
    /// The metadata names an endpoint on a host the target file does not allow.
    #[error(
        "refused: the metadata at {url} names {key} `{endpoint}` on host `{host}`, not the \
         issuer's host `{issuer_host}`; credentials would go there. If that host is the \
         server's, name the endpoint in [server] ({key} = \"...\") or allow the host with \
         [server] allowed_hosts = [\"{host}\"]"
    )]
    ForeignHost {
        /// The metadata URL.
        url: String,
        /// The metadata member (`token_endpoint`).
        key: String,
        /// The endpoint, without its query.
        endpoint: String,
        /// Its host.
        host: String,
        /// The issuer's host.
        issuer_host: String,
    },
    /// The metadata of an `https` issuer names a plain `http` endpoint.
    #[error(
        "refused: the metadata at {url} names {key} `{endpoint}` over plain http for an https \
         issuer; credentials would travel unencrypted. If that is really the server's \
         endpoint, name it in [server] ({key} = \"...\")"
    )]
    Downgrade {
        /// The metadata URL.
        url: String,
        /// The metadata member.
        key: String,
        /// The endpoint, without its query.
        endpoint: String,
    },
    /// The metadata is unusable.
    #[error("the metadata at {url} is unusable: {reason}")]
    Invalid {
        /// The metadata URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The RFC 8414 metadata URL of an issuer: the well-known suffix before any path.
pub fn rfc8414_url(issuer: &str) -> Option<String> {
    let u = reqwest::Url::parse(issuer).ok()?;
    let path = u.path().trim_end_matches('/');
    let origin = u.origin().ascii_serialization();
    Some(format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    ))
}

/// The OpenID Connect metadata URL of an issuer: the suffix appended.
pub fn oidc_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The endpoints of `target`: given ones win, the rest come from the metadata.
pub async fn discover(http: &Http, target: &Target) -> Result<Endpoints, DiscoveryError> {
    let given = &target.endpoints;
    let all_given = given.token.is_some()
        && given.authorization.is_some()
        && given.revocation.is_some()
        && given.introspection.is_some();
    let metadata = match (&target.issuer, all_given) {
        (Some(issuer), false) => Some(fetch(http, target, issuer).await?),
        _ => None,
    };
    // Each endpoint the metadata names that the file does not, on an allowed host only.
    if let (Some((url, m)), Some(issuer)) = (&metadata, &target.issuer) {
        for (key, given) in [
            ("authorization_endpoint", &given.authorization),
            ("token_endpoint", &given.token),
            ("revocation_endpoint", &given.revocation),
            ("introspection_endpoint", &given.introspection),
        ] {
            if given.is_some() {
                continue;
            }
            if let Some(endpoint) = m.get(key).and_then(|v| v.as_str()) {
                allowed(target, issuer, url, key, endpoint)?;
            }
        }
    }
    let from_meta = |key: &str| -> Option<String> {
        metadata
            .as_ref()
            .and_then(|(_, m)| m.get(key))
            .and_then(|v| v.as_str())
            .map(String::from)
    };
    let source = metadata
        .as_ref()
        .map_or_else(|| "target file".to_string(), |(url, _)| url.clone());
    let need = |given: &Option<String>, key: &str| -> Result<String, DiscoveryError> {
        given
            .clone()
            .or_else(|| from_meta(key))
            .ok_or_else(|| DiscoveryError::Invalid {
                url: source.clone(),
                reason: format!("no `{key}`"),
            })
    };
    Ok(Endpoints {
        authorization: need(&given.authorization, "authorization_endpoint")?,
        token: need(&given.token, "token_endpoint")?,
        revocation: given
            .revocation
            .clone()
            .or_else(|| from_meta("revocation_endpoint")),
        introspection: given
            .introspection
            .clone()
            .or_else(|| from_meta("introspection_endpoint")),
        resource: target.resource_url.clone(),
        refresh_grant_listed: metadata
            .as_ref()
            .and_then(|(_, m)| m.get("grant_types_supported"))
            .and_then(|v| v.as_array())
            .map(|a| a.iter().any(|g| g.as_str() == Some("refresh_token"))),
        source,
    })
}

/// The host of a URL, lower-cased (`None`: not a URL with a host).
fn host_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .host_str()
        .map(str::to_ascii_lowercase)
}

/// Whether `url`'s scheme is `scheme` (case-insensitively, as URLs compare them).
fn scheme_is(url: &str, scheme: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.scheme().eq_ignore_ascii_case(scheme))
}

/// Whether the metadata at `url` may name `endpoint` as `key`: on the issuer's host, or on
/// one the target file allows, and never over plain http for an https issuer (the same
/// host's plain port is no more the issuer than another host is).
fn allowed(
    target: &Target,
    issuer: &str,
    url: &str,
    key: &str,
    endpoint: &str,
) -> Result<(), DiscoveryError> {
    let issuer_host = host_of(issuer).unwrap_or_default();
    let Some(host) = host_of(endpoint) else {
        return Err(DiscoveryError::Invalid {
            url: url.to_string(),
            reason: format!("its {key} is not an absolute URL with a host"),
        });
    };
    if scheme_is(issuer, "https") && !scheme_is(endpoint, "https") {
        return Err(DiscoveryError::Downgrade {
            url: url.to_string(),
            key: key.to_string(),
            endpoint: target.redactor().apply(&strip_query(endpoint)),
        });
    }
    if host == issuer_host || target.allowed_hosts.contains(&host) {
        return Ok(());
    }
    Err(DiscoveryError::ForeignHost {
        url: url.to_string(),
        key: key.to_string(),
        endpoint: target.redactor().apply(&strip_query(endpoint)),
        host,
        issuer_host,
    })
}

async fn fetch(
    http: &Http,
    target: &Target,
    issuer: &str,
) -> Result<(String, serde_json::Map<String, serde_json::Value>), DiscoveryError> {
    let mut tried = Vec::new();
    let candidates = rfc8414_url(issuer)
        .into_iter()
        .chain(std::iter::once(oidc_url(issuer)));
    for url in candidates {
        tried.push(strip_query(&url));
        let r = http.send(&Request::get(&url)).await?;
        if r.status != 200 {
            continue;
        }
        // Through the target's redactor: the reason can quote the body.
        let m = r.json_object().map_err(|reason| DiscoveryError::Invalid {
            url: url.clone(),
            reason: target.redactor().apply(&reason),
        })?;
        match m.get("issuer").and_then(|v| v.as_str()) {
            Some(i) if i.trim_end_matches('/') == issuer.trim_end_matches('/') => {}
            Some(i) => {
                return Err(DiscoveryError::Invalid {
                    url,
                    reason: target.redactor().apply(&format!(
                        "its issuer `{i}` is not `{issuer}` (RFC 8414 §3.3)"
                    )),
                })
            }
            None => {
                return Err(DiscoveryError::Invalid {
                    url,
                    reason: "no `issuer`".into(),
                })
            }
        }
        return Ok((url, m));
    }
    Err(DiscoveryError::NotFound { tried })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(extra: &str) -> Target {
        crate::target::parse(
            &format!(
                "[server]\nissuer = \"https://as.example\"\n{extra}\n{c}\"a\"\n{c}\"b\"\n",
                c = "[[clients]]\nsecret = \"s\"\nredirect_uri = \"http://127.0.0.1/cb\"\n\
                     scope = \"read\"\nid = "
            ),
            |_| None,
        )
        .expect("a target")
    }

    #[test]
    fn an_https_issuer_s_metadata_may_not_name_a_plain_http_endpoint() {
        let t = target("");
        let issuer = "https://as.example";
        let url = "https://as.example/.well-known/oauth-authorization-server";
        assert_eq!(
            allowed(
                &t,
                issuer,
                url,
                "token_endpoint",
                "https://as.example/token"
            ),
            Ok(())
        );
        let err = allowed(&t, issuer, url, "token_endpoint", "http://as.example/token")
            .expect_err("a downgrade");
        assert!(matches!(err, DiscoveryError::Downgrade { .. }), "{err:?}");
        assert!(err.to_string().contains("plain http"), "{err}");
        // Allowing the host does not allow plain http to it.
        let t = target("allowed_hosts = [\"other.example\"]");
        assert!(matches!(
            allowed(
                &t,
                issuer,
                url,
                "token_endpoint",
                "http://other.example/token"
            ),
            Err(DiscoveryError::Downgrade { .. })
        ));
        assert_eq!(
            allowed(
                &t,
                issuer,
                url,
                "token_endpoint",
                "https://other.example/token"
            ),
            Ok(())
        );
        // A plain-http issuer (a local server) may name plain-http endpoints.
        assert_eq!(
            allowed(
                &t,
                "http://127.0.0.1:9000",
                "http://127.0.0.1:9000/.well-known/oauth-authorization-server",
                "token_endpoint",
                "http://127.0.0.1:9000/token"
            ),
            Ok(())
        );
    }

    #[test]
    fn well_known_goes_before_the_issuer_path() {
        assert_eq!(
            rfc8414_url("https://h.example/tenant/a").unwrap(),
            "https://h.example/.well-known/oauth-authorization-server/tenant/a"
        );
        assert_eq!(
            rfc8414_url("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            oidc_url("https://h.example/tenant/"),
            "https://h.example/tenant/.well-known/openid-configuration"
        );
    }
}
