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

/// The first `keep` characters of `json`, then text no parser takes: the
/// body of a `malformed` fault.
pub fn not_json(json: &str, keep: usize) -> String {
    format!("{}<<not json", json.chars().take(keep).collect::<String>())
}

/// The steps of a stream of `chunks`: each framed by `frame` (its index
/// and JSON text), `pause` between two; the chunk at `broken` (a
/// `malformed` fault) is sent as [`not_json`].
pub fn events(
    chunks: &[Value],
    pause: Duration,
    broken: Option<usize>,
    frame: impl Fn(usize, String) -> String,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 && !pause.is_zero() {
            steps.push(Step::Sleep(pause));
        }
        let mut text = chunk.to_string();
        if broken == Some(i) {
            text = not_json(&text, 30);
        }
        steps.push(Step::Send(Bytes::from(frame(i, text))));
    }
    steps
}

/// The end of a body that resets its connection: a short pause first, so
/// what was sent reaches the client before the RST.
pub fn reset_end() -> [Step; 2] {
    [Step::Sleep(RESET_PAUSE), Step::Reset]
}

/// How long a body waits before it cuts or resets its connection.
pub const RESET_PAUSE: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn events_are_framed_paused_between_and_the_broken_one_is_not_json() {
        let chunks = [json!({"a": 1}), json!({"b": 2}), json!({"c": 3})];
        let steps = events(&chunks, Duration::from_millis(5), Some(1), |i, t| {
            format!("{i}:{t}|")
        });
        let pauses = steps.iter().filter(|s| matches!(s, Step::Sleep(_))).count();
        assert_eq!(
            pauses, 2,
            "a pause between two chunks, none before the first"
        );
        assert_eq!(
            sent(&steps),
            ["0:{\"a\":1}|", "1:{\"b\":2}<<not json|", "2:{\"c\":3}|"]
        );
    }
}
