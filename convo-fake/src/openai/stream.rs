//! A streamed answer: a role chunk, content pieces (or tool call deltas),
//! the finish chunk, [a usage chunk], then `data: [DONE]`, or the end a
//! fault breaks it with.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::answer::Answer;
use crate::faults::Broken;
use crate::http::{self, Step};
use crate::knobs::Knobs;
use crate::text::pieces;

/// The chunks of `answer`; with `with_usage` (`stream_options.include_usage`)
/// a last chunk carries the usage and every other one `"usage": null`.
pub(super) fn chunks(answer: &Answer, model: &str, knobs: &Knobs, with_usage: bool) -> Vec<Value> {
    let (id, created) = (&answer.id, answer.created);
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]});
        if with_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    )];
    match &answer.tool_calls {
        Some(calls) => {
            for (i, call) in calls.iter().enumerate() {
                chunks.push(chunk(json!({"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}]}), None));
                let args = call["function"]["arguments"].as_str().unwrap_or("{}");
                for piece in pieces(args, 3) {
                    chunks.push(chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                        None,
                    ));
                }
            }
        }
        None => {
            let n = knobs.int("chunks").filter(|n| *n > 0).unwrap_or(4) as usize;
            for piece in pieces(&answer.text, n) {
                chunks.push(chunk(json!({"content": piece}), None));
            }
        }
    }
    chunks.push(chunk(json!({}), Some(&answer.finish)));
    if with_usage {
        chunks.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": answer.usage}));
    }
    chunks
}

/// The body of `chunks`: `data:` events `pause` apart, ended by
/// `[DONE]` or as `broken` asks.
pub(super) fn steps(chunks: &[Value], pause: Duration, broken: Option<Broken>) -> Vec<Step> {
    let n = chunks.len();
    let sent = broken.map_or(n, |b| b.sent(n));
    let broken_chunk = broken.and_then(|b| b.broken_chunk(n));
    let mut steps = http::events(&chunks[..sent], pause, broken_chunk, |_, data| {
        format!("data: {data}\n\n")
    });
    match broken {
        Some(Broken::Cut) => {}
        Some(Broken::Reset) => steps.extend(http::reset_end()),
        Some(Broken::Error) => {
            let e = json!({"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}});
            steps.push(Step::Send(Bytes::from(format!("data: {e}\n\n"))));
        }
        _ => steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n"))),
    }
    steps
}
