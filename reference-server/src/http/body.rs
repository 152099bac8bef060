//! Reading a request's body before any handler runs: whole, within the body timeout and
//! within [`BODY_LIMIT`](super::BODY_LIMIT), so that a slow or oversized body is an OAuth
//! error (RFC 6749 §5.2's JSON shape) instead of a connection held open or a text/plain 413.
//!
//! A body over the limit is read on and dropped for a while (up to [`DRAIN`] more bytes,
//! within the same timeout) before the answer, so that a client still sending it gets the
//! 413 instead of a reset connection; the connection is then closed.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use tokenlife_model::ErrorCode;

use crate::error::AppError;
use crate::state::AppState;

/// How much of an oversized body is read and dropped before answering 413.
pub(crate) const DRAIN: usize = 1024 * 1024;

/// How far reading a body got, kept outside the future so a timeout can still tell.
#[derive(Debug, Default)]
struct Progress {
    kept: Vec<u8>,
    over: bool,
    dropped: usize,
}

/// Why a body was not read.
#[derive(Debug)]
enum Fault {
    TooLarge,
    Broken,
}

async fn read(mut body: Body, limit: usize, p: &mut Progress) -> Result<(), Fault> {
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Fault::Broken)?.into_data() else {
            continue;
        };
        if !p.over && p.kept.len() + data.len() <= limit {
            p.kept.extend_from_slice(&data);
            continue;
        }
        p.over = true;
        p.dropped += data.len();
        if p.dropped > DRAIN {
            return Err(Fault::TooLarge);
        }
    }
    if p.over {
        Err(Fault::TooLarge)
    } else {
        Ok(())
    }
}

fn refuse(status: StatusCode, description: &'static str) -> Response {
    let mut r =
        AppError::with_status(status, ErrorCode::InvalidRequest, description).into_response();
    // Whatever is left of the body is not read: the connection cannot carry another request.
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn too_large() -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is larger than 64 KiB",
    )
}

/// The middleware: the request goes on with its body read, or is answered here.
pub(crate) async fn read_whole(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let limit = super::BODY_LIMIT;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (limit + DRAIN) as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let mut progress = Progress::default();
    match tokio::time::timeout(state.body_timeout(), read(body, limit, &mut progress)).await {
        Ok(Ok(())) => {
            let body = Body::from(Bytes::from(progress.kept));
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(Fault::TooLarge)) => too_large(),
        Err(_) if progress.over => too_large(),
        Ok(Err(Fault::Broken)) => refuse(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        ),
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive within the body timeout",
        ),
    }
}

/// `405` for a method an OAuth endpoint does not take, as an OAuth error with `Allow`.
pub(crate) async fn post_only() -> Response {
    let mut r = AppError::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::InvalidRequest,
        "this endpoint takes POST only",
    )
    .into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}
