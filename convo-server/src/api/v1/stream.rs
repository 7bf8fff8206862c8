//! Streamed answers in OpenAI's chunk format: `data: {chat.completion.chunk}`
//! events, the first with `delta.role`, the last with `finish_reason`, then
//! (when `stream_options.include_usage` is set) one with `usage` and no
//! choices, then `data: [DONE]`. A failure after the stream has started is
//! one `data: {"error": {…}}` event, and the stream ends without `[DONE]`
//! (OpenAI's SDKs raise it as an `APIError`).

use std::time::Duration;

use convo_core::llm::{ChunkStream, LlmChunk};
use convo_core::{ConvoError, FinishReason, LlmError, ToolCall, TurnEvent, TurnStream, Usage};
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use poem::web::sse::{Event, SSE};
use poem::{IntoResponse, Response};

use super::error::OpenAiError;
use super::tools;
use super::wire::{finish_reason, ChunkMeta, Delta};

/// What happens next in a reply, whichever engine call produces it.
pub enum Frame {
    /// New text.
    Text(String),
    /// A call the model made (whole).
    ToolCall(ToolCall),
    /// The reply ended.
    Finish(FinishReason, Option<Usage>),
    /// The reply broke off.
    Fail(OpenAiError),
}

/// The frames of a stateless completion.
pub fn from_chunks(chunks: ChunkStream) -> BoxStream<'static, Frame> {
    chunks
        .filter_map(|item| async move {
            Some(match item {
                Ok(LlmChunk::Text(text)) => Frame::Text(text),
                Ok(LlmChunk::ToolCall(call)) => Frame::ToolCall(call),
                Ok(LlmChunk::Finish {
                    finish_reason,
                    usage,
                    ..
                }) => Frame::Finish(finish_reason, usage),
                Err(e) => Frame::Fail(OpenAiError::from_convo(ConvoError::Llm(e), "")),
            })
        })
        .boxed()
}

/// The frames of a turn of a stored session.
pub fn from_turn(turn: TurnStream) -> BoxStream<'static, Frame> {
    turn.filter_map(|event| async move {
        match event {
            // A stored turn runs the agent's own tools on the server: the
            // caller sees the final answer, not the rounds.
            TurnEvent::Created { .. }
            | TurnEvent::ToolCallCreated { .. }
            | TurnEvent::ToolCallCompleted { .. }
            | TurnEvent::MessageCompleted { .. } => None,
            TurnEvent::Delta { text, .. } => Some(Frame::Text(text)),
            TurnEvent::Completed { message } => Some(Frame::Finish(
                message.finish_reason.unwrap_or(FinishReason::Stop),
                message.usage,
            )),
            TurnEvent::Failed { error } => Some(Frame::Fail(OpenAiError::from_convo(error, ""))),
        }
    })
    .boxed()
}

/// The `text/event-stream` response for `frames`.
pub fn sse(
    frames: BoxStream<'static, Frame>,
    meta: ChunkMeta,
    include_usage: bool,
    keep_alive: Duration,
) -> Response {
    let first = meta.chunk(
        Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            tool_calls: None,
        },
        None,
    );
    let head = stream::iter([to_json(&first)]);
    // `None` marks the end of the frames: a reply that ends without a
    // finish was cut short. The state: whether it ended, and how many
    // calls were streamed (each call's `index`).
    let body = frames
        .map(Some)
        .chain(stream::once(async { None }))
        .scan((false, 0usize), move |(done, calls), frame| {
            if *done {
                return futures::future::ready(None);
            }
            let events = match frame {
                Some(Frame::Text(text)) if text.is_empty() => Vec::new(),
                Some(Frame::Text(text)) => vec![to_json(&meta.chunk(
                    Delta {
                        content: Some(text),
                        ..Delta::default()
                    },
                    None,
                ))],
                Some(Frame::ToolCall(call)) => {
                    *calls += 1;
                    tools::fragments(*calls - 1, &call)
                        .into_iter()
                        .map(|fragment| {
                            to_json(&meta.chunk(
                                Delta {
                                    tool_calls: Some(vec![fragment]),
                                    ..Delta::default()
                                },
                                None,
                            ))
                        })
                        .collect()
                }
                Some(Frame::Finish(reason, usage)) => {
                    *done = true;
                    let mut events = vec![to_json(
                        &meta.chunk(Delta::default(), Some(finish_reason(reason))),
                    )];
                    if include_usage {
                        events.push(to_json(&meta.usage_chunk(usage)));
                    }
                    events.push("[DONE]".to_owned());
                    events
                }
                Some(Frame::Fail(err)) => {
                    *done = true;
                    vec![err.event_data()]
                }
                None => {
                    *done = true;
                    let err = OpenAiError::from_convo(
                        ConvoError::Llm(LlmError::Provider(
                            "the model's stream ended without a finish reason".into(),
                        )),
                        "",
                    );
                    vec![err.event_data()]
                }
            };
            futures::future::ready(Some(stream::iter(events)))
        })
        .flatten();
    let events = head.chain(body).map(Event::message);
    SSE::new(events).keep_alive(keep_alive).into_response()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}
