//! `POST /test/clock {"advance_seconds": n}`: moves the frozen test clock forward.
//!
//! Exists only with `--test-clock` (loopback only), so that a suite can reach every deadline
//! of RFC 6749 §5.1 `expires_in`, the refresh TTL, the idle timeout, the absolute cap and the
//! grace window without waiting.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::error::AppError;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_seconds: u32,
}

pub(super) async fn advance(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, AppError> {
    let Ok(req) = serde_json::from_slice::<Advance>(&body) else {
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_request",
                "error_description": "expected {\"advance_seconds\": n} with n a whole number of seconds",
            })),
        )
            .into_response());
    };
    let now = state
        .advance_clock(req.advance_seconds)
        .await?
        .ok_or_else(|| AppError::internal("the test clock cannot be moved"))?;
    tracing::info!(by = req.advance_seconds, now, "test clock advanced");
    Ok(Json(json!({ "now": now })).into_response())
}

pub(super) async fn read(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "now": state.now() }))
}
