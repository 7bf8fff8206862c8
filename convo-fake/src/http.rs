//! Responses: whole JSON bodies, and scripted bodies played over time (a
//! stream with pauses, a body cut short, a reset mid-way).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::conn::ResetFlag;
use crate::log::InFlight;

/// Why a body stopped on purpose; hyper then drops the connection.
#[derive(Debug, thiserror::Error)]
#[error("the fake cut the connection on purpose")]
pub struct Abort;

/// A response body.
pub type Body = UnsyncBoxBody<Bytes, Abort>;

/// A response.
pub type Reply = Response<Body>;

/// The JSON content type Google's and OpenAI's APIs answer with.
pub const JSON: &str = "application/json; charset=UTF-8";

/// `status` with `body` as JSON and `headers`.
pub fn json(status: u16, body: &Value, headers: &[(&'static str, String)]) -> Reply {
    let text = body.to_string();
    let mut reply = Response::new(full(text));
    *reply.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            reply.headers_mut().insert(*name, value);
        }
    }
    reply
}

/// A whole body.
pub fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// One step of a scripted body.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send these bytes.
    Send(Bytes),
    /// Wait.
    Sleep(Duration),
    /// End the body with an error: hyper drops the connection (FIN).
    Cut,
    /// As `Cut`, but the connection is reset (RST).
    Reset,
}

/// A 200 whose body plays `steps` on a task of its own (so pauses do not
/// hold the connection's other work); `length` announces a Content-Length.
pub fn scripted(
    content_type: &'static str,
    steps: Vec<Step>,
    length: Option<usize>,
    flag: ResetFlag,
    busy: InFlight,
) -> Reply {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Abort>>(1);
    tokio::spawn(async move {
        let _busy = busy;
        for step in steps {
            let item = match step {
                Step::Send(bytes) => Ok(Frame::data(bytes)),
                Step::Sleep(pause) => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
                Step::Cut => Err(Abort),
                Step::Reset => {
                    flag.raise();
                    Err(Abort)
                }
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    let frames =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut reply = Response::new(BodyExt::boxed_unsync(StreamBody::new(frames.boxed())));
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type.starts_with("text/event-stream") {
        headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    if let Some(n) = length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    reply
}
