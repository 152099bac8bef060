//! `POST /token`: the token endpoint.
//!
//! RFC 6749 §3.2 (form POST), §4.1.3 (authorization code), §6 (refresh token), §5.1 (the
//! response: `token_type`, `expires_in` as the real remaining lifetime, `scope`,
//! `Cache-Control: no-store`, `Pragma: no-cache`), §5.2 (errors), RFC 7636 (PKCE); RFC 9449
//! §5 and §8 for clients that use DPoP (the proof and the nonce: [`super::dpop`]).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokenlife_model::ErrorCode;

use super::dpop;
use crate::client_auth::authenticate;
use crate::decide::dpop::TokenProof;
use crate::error::{no_store, AppError};
use crate::flow::{self, Issued};
use crate::scope::Scope;
use crate::secret::Secret;
use crate::state::AppState;

pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    // Under `dpop_nonce` every answer carries the current nonce: `dpop::nonce_header`.
    let (state, headers) = (&state, &headers);
    let params = super::form_body(headers, &body)?;
    let client = authenticate(state, headers, &params)?;
    let grant_type = params.get("grant_type");
    // The proof after client authentication, before any grant is looked at (RFC 9449 §5).
    let proof = match dpop::at_token(state, client, headers, grant_type).await? {
        None | Some(TokenProof::Unbound) => None,
        Some(TokenProof::Bound(jkt)) => Some(jkt),
        Some(TokenProof::Invalid(why)) => return Err(dpop::invalid_proof(why)),
        Some(TokenProof::UseNonce { consume_presented }) => {
            if let Some(rt) = params.get("refresh_token").filter(|_| consume_presented) {
                flow::consume_unrotated(state, client, &Secret::new(rt)).await?;
            }
            return Err(dpop::use_nonce());
        }
    };
    let jkt = proof.as_deref();
    let issued = match grant_type {
        None => return Err(AppError::invalid_request("grant_type is missing")),
        Some("authorization_code") => {
            let code = params
                .get("code")
                .ok_or_else(|| AppError::invalid_request("code is missing"))?;
            flow::exchange_code(
                state,
                client,
                code,
                params.get("redirect_uri"),
                params.get("code_verifier"),
                jkt,
            )
            .await?
        }
        Some("refresh_token") => {
            let rt = params
                .get("refresh_token")
                .ok_or_else(|| AppError::invalid_request("refresh_token is missing"))?;
            let scope = match params.get("scope") {
                None => None,
                Some(s) => Some(Scope::parse(s).ok_or_else(|| {
                    AppError::invalid_scope("scope is malformed (RFC 6749 §3.3)")
                })?),
            };
            flow::refresh(state, client, &Secret::new(rt), scope, jkt).await?
        }
        Some(_) => {
            return Err(AppError::bad(
                ErrorCode::UnsupportedGrantType,
                "supported grant types: authorization_code, refresh_token",
            ))
        }
    };
    Ok(token_response(issued, jkt.is_some()))
}

/// The token response; `dpop` when the access token is bound to the request's proof key
/// (RFC 9449 §5: `token_type` `DPoP`).
fn token_response(issued: Issued, dpop: bool) -> Response {
    let mut body = json!({
        "access_token": issued.access.expose(),
        "token_type": if dpop { "DPoP" } else { "Bearer" },
        "expires_in": issued.expires_in,
        "scope": issued.scope.to_string(),
    });
    if let Some(rt) = &issued.refresh {
        body["refresh_token"] = json!(rt.expose());
    }
    let mut response = Json(body).into_response();
    no_store(&mut response);
    response
}
