//! DPoP (RFC 9449) at the HTTP edge: the `DPoP` header of a token request and of a
//! resource call, checked with [`crate::dpop::verify`] for this server's URLs on the
//! server's clock, the `jti` replay cache (§11.1) and the server nonce (§8).
//!
//! At the token endpoint (§5) a client whose type the policy makes use DPoP needs exactly
//! one valid proof for `POST` on the token endpoint's URL; a missing, repeated or invalid
//! one is 400 `invalid_dpop_proof`, and under `dpop_nonce` a proof without a nonce the server
//! accepts is 400 `use_dpop_nonce`. Both come after client authentication and before any
//! grant is looked at, so they change nothing. Other clients' requests are read as before:
//! a `DPoP` header from them is ignored, and their tokens are Bearer tokens.
//!
//! At the resource (§7.1) a DPoP-bound access token needs the `DPoP` scheme and a proof
//! for `GET` on the resource's URL with `ath` = the token's hash, signed with the token's
//! key; the challenges are `DPoP` ones with `algs="ES256"`.
//!
//! This module reads the header and the server's state (clock, `jti` cache, nonces); what
//! that comes to, defects included, is decided in `decide::dpop`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokenlife_model::ErrorCode;

use crate::config::Client;
use crate::decide::dpop::{resource_proof, token_proof, ProofRead, ResourceRefusal, TokenProof};
use crate::dpop::{verify, Proof, Refusal, Request};
use crate::error::AppError;
use crate::state::AppState;

/// The `DPoP` request header: a proof.
pub(super) const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub(super) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The token endpoint's path, for `htu`.
pub(super) const TOKEN_PATH: &str = "/token";
/// The protected resource's path, for `htu`.
pub(super) const RESOURCE_PATH: &str = "/api/resource";

/// 400 `invalid_dpop_proof` (RFC 9449 §5).
pub(super) fn invalid_proof(why: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::bad(ErrorCode::InvalidDpopProof, why)
}

/// 400 `use_dpop_nonce` (RFC 9449 §8).
pub(super) fn use_nonce() -> AppError {
    AppError::bad(
        ErrorCode::UseDpopNonce,
        "the DPoP proof must carry the nonce of the DPoP-Nonce header (RFC 9449 §8)",
    )
}

/// The one `DPoP` header's value: `Ok(None)` without one, an error for several.
fn header_value(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut values = headers.get_all(DPOP).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .map(Some)
            .map_err(|_| Refusal::Malformed("the DPoP header is not visible ASCII")),
        (Some(_), Some(_)) => Err(Refusal::Malformed("more than one DPoP header")),
    }
}

/// Reads a request's `DPoP` header: checks its proof for `method` on the issuer's `path` at
/// the wall clock ([`AppState::proof_time`]), records its `jti` (seen before: a replay) and reads its nonce.
async fn read(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Result<ProofRead, AppError> {
    let text = match header_value(headers) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(ProofRead::Missing),
        Err(r) => return Ok(ProofRead::Invalid(r)),
    };
    let url = format!("{}{path}", state.issuer());
    let request = Request {
        method,
        url: &url,
        now: AppState::proof_time(),
        // `ath` and the nonce are read below, for the decisions to judge.
        access_token: None,
        nonce: None,
    };
    Ok(match verify(text, &request) {
        Err(r) => ProofRead::Invalid(r),
        Ok(proof) => ProofRead::Valid {
            replayed: !state.record_jti(&proof).await?,
            nonce_accepted: state.dpop_nonce_accepted(proof.nonce.as_deref()),
            proof,
        },
    })
}

/// What the proof of a token request by `client` (authenticated already) comes to;
/// `None` for a client that does not use DPoP (its requests are read as before).
pub(super) async fn at_token(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    grant_type: Option<&str>,
) -> Result<Option<TokenProof>, AppError> {
    if !state.policy().uses_dpop(client.client_type()) {
        return Ok(None);
    }
    let proof = read(state, headers, "POST", TOKEN_PATH).await?;
    let refresh = grant_type == Some("refresh_token");
    Ok(Some(token_proof(
        state.policy(),
        state.defects(),
        refresh,
        proof,
    )))
}

/// Adds the current `DPoP-Nonce` to every answer of the token endpoint when the policy asks
/// for nonces (RFC 9449 §8), so a client always holds the current one: a middleware, so that
/// the answers made before the handler (a wrong method, a body too large or too slow) carry
/// it too.
pub(super) async fn nonce_header(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    let token = state.policy().dpop_nonce && req.uri().path() == TOKEN_PATH;
    let mut response = next.run(req).await;
    if token {
        if let Ok(v) = HeaderValue::from_str(&state.dpop_nonce()) {
            response.headers_mut().insert(DPOP_NONCE, v);
        }
    }
    response
}

/// A 401 with a `DPoP` challenge (RFC 9449 §7.1): `error` and why, and the algorithms.
pub(super) fn challenge(error: &'static str, why: &'static str) -> Response {
    let value = format!(
        "DPoP realm=\"tokenlife\", error=\"{error}\", error_description=\"{why}\", algs=\"ES256\""
    );
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The proof of a resource call with the `DPoP` scheme for `access_token`: the checked
/// proof (its key still to be matched against the token's), or the challenge's error and
/// why.
pub(super) async fn at_resource(
    state: &AppState,
    headers: &HeaderMap,
    access_token: &str,
) -> Result<Result<Proof, ResourceRefusal>, AppError> {
    let proof = read(state, headers, "GET", RESOURCE_PATH).await?;
    let ath_matches =
        matches!(&proof, ProofRead::Valid { proof, .. } if proof.ath_of(access_token));
    Ok(resource_proof(state.defects(), proof, ath_matches))
}
