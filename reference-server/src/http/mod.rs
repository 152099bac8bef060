//! HTTP wiring: the router and one module per endpoint.
//!
//! Endpoints: RFC 8414 discovery, RFC 6749 §4.1 `/authorize` and §3.2 `/token`, RFC 7009
//! `/revoke`, RFC 7662 `/introspect`, an RFC 6750 protected resource, and the test clock;
//! RFC 9449 DPoP proofs at the token endpoint and the resource ([`dpop`]).
//! Bodies are read whole before a handler runs, within the body timeout and 64 KiB
//! ([`body`]); every answer of `/token`, `/revoke` and `/introspect`, a wrong method, an
//! oversized or slow body included, is an RFC 6749 §5.2 JSON error. No log line carries a
//! query string or a body.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderMap};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::form::{FormError, Params};
use crate::state::AppState;

mod authorize;
mod body;
mod discovery;
mod dpop;
mod introspect;
mod resource;
mod revoke;
mod test_clock;
mod token;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The server's routes over `state`. `POST /test/clock` exists only with a test clock.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/{*issuer_path}",
            get(discovery::metadata),
        )
        .route("/authorize", get(authorize::authorize))
        .route("/cb", get(authorize::callback))
        .route("/token", post(token::token).fallback(body::post_only))
        .route("/revoke", post(revoke::revoke).fallback(body::post_only))
        .route(
            "/introspect",
            post(introspect::introspect).fallback(body::post_only),
        )
        .route("/api/resource", get(resource::resource));
    if state.test_clock() {
        router = router.route(
            "/test/clock",
            post(test_clock::advance).get(test_clock::read),
        );
    }
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(state.clone(), body::read_whole))
        .layer(from_fn_with_state(state.clone(), dpop::nonce_header))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: query strings can carry codes.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// Reads an `application/x-www-form-urlencoded` body strictly (RFC 6749 §3.2: POST with
/// form parameters; §3.1: no repeated parameters).
pub(crate) fn form_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, AppError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(AppError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
    }
    let params = Params::parse(body).map_err(form_error)?;
    params.no_repeats().map_err(form_error)?;
    Ok(params)
}

pub(crate) fn form_error(e: FormError) -> AppError {
    AppError::invalid_request(e.to_string())
}
