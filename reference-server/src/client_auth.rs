//! Client authentication at the token, revocation and introspection endpoints.
//!
//! RFC 6749 §2.3.1 (`client_secret_basic`: id and secret form-encoded inside HTTP Basic;
//! `client_secret_post`; a client uses one method only), §3.2.1 (public clients identify
//! with `client_id`), §5.2 (`invalid_client`, 401 + `WWW-Authenticate` when the client
//! tried the Authorization header). Each client must use its registered method.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use percent_encoding::percent_decode_str;

use crate::config::{AuthMethod, Client};
use crate::error::AppError;
use crate::form::Params;
use crate::secret::SecretExt as _;
use crate::state::AppState;

/// HTTP Basic credentials, if the request carries them; `Err` for a malformed header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, AppError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AppError::invalid_request(
            "more than one Authorization header",
        ));
    }
    let Ok(text) = value.to_str() else {
        return Err(AppError::invalid_client(
            "malformed Authorization header",
            true,
        ));
    };
    let mut parts = text.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AppError::invalid_client(
            "use HTTP Basic (client_secret_basic) to authenticate",
            true,
        ));
    }
    let bad = || AppError::invalid_client("malformed Basic credentials", true);
    let decoded = STANDARD
        .decode(parts.next().unwrap_or_default().trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both are application/x-www-form-urlencoded before Basic encoding.
    let unform = |s: &str| -> Result<String, AppError> {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    Ok(Some((unform(id)?, unform(secret)?)))
}

/// The client making this request: authenticated if confidential, identified by
/// `client_id` if public.
pub fn authenticate<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<&'s Client, AppError> {
    if let Some((id, secret)) = basic_credentials(headers)? {
        if params.get("client_secret").is_some() {
            return Err(AppError::invalid_request(
                "use one client authentication method, not Basic and client_secret both",
            ));
        }
        if params.get("client_id").is_some_and(|c| c != id) {
            return Err(AppError::invalid_client(
                "client_id does not match the Basic credentials",
                true,
            ));
        }
        let fail = || AppError::invalid_client("client authentication failed", true);
        let client = state.client(&id).ok_or_else(fail)?;
        if client.auth != AuthMethod::ClientSecretBasic {
            return Err(AppError::invalid_client(
                "this client is not registered for client_secret_basic",
                true,
            ));
        }
        let ok = client.secret.as_ref().is_some_and(|s| s.ct_eq(&secret));
        return if ok { Ok(client) } else { Err(fail()) };
    }
    let Some(id) = params.get("client_id") else {
        return Err(AppError::invalid_client(
            "client authentication is required",
            false,
        ));
    };
    let fail = || AppError::invalid_client("client authentication failed", false);
    let client = state.client(id).ok_or_else(fail)?;
    match (client.auth, params.get("client_secret")) {
        (AuthMethod::ClientSecretPost, Some(secret)) => {
            let ok = client.secret.as_ref().is_some_and(|s| s.ct_eq(secret));
            if ok {
                Ok(client)
            } else {
                Err(fail())
            }
        }
        (AuthMethod::None, None) => Ok(client),
        (AuthMethod::None, Some(_)) => Err(AppError::invalid_client(
            "this client is public and has no secret",
            false,
        )),
        (AuthMethod::ClientSecretBasic, _) => Err(AppError::invalid_client(
            "this client must authenticate with HTTP Basic (client_secret_basic)",
            false,
        )),
        (AuthMethod::ClientSecretPost, None) => Err(AppError::invalid_client(
            "this client must send its client_secret",
            false,
        )),
    }
}
