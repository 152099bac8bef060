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

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokenlife_model::ErrorCode;

use crate::config::Client;
use crate::defects::Defect;
use crate::dpop::{verify, Proof, Refusal, Request};
use crate::error::AppError;
use crate::state::AppState;

/// The `DPoP` request header (a proof) and the `DPoP-Nonce` response header.
pub(super) const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub(super) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The path of the token endpoint and of the resource, for `htu`.
pub(super) const TOKEN_PATH: &str = "/token";
/// The protected resource's path.
pub(super) const RESOURCE_PATH: &str = "/api/resource";

/// Why a token request's proof is not accepted.
#[derive(Debug)]
pub(super) enum TokenProofError {
    /// 400 `invalid_dpop_proof` (or another refusal) as it stands.
    Refused(AppError),
    /// The proof is valid but lacks a nonce the server accepts: 400 `use_dpop_nonce`.
    Nonce,
}

/// 400 `invalid_dpop_proof` (RFC 9449 §5).
fn invalid_proof(why: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
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

/// The proof of a token request by `client` (authenticated already): `Ok(None)` for a
/// client that does not use DPoP (and, under `dpop-refresh-without-proof`, for a refresh
/// sent without one), the checked proof otherwise, its `jti` recorded.
pub(super) fn at_token(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    grant_type: Option<&str>,
) -> Result<Option<Proof>, TokenProofError> {
    if !state.policy().uses_dpop(client.client_type()) {
        return Ok(None);
    }
    let refused = |r: Refusal| TokenProofError::Refused(invalid_proof(r.to_string()));
    let Some(text) = header_value(headers).map_err(refused)? else {
        if state.defects().has(Defect::DpopRefreshWithoutProof)
            && grant_type == Some("refresh_token")
        {
            return Ok(None);
        }
        return Err(TokenProofError::Refused(invalid_proof(
            "this client's token requests need a DPoP proof (RFC 9449 §5)",
        )));
    };
    let url = format!("{}{TOKEN_PATH}", state.issuer());
    let proof = verify(
        text,
        &Request {
            method: "POST",
            url: &url,
            now: state.now(),
            access_token: None,
            nonce: None,
        },
    )
    .map_err(refused)?;
    if !state.defects().has(Defect::DpopJtiReplay) {
        state.record_jti(&proof).map_err(refused)?;
    }
    if state.policy().dpop_nonce && !state.dpop_nonce_accepted(proof.nonce.as_deref()) {
        return Err(TokenProofError::Nonce);
    }
    Ok(Some(proof))
}

/// Adds the current `DPoP-Nonce` to a token endpoint's answer, when the policy asks for
/// nonces (every answer carries one, so a client always has the current one).
pub(super) fn add_nonce(state: &AppState, response: &mut Response) {
    if !state.policy().dpop_nonce {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&state.dpop_nonce()) {
        response.headers_mut().insert(DPOP_NONCE, v);
    }
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

/// Why a resource call's proof is refused: the `error` of the `DPoP` challenge and why.
pub(super) type ResourceRefusal = (&'static str, &'static str);

/// The proof of a resource call with the `DPoP` scheme for `access_token`: the checked
/// proof, its `jti` recorded, or the challenge to answer with. `dpop-ath-unchecked` leaves
/// `ath` out.
pub(super) fn at_resource(
    state: &AppState,
    headers: &HeaderMap,
    access_token: &str,
) -> Result<Proof, ResourceRefusal> {
    let bad = |_: Refusal| ("invalid_dpop_proof", "the DPoP proof is invalid");
    let Some(text) = header_value(headers).map_err(bad)? else {
        return Err((
            "invalid_token",
            "a DPoP-bound access token needs a DPoP proof",
        ));
    };
    let url = format!("{}{RESOURCE_PATH}", state.issuer());
    let ath_checked = !state.defects().has(Defect::DpopAthUnchecked);
    let proof = verify(
        text,
        &Request {
            method: "GET",
            url: &url,
            now: state.now(),
            access_token: ath_checked.then_some(access_token),
            nonce: None,
        },
    )
    .map_err(bad)?;
    state.record_jti(&proof).map_err(bad)?;
    Ok(proof)
}
