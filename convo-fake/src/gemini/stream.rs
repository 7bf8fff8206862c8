//! `streamGenerateContent`: an answer as chunks, and the chunks as a body
//! (SSE with `alt=sse`, else one JSON array), broken as a fault asks.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::errors::google_error;
use super::plan::Plan;
use super::request::Info;
use super::response::{candidate, text_parts, usage, wrap, Meta};
use crate::faults::Broken;
use crate::http::{self, Step};
use crate::knobs::Knobs;
use crate::text::pieces;

/// Stream chunks: [thought chunk] + text chunks + a final chunk with the
/// finish reason and an empty text part (holding the signature on Gemini 3).
/// `chunks` counts the answer's events; calls come whole in one chunk.
pub(super) fn stream_chunks(
    info: &Info,
    p: &Plan,
    knobs: &Knobs,
    meta: &Meta,
    empty_final_forced: bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(t) = &p.thought_text {
        out.push(wrap(
            candidate(
                Some(vec![json!({"text": t, "thought": true})]),
                true,
                None,
                None,
            ),
            usage(info, "", p.thoughts),
            meta,
        ));
    }
    if p.calls.is_some() {
        out.push(wrap(
            candidate(
                Some(p.call_parts.clone()),
                true,
                Some(&p.finish_reason),
                None,
            ),
            usage(info, &p.out_text, p.thoughts),
            meta,
        ));
        return out;
    }
    let n = knobs.int("chunks").filter(|n| *n > 0).unwrap_or(4) as usize;
    let empty_final =
        (empty_final_forced || knobs.text("final_chunk").unwrap_or("empty") == "empty") && n > 1;
    let pieces = if p.text.is_empty() {
        Vec::new()
    } else {
        pieces(&p.text, if empty_final { n - 1 } else { n })
    };
    let mut so_far = String::new();
    let count = pieces.len();
    for (i, piece) in pieces.iter().enumerate() {
        so_far.push_str(piece);
        let finish = (!empty_final && i + 1 == count).then_some(p.finish_reason.as_str());
        let mut parts = text_parts(piece, knobs.int("parts"));
        if let (Some(_), Some(sig), Some(last)) = (finish, &p.text_signature, parts.last_mut()) {
            last["thoughtSignature"] = json!(sig);
        }
        out.push(wrap(
            candidate(Some(parts), true, finish, None),
            usage(info, &so_far, p.thoughts),
            meta,
        ));
    }
    if empty_final || pieces.is_empty() {
        let last = match &p.text_signature {
            Some(sig) => json!({"text": "", "thoughtSignature": sig}),
            None => json!({"text": ""}),
        };
        let parts = (!pieces.is_empty()).then(|| vec![last]);
        out.push(wrap(
            candidate(parts, true, Some(&p.finish_reason), None),
            usage(info, &p.text, p.thoughts),
            meta,
        ));
    }
    out
}

/// The body of a stream: SSE events `data: {json}\r\n\r\n`, or without
/// `alt=sse` one JSON array written as it goes; `broken` ends it as its
/// fault asks (a stream error as bare pretty JSON, as seen from the real
/// API inside a 200 stream, or framed as `data:` when `data_framed`).
pub(super) fn stream_steps(
    sse: bool,
    chunks: &[Value],
    pause: Duration,
    broken: Option<Broken>,
    data_framed: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if !sse {
        steps.push(Step::Send(Bytes::from_static(b"[")));
    }
    let broken_chunk = broken.and_then(|b| b.broken_chunk(chunks.len()));
    steps.extend(http::events(chunks, pause, broken_chunk, |i, text| {
        if sse {
            format!("data: {text}\r\n\r\n")
        } else if i > 0 {
            format!(",\r\n{text}")
        } else {
            text
        }
    }));
    match broken {
        Some(Broken::Reset) => {
            steps.extend(http::reset_end());
            return steps;
        }
        Some(Broken::Error) => {
            if !pause.is_zero() {
                steps.push(Step::Sleep(pause));
            }
            let error = google_error(503, None, None, None);
            let tail = if !sse {
                format!(
                    "{}{}",
                    if chunks.is_empty() { "" } else { ",\r\n" },
                    serde_json::to_string_pretty(&error).unwrap_or_default()
                )
            } else if data_framed {
                format!("data: {error}\r\n\r\n")
            } else {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&error).unwrap_or_default()
                )
            };
            steps.push(Step::Send(Bytes::from(tail)));
        }
        _ => {}
    }
    if !sse && broken != Some(Broken::Cut) {
        steps.push(Step::Send(Bytes::from_static(b"]")));
    }
    steps
}
