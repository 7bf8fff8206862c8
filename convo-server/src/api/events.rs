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

use super::models::{Message, ToolCall};
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

/// `message.completed`: an assistant message is stored: one asking for tools
/// (`finish_reason: "tool_calls"`; the turn goes on), or the reply (the last event).
#[derive(Debug, Clone, Object)]
pub struct MessageCompletedEvent {
    /// Position of this event in the stream.
    pub sequence_number: u64,
    /// The stored assistant message, with `usage` and `finish_reason`.
    pub message: Message,
}

/// `tool_call.created`: the model asked for a tool (after the `message.completed` of
/// the assistant message that asks).
#[derive(Debug, Clone, Object)]
pub struct ToolCallCreatedEvent {
    /// Position of this event in the stream.
    pub sequence_number: u64,
    /// The call.
    pub tool_call: ToolCall,
}

/// `tool_call.completed`: a tool's result (or failure) is stored as a tool message.
#[derive(Debug, Clone, Object)]
pub struct ToolCallCompletedEvent {
    /// Position of this event in the stream.
    pub sequence_number: u64,
    /// The stored tool message (`role: "tool"`, `tool_call_id`, `name`, `is_error`).
    pub message: Message,
}

/// `turn.requires_action`: the turn is paused until the client posts the outputs of
/// these calls to `POST /api/chat/{id}/tool_outputs` (the last event).
#[derive(Debug, Clone, Object)]
pub struct RequiresActionEvent {
    /// Position of this event in the stream.
    pub sequence_number: u64,
    /// The client tool calls to answer (the session's `pending_tool_calls`).
    pub tool_calls: Vec<ToolCall>,
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
    /// `tool_call.created`.
    #[oai(mapping = "tool_call.created")]
    ToolCallCreated(ToolCallCreatedEvent),
    /// `tool_call.completed`.
    #[oai(mapping = "tool_call.completed")]
    ToolCallCompleted(ToolCallCompletedEvent),
    /// `turn.requires_action`.
    #[oai(mapping = "turn.requires_action")]
    RequiresAction(RequiresActionEvent),
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
            StreamEvent::ToolCallCreated(e) => ("tool_call.created", e.sequence_number),
            StreamEvent::ToolCallCompleted(e) => ("tool_call.completed", e.sequence_number),
            StreamEvent::RequiresAction(e) => ("turn.requires_action", e.sequence_number),
            StreamEvent::Error(e) => ("error", e.sequence_number),
        }
    }

    /// Numbers it: events are made first, numbered once the stream's order is known.
    fn numbered(mut self, n: u64) -> Self {
        match &mut self {
            StreamEvent::Created(e) => e.sequence_number = n,
            StreamEvent::Delta(e) => e.sequence_number = n,
            StreamEvent::Completed(e) => e.sequence_number = n,
            StreamEvent::ToolCallCreated(e) => e.sequence_number = n,
            StreamEvent::ToolCallCompleted(e) => e.sequence_number = n,
            StreamEvent::RequiresAction(e) => e.sequence_number = n,
            StreamEvent::Error(e) => e.sequence_number = n,
        }
        self
    }
}

/// One server-sent event as it travels: the shape a client parsing the
/// stream sees (`event:`, `id:`, `data:` lines).
#[derive(Debug, Clone, Object)]
pub struct TurnStreamEvent {
    /// `message.created`, `message.delta`, `message.completed`, `tool_call.created`,
    /// `tool_call.completed`, `turn.requires_action` or `error`.
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
    let mut mapper = Mapper::default();
    let events = turn
        .flat_map(move |event| futures::stream::iter(mapper.map(event, &request_id)))
        .enumerate()
        .map(move |(i, event)| {
            let _open = &open;
            event.numbered(i as u64)
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

/// What the mapping remembers between events: which assistant message was
/// last sent as `message.completed`, and which calls were answered since.
#[derive(Default)]
struct Mapper {
    last_completed: Option<String>,
    answered: std::collections::HashSet<String>,
}

impl Mapper {
    /// The SSE events of one engine event (numbered later).
    fn map(&mut self, event: TurnEvent, request_id: &str) -> Vec<StreamEvent> {
        let completed = |message: Message| {
            StreamEvent::Completed(MessageCompletedEvent {
                sequence_number: 0,
                message,
            })
        };
        match event {
            TurnEvent::Created {
                user_message,
                assistant_message_id,
            } => vec![StreamEvent::Created(MessageCreatedEvent {
                sequence_number: 0,
                user_message: (*user_message).into(),
                assistant_message_id: assistant_message_id.to_string(),
            })],
            TurnEvent::Delta { message_id, text } => vec![StreamEvent::Delta(MessageDeltaEvent {
                sequence_number: 0,
                message_id: message_id.to_string(),
                delta: text,
            })],
            TurnEvent::MessageCompleted { message } => {
                // A new round: the calls answered so far belong to the last one.
                self.answered.clear();
                self.last_completed = Some(message.id.to_string());
                vec![completed((*message).into())]
            }
            TurnEvent::ToolCallCreated { tool_call } => {
                vec![StreamEvent::ToolCallCreated(ToolCallCreatedEvent {
                    sequence_number: 0,
                    tool_call: (*tool_call).into(),
                })]
            }
            TurnEvent::ToolCallCompleted { message } => {
                if let Some(id) = &message.tool_call_id {
                    self.answered.insert(id.clone());
                }
                vec![StreamEvent::ToolCallCompleted(ToolCallCompletedEvent {
                    sequence_number: 0,
                    message: (*message).into(),
                })]
            }
            TurnEvent::Completed { message } => self.final_events(*message, completed),
            TurnEvent::Failed { error } => {
                let mut error = ApiError::from(error).body().error;
                error.request_id = request_id.to_owned();
                vec![StreamEvent::Error(ErrorEvent {
                    sequence_number: 0,
                    error,
                })]
            }
        }
    }

    /// The last events: the reply's `message.completed`; or, for a turn
    /// that paused (its last message asks for tools), `turn.requires_action`
    /// with the calls no `tool_call.completed` answered, after the asking
    /// message's `message.completed` unless it was sent already.
    fn final_events(
        &mut self,
        message: convo_core::Message,
        completed: impl Fn(Message) -> StreamEvent,
    ) -> Vec<StreamEvent> {
        let paused = message.finish_reason == Some(convo_core::FinishReason::ToolCalls)
            && !message.tool_calls.is_empty();
        if !paused {
            return vec![completed(message.into())];
        }
        let pending: Vec<ToolCall> = message
            .tool_calls
            .iter()
            .filter(|c| !self.answered.contains(&c.id))
            .cloned()
            .map(Into::into)
            .collect();
        let mut events = Vec::with_capacity(2);
        if self.last_completed.as_deref() != Some(message.id.to_string().as_str()) {
            events.push(completed(message.into()));
        }
        events.push(StreamEvent::RequiresAction(RequiresActionEvent {
            sequence_number: 0,
            tool_calls: pending,
        }));
        events
    }
}
