//! `GET /api/resource`: the protected resource.
//!
//! RFC 6750 §2.1 (the Authorization request header field only), §3 (the `WWW-Authenticate`
//! challenge; no error code when the request had no token), §3.1 (`invalid_token` with 401
//! for an expired, revoked or unknown token; `invalid_request` with 400 for a malformed one).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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
    if !scheme.eq_ignore_ascii_case("bearer") {
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
    match flow::validate_access(&state, token).await? {
        Some(b) => Ok(Json(json!({
            "resource": "tokenlife protected resource",
            "sub": b.subject,
            "client_id": b.client_id,
            "scope": b.scope,
        }))
        .into_response()),
        None => Ok(challenge(
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"tokenlife\", error=\"invalid_token\", error_description=\"the access token is expired, revoked or unknown\"",
        )),
    }
}
