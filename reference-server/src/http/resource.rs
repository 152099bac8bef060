//! `GET /api/resource`: the protected resource.
//!
//! RFC 6750 §2.1 (the Authorization request header field only), §3 (the `WWW-Authenticate`
//! challenge; no error code when the request had no token), §3.1 (`invalid_token` with 401
//! for an expired, revoked or unknown token; `invalid_request` with 400 for a malformed one).
//! RFC 9449 §7.1 where some client type uses DPoP: the `DPoP` scheme with a proof, and a
//! DPoP-bound token refused as a Bearer token, with `DPoP` challenges ([`super::dpop`]).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::dpop;
use crate::error::AppError;
use crate::flow;
use crate::state::AppState;

fn challenge(status: StatusCode, value: &'static str) -> Response {
    let mut r = status.into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
    r
}

pub(super) async fn resource(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Ok(challenge(
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"tokenlife\"",
        ));
    };
    let text = value.to_str().unwrap_or_default();
    let mut parts = text.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    // The DPoP scheme exists only where some client type uses DPoP (RFC 9449 §7.1).
    let dpop_scheme = state.policy().any_dpop() && scheme.eq_ignore_ascii_case("dpop");
    if !scheme.eq_ignore_ascii_case("bearer") && !dpop_scheme {
        // Another scheme is no Bearer token at all: the plain challenge.
        return Ok(challenge(
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"tokenlife\"",
        ));
    }
    let token = parts.next().unwrap_or_default().trim();
    let b64token = !token.is_empty()
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        });
    if !b64token {
        return Ok(challenge(
            StatusCode::BAD_REQUEST,
            "Bearer realm=\"tokenlife\", error=\"invalid_request\", error_description=\"malformed Bearer token\"",
        ));
    }
    if dpop_scheme {
        return dpop_call(&state, &headers, token).await;
    }
    match flow::validate_access(&state, token).await? {
        // RFC 9449 §7.1: a DPoP-bound token is no Bearer token.
        Some(b) if b.dpop_jkt.is_some() => Ok(dpop::challenge(
            "invalid_token",
            "a DPoP-bound access token must be sent with the DPoP scheme and a proof",
        )),
        Some(b) => Ok(honoured(b)),
        None => Ok(dead()),
    }
}

/// A call with the `DPoP` scheme (RFC 9449 §7.1): the proof first (for this URL, `ath` the
/// token's hash), then the token, which must be live and bound to the proof's key.
async fn dpop_call(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<Response, AppError> {
    let proof = match dpop::at_resource(state, headers, token).await? {
        Ok(p) => p,
        Err((error, why)) => return Ok(dpop::challenge(error, why)),
    };
    let Some(b) = flow::validate_access(state, token).await? else {
        return Ok(dpop::challenge(
            "invalid_token",
            "the access token is expired, revoked or unknown",
        ));
    };
    match b.dpop_jkt.as_deref() {
        Some(k) if k == proof.jkt => Ok(honoured(b)),
        Some(_) => Ok(dpop::challenge(
            "invalid_token",
            "the DPoP proof is signed with another key than the access token is bound to",
        )),
        None => Ok(dpop::challenge(
            "invalid_token",
            "the access token is not DPoP-bound",
        )),
    }
}

/// 200: what the resource shows a live token's holder.
fn honoured(b: flow::Bearer) -> Response {
    Json(json!({
        "resource": "tokenlife protected resource",
        "sub": b.subject,
        "client_id": b.client_id,
        "scope": b.scope,
    }))
    .into_response()
}

/// 401 `invalid_token` for a dead token sent as a Bearer token (RFC 6750 §3.1), as before.
fn dead() -> Response {
    challenge(
        StatusCode::UNAUTHORIZED,
        "Bearer realm=\"tokenlife\", error=\"invalid_token\", error_description=\"the access token is expired, revoked or unknown\"",
    )
}
