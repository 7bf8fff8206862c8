//! The streaming turn's server-sent events.

use futures::stream::BoxStream;
use futures::StreamExt;
use poem::web::sse::Event;
use poem::{IntoResponse, Response};
use poem_openapi::payload::{EventStream, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::ToJSON;
use poem_openapi::types::Type;
use poem_openapi::{Object, Union};
use std::time::Duration;

use super::models::Message;
use crate::http::error::{ApiError, ErrorObject};
use convo_core::{TurnEvent, TurnStream};

/// `message.created`: the user message is stored and generation starts.
#[derive(Debug, Clone, Object)]
pub struct MessageCreatedEvent {
    /// Position of this event in the stream (0, 1, 2…); also the SSE `id`.
    pub sequence_number: u64,
    /// The stored user message.
    pub user_message: Message,
    /// The id the assistant message will be stored under.
    pub assistant_message_id: String,
}

/// `message.delta`: new text of the reply.
#[derive(Debug, Clone, Object)]
pub struct MessageDeltaEvent {
    /// Position of this event in the stream.
    pub sequence_number: u64,
    /// The assistant message's id.
    pub message_id: String,
    /// Text to append.
    pub delta: String,
}

/// `message.completed`: the reply is stored (the last event).
#[derive(Debug, Clone, Object)]
pub struct MessageCompletedEvent {
    /// Position of this event in the stream.
    pub sequence_number: u64,
    /// The stored assistant message, with `usage` and `finish_reason`.
    pub message: Message,
}

/// `error`: the turn failed; no assistant message was stored (the last event).
#[derive(Debug, Clone, Object)]
pub struct ErrorEvent {
    /// Position of this event in the stream.
    pub sequence_number: u64,
    /// The same object as an error response's `error`.
    pub error: ErrorObject,
}

/// One event; `type` repeats the SSE event name.
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "type", one_of)]
pub enum StreamEvent {
    /// `message.created`.
    #[oai(mapping = "message.created")]
    Created(MessageCreatedEvent),
    /// `message.delta`.
    #[oai(mapping = "message.delta")]
    Delta(MessageDeltaEvent),
    /// `message.completed`.
    #[oai(mapping = "message.completed")]
    Completed(MessageCompletedEvent),
    /// `error`.
    #[oai(mapping = "error")]
    Error(ErrorEvent),
}

impl StreamEvent {
    fn name_and_seq(&self) -> (&'static str, u64) {
        match self {
            StreamEvent::Created(e) => ("message.created", e.sequence_number),
            StreamEvent::Delta(e) => ("message.delta", e.sequence_number),
            StreamEvent::Completed(e) => ("message.completed", e.sequence_number),
            StreamEvent::Error(e) => ("error", e.sequence_number),
        }
    }
}

/// One server-sent event as it travels: the shape a client parsing the
/// stream sees (`event:`, `id:`, `data:` lines).
#[derive(Debug, Clone, Object)]
pub struct TurnStreamEvent {
    /// `message.created`, `message.delta`, `message.completed` or `error`.
    pub event: String,
    /// The event's `sequence_number`: 0, 1, 2…
    pub id: String,
    /// The event as JSON: a `StreamEvent` whose `type` repeats `event`.
    pub data: String,
}

/// The SSE body of a streaming turn.
///
/// poem-openapi documents an event stream as an *array* of its payloads;
/// clients (and schemathesis) check each event, so this documents one event
/// on the wire ([`TurnStreamEvent`]) and registers [`StreamEvent`], the
/// schema of its `data`.
pub struct TurnEventStream(EventStream<BoxStream<'static, StreamEvent>>);

impl Payload for TurnEventStream {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        TurnStreamEvent::schema_ref()
    }

    fn register(registry: &mut Registry) {
        TurnStreamEvent::register(registry);
        StreamEvent::register(registry);
    }
}

impl IntoResponse for TurnEventStream {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

/// Maps the engine's turn events to numbered SSE events. `request_id` is
/// captured now: the stream is polled after the request's scope has ended.
pub fn sse(turn: TurnStream, request_id: String, keep_alive: Duration) -> TurnEventStream {
    // Counted as open (`convo_sse_streams_open`) until the body is dropped.
    let open = crate::http::metrics::OpenStream::open();
    let events = turn
        // Tool rounds' events get SSE shapes of their own with the
        // tool-call routes; until then a stream shows the final reply only.
        .filter(|event| {
            futures::future::ready(!matches!(
                event,
                TurnEvent::ToolCallCreated { .. }
                    | TurnEvent::ToolCallCompleted { .. }
                    | TurnEvent::MessageCompleted { .. }
            ))
        })
        .enumerate()
        .filter_map(move |(i, event)| {
            // `None`: the tool rounds' events, filtered out above.
            let _open = &open;
            let sequence_number = i as u64;
            futures::future::ready(match event {
                TurnEvent::Created {
                    user_message,
                    assistant_message_id,
                } => Some(StreamEvent::Created(MessageCreatedEvent {
                    sequence_number,
                    user_message: (*user_message).into(),
                    assistant_message_id: assistant_message_id.to_string(),
                })),
                TurnEvent::Delta { message_id, text } => {
                    Some(StreamEvent::Delta(MessageDeltaEvent {
                        sequence_number,
                        message_id: message_id.to_string(),
                        delta: text,
                    }))
                }
                TurnEvent::Completed { message } => {
                    Some(StreamEvent::Completed(MessageCompletedEvent {
                        sequence_number,
                        message: (*message).into(),
                    }))
                }
                TurnEvent::Failed { error } => {
                    let mut error = ApiError::from(error).body().error;
                    error.request_id.clone_from(&request_id);
                    Some(StreamEvent::Error(ErrorEvent {
                        sequence_number,
                        error,
                    }))
                }
                TurnEvent::ToolCallCreated { .. }
                | TurnEvent::ToolCallCompleted { .. }
                | TurnEvent::MessageCompleted { .. } => None,
            })
        })
        .boxed();
    TurnEventStream(
        EventStream::new(events)
            .keep_alive(keep_alive)
            .to_event(|event| {
                let (name, seq) = event.name_and_seq();
                Event::message(event.to_json_string())
                    .event_type(name)
                    .id(seq.to_string())
            }),
    )
}
