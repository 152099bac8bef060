//! `POST /introspect`: RFC 7662 token introspection.
//!
//! §2.1: the caller authenticates (a public client learns only about its own tokens);
//! §2.2: `{"active": false}` and nothing else for an expired, revoked, consumed or unknown
//! token; for a live one `active`, `scope`, `client_id`, `exp`, `token_type` (`DPoP` for a
//! DPoP-bound access token, with its key's thumbprint as `cnf.jkt`: RFC 9449 §6.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::client_auth::authenticate;
use crate::error::{no_store, AppError};
use crate::flow;
use crate::state::AppState;

pub(super) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let params = super::form_body(&headers, &body)?;
    let client = authenticate(&state, &headers, &params)?;
    let token = params
        .get("token")
        .ok_or_else(|| AppError::invalid_request("token is missing"))?;
    let body = match flow::introspect(&state, client, token, params.get("token_type_hint")).await? {
        None => json!({ "active": false }),
        Some(i) => {
            let mut b = json!({
                "active": true,
                "scope": i.scope,
                "client_id": i.client_id,
                "token_type": i.token_type,
            });
            if let Some(exp) = i.exp {
                b["exp"] = json!(exp);
            }
            // RFC 9449 §6.2: a DPoP-bound token's key.
            if let Some(jkt) = i.jkt {
                b["cnf"] = json!({ "jkt": jkt });
            }
            b
        }
    };
    let mut response = Json(body).into_response();
    no_store(&mut response);
    Ok(response)
}
