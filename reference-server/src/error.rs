//! One error type for every handler: protocol errors become RFC error bodies, internal
//! errors an opaque, logged 500.
//!
//! RFC 6749 §5.2 (token endpoint errors: 400, or 401 + `WWW-Authenticate` for failed
//! client authentication through the Authorization header), RFC 7009 §2.2.1, RFC 7662 §2.3.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokenlife_model::ErrorCode;

/// An error a handler returns.
#[derive(Debug)]
pub enum AppError {
    /// An OAuth 2.0 error response.
    OAuth(OAuthError),
    /// Something failed inside the server; the client learns nothing more than a 500.
    Internal(String),
}

/// An OAuth 2.0 error response: status, `error` code and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The HTTP status (400 unless stated).
    pub status: StatusCode,
    /// The `error` member.
    pub code: ErrorCode,
    /// The `error_description` member.
    pub description: Cow<'static, str>,
    /// Whether to send `WWW-Authenticate: Basic` (the client tried the Authorization header).
    pub basic_challenge: bool,
}

impl AppError {
    /// A 400 with `code`.
    pub fn bad(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> AppError {
        AppError::OAuth(OAuthError {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            basic_challenge: false,
        })
    }

    /// An OAuth error with another status than 400 (413, 408, 405: what HTTP says went
    /// wrong, in RFC 6749 §5.2's shape).
    pub fn with_status(
        status: StatusCode,
        code: ErrorCode,
        description: impl Into<Cow<'static, str>>,
    ) -> AppError {
        AppError::OAuth(OAuthError {
            status,
            code,
            description: description.into(),
            basic_challenge: false,
        })
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> AppError {
        AppError::bad(ErrorCode::InvalidRequest, description)
    }

    /// 400 `invalid_grant`.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> AppError {
        AppError::bad(ErrorCode::InvalidGrant, description)
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> AppError {
        AppError::bad(ErrorCode::InvalidScope, description)
    }

    /// 401 `invalid_client`, with a `Basic` challenge when the client used that scheme.
    pub fn invalid_client(
        description: impl Into<Cow<'static, str>>,
        basic_challenge: bool,
    ) -> AppError {
        AppError::OAuth(OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::InvalidClient,
            description: description.into(),
            basic_challenge,
        })
    }

    /// An internal failure, logged where it is turned into a response.
    pub fn internal(what: impl Into<String>) -> AppError {
        AppError::Internal(what.into())
    }

    /// The OAuth error, if this is one (for tests and defect rewrites).
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            AppError::OAuth(e) => Some(e),
            AppError::Internal(_) => None,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        // sqlx errors carry the statement at most, never bound values, so no token leaks.
        AppError::Internal(format!("database: {e}"))
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::OAuth(e) => {
                let body = serde_json::json!({
                    "error": e.code.as_str(),
                    "error_description": e.description,
                });
                let mut response = (e.status, Json(body)).into_response();
                no_store(&mut response);
                if e.basic_challenge {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"tokenlife\""),
                    );
                }
                response
            }
            AppError::Internal(what) => {
                tracing::error!(error = %what, "internal error");
                // RFC 6749 §5.2's shape, so that a client's error handling reads it too.
                let body = serde_json::json!({
                    "error": ErrorCode::ServerError.as_str(),
                    "error_description": "internal server error",
                });
                let mut response = (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
                no_store(&mut response);
                response
            }
        }
    }
}
