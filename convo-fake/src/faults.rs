//! The faults both wire formats play the same way: those that come
//! instead of an answer (a status, no answer, a reset), a unary body
//! broken or cut short, and which chunks a broken stream sends. Each
//! format only words its own error bodies and frames its own chunks.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::conn::ResetFlag;
use crate::http::{self, Abort, Reply, Step};
use crate::knobs::Fault;
use crate::log::{InFlight, Record};

/// Plays a fault that comes instead of the answer: a status fault (the
/// reply `status` words in the format's error body), `timeout` (no answer,
/// ever) or `reset` (an RST before any byte). `None`: the answer is made,
/// perhaps to be broken by its fault on the way.
pub async fn instead_of_answer(
    fault: Option<Fault>,
    stream: bool,
    status: impl FnOnce(Fault) -> Option<Reply>,
    record: &Record,
    flag: &ResetFlag,
) -> Option<Result<Reply, Abort>> {
    let fault = fault?;
    match fault {
        Fault::Timeout => {
            record.set("outcome", json!(fault.name()));
            // Until the server stops: the client's own timeout must fire.
            std::future::pending::<()>().await;
            Some(Err(Abort))
        }
        Fault::Reset => {
            record.set("outcome", json!(fault.name()));
            flag.raise();
            Some(Err(Abort))
        }
        _ => {
            // A unary call has no stream to break: a plain 503.
            let as_status = if fault == Fault::StreamError && !stream {
                Fault::Unavailable
            } else {
                fault
            };
            let reply = status(as_status)?;
            record.set("outcome", json!(fault.name()));
            Some(Ok(reply))
        }
    }
}

/// A unary answer's `body` as `fault` breaks it: `malformed`, a 200 whose
/// JSON stops short; `cut_stream`, the whole length announced, half of it
/// sent, then the connection dropped (`cut_stream_reset`: reset). `None`
/// when the body goes whole (`busy` is then released: the caller answers
/// at once).
pub fn unary_body(
    fault: Option<Fault>,
    body: &str,
    record: &Record,
    flag: &ResetFlag,
    busy: InFlight,
) -> Option<Reply> {
    let fault = fault?;
    let end = match fault {
        Fault::Malformed => {
            record.set("outcome", json!(fault.name()));
            let mut reply = http::json(200, &Value::Null, &[]);
            *reply.body_mut() = http::full(http::not_json(body, 40));
            return Some(reply);
        }
        Fault::CutStream => Step::Cut,
        Fault::CutStreamReset => Step::Reset,
        _ => return None,
    };
    record.set("outcome", json!(fault.name()));
    let half = Bytes::from(body.as_bytes()[..body.len() / 2].to_vec());
    Some(http::scripted(
        http::JSON,
        vec![Step::Send(half), Step::Sleep(http::RESET_PAUSE), end],
        Some(body.len()),
        flag.clone(),
        busy,
    ))
}

/// How a fault breaks a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// Every chunk, the middle one broken JSON (`malformed`).
    Malformed,
    /// Half the chunks, then a clean end (`cut_stream`).
    Cut,
    /// Half the chunks, then a reset (`cut_stream_reset`).
    Reset,
    /// Half the chunks, then an error object (`stream_error`).
    Error,
}

impl Broken {
    /// How `fault` breaks a stream (`None`: it does not).
    pub fn of(fault: Option<Fault>) -> Option<Self> {
        Some(match fault? {
            Fault::Malformed => Self::Malformed,
            Fault::CutStream => Self::Cut,
            Fault::CutStreamReset => Self::Reset,
            Fault::StreamError => Self::Error,
            _ => return None,
        })
    }

    /// How many of a stream's `n` chunks are sent: all around a malformed
    /// one; else half, and at least one, so the client has started reading
    /// when the stream breaks.
    pub fn sent(self, n: usize) -> usize {
        match self {
            Self::Malformed => n,
            _ => (n / 2).max(1),
        }
    }

    /// The chunk sent as broken JSON: the middle one of a malformed stream.
    pub fn broken_chunk(self, n: usize) -> Option<usize> {
        (self == Self::Malformed).then_some(n / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_stream_sends_half_its_chunks_or_all_around_a_broken_one() {
        let cases = [
            (Fault::CutStream, 5, 2, None),
            (Fault::CutStreamReset, 1, 1, None),
            (Fault::StreamError, 4, 2, None),
            (Fault::Malformed, 5, 5, Some(2)),
        ];
        for (fault, n, sent, broken) in cases {
            let b = Broken::of(Some(fault)).expect("breaks a stream");
            assert_eq!(b.sent(n), sent, "{fault:?} of {n} chunks");
            assert_eq!(b.broken_chunk(n), broken, "{fault:?} of {n} chunks");
        }
        assert_eq!(Broken::of(Some(Fault::Blocked)), None);
        assert_eq!(Broken::of(None), None);
    }

    #[tokio::test]
    async fn a_unary_stream_error_is_the_status_of_a_503_and_other_faults_answer() {
        let log = crate::log::RequestLog::default();
        let record = log.record(serde_json::Map::new());
        let flag = ResetFlag::default();
        let status = |f: Fault| (f == Fault::Unavailable).then(|| http::json(503, &json!({}), &[]));
        let unary =
            instead_of_answer(Some(Fault::StreamError), false, status, &record, &flag).await;
        assert_eq!(
            unary.and_then(Result::ok).map(|r| r.status().as_u16()),
            Some(503)
        );
        assert_eq!(log.requests(0, 0)[0]["outcome"], "stream_error");
        let streamed =
            instead_of_answer(Some(Fault::StreamError), true, status, &record, &flag).await;
        assert!(streamed.is_none(), "a stream breaks later, in its body");
        let reset = instead_of_answer(Some(Fault::Reset), false, status, &record, &flag).await;
        assert!(matches!(reset, Some(Err(Abort))));
    }
}
