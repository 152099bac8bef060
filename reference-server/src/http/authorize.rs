//! `GET /authorize`: the authorization code flow's front channel, approved without UI.
//!
//! RFC 6749 §4.1.1 (the request), §4.1.2 (a 302 to `redirect_uri` with `code` and `state`),
//! §4.1.2.1 (errors are redirected, except for a missing, unknown or mismatched client or
//! redirect URI, which are shown to the user instead: never redirect to an unregistered
//! URI), §3.1.2 (exact match of the registered redirect URI), §3.3 (scope), RFC 7636 (PKCE:
//! S256 required for public clients, accepted for confidential ones; `plain` refused).
//!
//! Consent is automatic for the configured users; `login_hint` picks one.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tokenlife_model::ErrorCode;

use crate::config::AuthMethod;
use crate::error::no_store;
use crate::flow::{self, CODE_TTL};
use crate::form::{encode, Params};
use crate::scope::Scope;
use crate::secret::{Secret, SecretExt as _};
use crate::state::AppState;
use crate::store::CodeRow;

/// An error that cannot be redirected: shown to the user agent as a 400.
fn error_page(code: ErrorCode, description: &str) -> Response {
    let mut r = (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": code.as_str(), "error_description": description })),
    )
        .into_response();
    no_store(&mut r);
    r
}

fn redirect(to: &str, pairs: &[(&str, &str)]) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let location = format!("{to}{sep}{}", encode(pairs.iter().copied()));
    let mut r = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => return error_page(ErrorCode::InvalidRequest, "unusable redirect URI"),
    }
    no_store(&mut r);
    r
}

pub(super) async fn authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(ErrorCode::InvalidRequest, &e.to_string()),
    };
    if let Some(name @ ("client_id" | "redirect_uri")) = params.repeated() {
        return error_page(
            ErrorCode::InvalidRequest,
            &format!("parameter `{name}` is repeated"),
        );
    }
    let Some(client_id) = params.get("client_id") else {
        return error_page(ErrorCode::InvalidRequest, "client_id is missing");
    };
    let Some(client) = state.client(client_id) else {
        return error_page(ErrorCode::InvalidRequest, "unknown client_id");
    };
    let (redirect_uri, included) = match params.get("redirect_uri") {
        Some(r) if r == client.redirect_uri => (r, true),
        Some(_) => {
            return error_page(
                ErrorCode::InvalidRequest,
                "redirect_uri does not match the registered one",
            )
        }
        None => (client.redirect_uri.as_str(), false),
    };
    let st = params.get("state");
    let fail = |code: ErrorCode, description: &str| {
        let mut pairs = vec![("error", code.as_str()), ("error_description", description)];
        if let Some(s) = st {
            pairs.push(("state", s));
        }
        redirect(redirect_uri, &pairs)
    };
    if let Some(name) = params.repeated() {
        return fail(
            ErrorCode::InvalidRequest,
            &format!("parameter `{name}` is repeated"),
        );
    }
    match params.get("response_type") {
        None => return fail(ErrorCode::InvalidRequest, "response_type is missing"),
        Some("code") => {}
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )
        }
    }
    let scope = match params.get("scope") {
        None => client.scope.clone(),
        Some(s) => match Scope::parse(s) {
            None => return fail(ErrorCode::InvalidScope, "scope is malformed"),
            Some(s) if !s.is_subset(&client.scope) => {
                return fail(
                    ErrorCode::InvalidScope,
                    "the requested scope exceeds what this client may ask for",
                )
            }
            Some(s) => s,
        },
    };
    let challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, Some(_)) => {
            return fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            )
        }
        (None, None) if client.auth == AuthMethod::None => {
            return fail(
                ErrorCode::InvalidRequest,
                "public clients must use PKCE: code_challenge with code_challenge_method=S256",
            )
        }
        (None, None) => None,
        (Some(c), method) => {
            if method != Some("S256") {
                return fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method must be S256",
                );
            }
            if !flow::pkce_syntax_ok(c) {
                return fail(ErrorCode::InvalidRequest, "code_challenge is malformed");
            }
            Some(c.to_string())
        }
    };
    let users = state.users();
    let subject = match params.get("login_hint") {
        Some(hint) => match users.iter().find(|u| *u == hint) {
            Some(u) => u.clone(),
            None => return fail(ErrorCode::AccessDenied, "unknown user"),
        },
        None => match users.first() {
            Some(u) => u.clone(),
            None => return fail(ErrorCode::AccessDenied, "no user to approve the request"),
        },
    };
    let code = Secret::generate();
    let row = CodeRow {
        hash: code.digest(),
        client_id: client.id.as_str().into(),
        subject,
        redirect_uri: if included {
            redirect_uri.to_string()
        } else {
            String::new()
        },
        scope: scope.clone(),
        code_challenge: challenge,
        expires_at: state.now() + CODE_TTL,
        used: false,
        grant_id: None,
    };
    if let Err(e) = state.store().insert_code(&row).await {
        tracing::error!(error = %e, "failed to store an authorization code");
        return fail(ErrorCode::ServerError, "the server could not issue a code");
    }
    tracing::info!(client = %client.id, "authorization code issued");
    let mut pairs = vec![("code", code.expose())];
    if let Some(s) = st {
        pairs.push(("state", s));
    }
    redirect(redirect_uri, &pairs)
}

/// `GET /cb`: the demo clients' redirect URI, showing what the authorization server sent,
/// so that the flow can be followed with curl.
pub(super) async fn callback(RawQuery(query): RawQuery) -> Response {
    let Ok(params) = Params::parse(query.unwrap_or_default().as_bytes()) else {
        return error_page(ErrorCode::InvalidRequest, "malformed query");
    };
    let mut body = Map::new();
    for name in ["code", "state", "error", "error_description"] {
        if let Some(v) = params.get(name) {
            body.insert(name.into(), Value::String(v.into()));
        }
    }
    let mut r = Json(Value::Object(body)).into_response();
    no_store(&mut r);
    r
}
