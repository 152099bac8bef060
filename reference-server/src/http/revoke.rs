//! `POST /revoke`: RFC 7009 token revocation.
//!
//! §2.1: the client authenticates; `token_type_hint` only orders the lookup; another
//! client's token is not revoked; cascades as the policy says. §2.2: 200 whether or not the
//! token was known or still valid. §2.2.1: errors as in RFC 6749 §5.2.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::client_auth::authenticate;
use crate::error::{no_store, AppError};
use crate::flow;
use crate::state::AppState;

pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let params = super::form_body(&headers, &body)?;
    let client = authenticate(&state, &headers, &params)?;
    let token = params
        .get("token")
        .ok_or_else(|| AppError::invalid_request("token is missing"))?;
    flow::revoke(&state, client, token, params.get("token_type_hint")).await?;
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
