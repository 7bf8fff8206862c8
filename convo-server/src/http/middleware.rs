//! Around every request: an id, one log line, the body limit and deadline,
//! and the connection's bookkeeping for the head deadline ([`crate::http::connection`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use crate::http::connection::{ConnectionState, Connections};
use crate::http::error::{ApiError, REQUEST_ID};
use crate::http::routes::RouteTable;

/// Name of the request id header.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Gives the request an id (kept from the client when it is a sane token),
/// runs it with that id in scope, stamps the response, and logs one line.
/// Bodies, headers and query strings are not logged: they carry secrets and
/// message contents.
///
/// With a [`Connections`] table in the request data, it also tells the
/// request's connection that a head arrived (and, at the end, that the
/// request was read), and hands the connection's state to [`body_limit`].
pub async fn request_context<E: Endpoint>(
    next: E,
    mut req: Request,
    routes: &'static RouteTable,
) -> poem::Result<Response> {
    let started = Instant::now();
    let connection = req
        .remote_addr()
        .as_socket_addr()
        .copied()
        .and_then(|peer| req.data::<Connections>()?.get(&peer));
    if let Some(connection) = &connection {
        connection.request_started();
        req.extensions_mut().insert(connection.clone());
    }
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // Everything logged while handling the request (engine, store, model
    // provider, and the turn's own task) carries its id.
    let span = tracing::info_span!("request", request_id = %id);
    // Boxed: the layers inside are one large future, which every layer
    // outside (and poem's own boxing) would otherwise copy as it moves.
    let inner: std::pin::Pin<Box<dyn std::future::Future<Output = poem::Result<Response>> + Send>> =
        Box::pin(async move { next.call(req).await.map(IntoResponse::into_response) });
    let inner = crate::credentials::bearer_verdict_scope(inner);
    let result = REQUEST_ID.scope(id.clone(), inner.instrument(span)).await;
    // Errors were turned into responses inside; anything left is answered here.
    let mut resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            REQUEST_ID
                .scope(id.clone(), async move {
                    ApiError::from_poem(&err).into_response()
                })
                .await
        }
    };
    if let Some(connection) = connection {
        connection.request_read();
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if resp.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED {
        // RFC 9110: a 405 says which methods the resource supports.
        if let Some(allow) = routes
            .allowed_methods(&path)
            .and_then(|a| HeaderValue::from_str(&a).ok())
        {
            resp.headers_mut().insert(poem::http::header::ALLOW, allow);
        }
    }
    let status = resp.status().as_u16();
    let took = started.elapsed();
    crate::http::metrics::record_request(routes.label(&path), &method, status, took);
    let latency_ms = took.as_secs_f64() * 1000.0;
    tracing::info!(request_id = %id, %method, path = %path, status, latency_ms, "request");
    Ok(resp)
}

/// Refuses bodies over `limit` bytes with 413, whether or not they declare
/// a `Content-Length` (poem's own limit misses chunked bodies), and bodies
/// that take longer than `read_timeout` to arrive with 408 (a client
/// trickling its body would otherwise hold its connection and buffer for ever).
pub async fn body_limit<E: Endpoint>(
    next: E,
    mut req: Request,
    limit: usize,
    read_timeout: Option<Duration>,
) -> poem::Result<Response> {
    if STREAMED_UPLOADS.contains(&req.uri().path()) {
        // Read by the handler as it arrives, under its own size limit; each
        // piece must still arrive within the body read timeout.
        if let Some(timeout) = read_timeout {
            let body = req.take_body().into_bytes_stream();
            req.set_body(poem::Body::from_bytes_stream(paced(body, timeout)));
        }
        return next.call(req).await.map(IntoResponse::into_response);
    }
    // No body at all (most GETs): nothing to read or limit.
    let has_body = req
        .headers()
        .contains_key(poem::http::header::TRANSFER_ENCODING)
        || req.headers().contains_key(CONTENT_LENGTH);
    let bytes = if has_body {
        read_limited(&mut req, limit, read_timeout).await?
    } else {
        bytes::Bytes::new()
    };
    if let Some(connection) = req.extensions().get::<Arc<ConnectionState>>() {
        connection.request_read();
    }
    // An empty body with no content type is "no body": let it parse as JSON
    // `null`, so operations whose body is optional (starting a chat) accept it.
    if bytes.is_empty() && !req.headers().contains_key(CONTENT_TYPE) {
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    req.set_body(bytes);
    next.call(req).await.map(IntoResponse::into_response)
}

/// The whole body, refused with 413 over `limit` bytes (declared or not)
/// and with 408 when it takes longer than `read_timeout` to arrive.
async fn read_limited(
    req: &mut Request,
    limit: usize,
    read_timeout: Option<Duration>,
) -> poem::Result<bytes::Bytes> {
    let too_large = || poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let read = req.take_body().into_bytes_limit(limit);
    let read = match read_timeout {
        Some(timeout) => tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| poem::Error::from_status(StatusCode::REQUEST_TIMEOUT))?,
        None => read.await,
    };
    read.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => too_large(),
        other => poem::Error::from(other),
    })
}

/// Routes whose bodies are streamed to the handler rather than read whole
/// here: a project import may be far larger than the body limit, and is
/// read line by line under its own limit (`api::transfer`).
pub const STREAMED_UPLOADS: &[&str] = &["/api/projects/import"];

/// `body`, failing with `TimedOut` when a piece takes longer than `timeout`.
fn paced(
    body: impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    timeout: Duration,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    use futures::StreamExt;
    futures::stream::unfold(Box::pin(body), move |mut body| async move {
        match tokio::time::timeout(timeout, body.next()).await {
            Ok(Some(piece)) => Some((piece, body)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body stalled past the body read timeout",
                )),
                body,
            )),
        }
    })
}
