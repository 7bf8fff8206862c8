//! A turn: the user's message in, the model's reply out, both stored.
//!
//! 1. check the session (and its agent) belongs to the caller;
//! 2. take the session's turn lock (a lease in the store) or fail with
//!    [`ConvoError::TurnInProgress`];
//! 3. with an idempotency key that already has a result, return it;
//! 4. store the user message (the store allocates its `seq`);
//! 5. load the context window: the last `context_messages` messages, empty
//!    ones left out, starting at a user message;
//! 6. call the model;
//! 7. store the reply with model, finish reason, usage and context; when it
//!    asks for tools, run them (`tools`: a round's calls at once), store
//!    their results, and go back to 6 with the new window, at most the
//!    agent's `max_tool_rounds` times (then once more with tools disabled);
//! 8. release the lock, on every path.
//!
//! Steps 6–8 run in a task of their own, so a caller that goes away neither
//! leaves the lock held nor (for a plain send) loses the reply; a streaming
//! consumer that goes away cancels generation and the text so far is stored
//! with finish reason `cancelled`.
//!
//! [`Convo::cancel_turn`] stops a running turn the same way, from any engine
//! over the same store: the request is a mark on the session's lock, which
//! the turn checks every [`Settings::cancel_poll`](super::Settings) (and at
//! once when the request is made through the engine running it).

mod begin;
mod lock;
mod preview;
mod run;
mod running;
mod tools;

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::domain::{Agent, ContextRef, Message, MessageId, UserId};
use crate::domain::{IntoId, SessionId};
use crate::engine::Convo;
use crate::error::ConvoError;
use crate::llm::LlmRequest;
use lock::TurnLock;
pub use preview::{ContextMessage, ContextPreview, SeqRange};
pub(crate) use running::TurnMetrics;

/// A message to send in a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessage {
    /// The user's text, stored exactly as given.
    pub content: String,
    /// Optional key: a repeat with the same key in the same session returns
    /// the first result without calling the model or storing anything.
    pub idempotency_key: Option<String>,
}

impl SendMessage {
    /// A message without an idempotency key.
    pub fn new(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            idempotency_key: None,
        }
    }

    /// Adds an idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// The result of a turn: the user's message and what the turn stored after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The user's message.
    pub user_message: Message,
    /// The model's last reply (the last of `messages`).
    pub assistant_message: Message,
    /// Everything the turn stored after the user message, in `seq` order:
    /// assistant messages asking for tools, tool messages, the final
    /// reply. Just the reply for a turn without tools.
    pub messages: Vec<Message>,
}

/// One event of a streamed turn: `Created`, any number of `Delta`s, then
/// exactly one of `Completed` or `Failed`. A turn with tool rounds adds,
/// per round, `MessageCompleted` (the assistant message asking for tools),
/// one `ToolCallCreated` per call, and one `ToolCallCompleted` per result,
/// before the next model call's `Delta`s.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// The user message is stored; the reply will have this id.
    Created {
        /// The stored user message (boxed: events wait in a channel per
        /// open stream, and a small event keeps thousands of streams cheap).
        user_message: Box<Message>,
        /// Id the assistant message will be stored under.
        assistant_message_id: MessageId,
    },
    /// New text of the reply.
    Delta {
        /// The assistant message's id.
        message_id: MessageId,
        /// Text to append.
        text: String,
    },
    /// The model asked for a tool (sent before the call runs, after the
    /// assistant message asking for it is stored).
    ToolCallCreated {
        /// The call.
        tool_call: Box<crate::domain::ToolCall>,
    },
    /// A tool call's result (or failure) is stored.
    ToolCallCompleted {
        /// The stored tool message.
        message: Box<Message>,
    },
    /// An assistant message that asks for tools is stored; the turn goes
    /// on. The next model call's deltas carry a new message id.
    MessageCompleted {
        /// The stored assistant message.
        message: Box<Message>,
    },
    /// The final reply is stored.
    Completed {
        /// The stored assistant message.
        message: Box<Message>,
    },
    /// The turn failed; no assistant message was stored.
    Failed {
        /// What went wrong.
        error: ConvoError,
    },
}

/// The events of a streamed turn. Dropping it cancels generation; the text
/// so far is then stored with finish reason `cancelled`.
#[derive(Debug)]
pub struct TurnStream {
    rx: mpsc::Receiver<TurnEvent>,
}

impl Stream for TurnStream {
    type Item = TurnEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TurnEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// A turn that passed every check, holds the lock and has stored its user message.
struct Prepared {
    /// When the turn started running (for the metrics).
    started: std::time::Instant,
    /// Counts against the user's limit of turns at once until the turn ends.
    _slot: Option<super::usage::TurnSlot>,
    lock: TurnLock,
    agent: Agent,
    user_message: Message,
    assistant_id: MessageId,
    request: LlmRequest,
    context: ContextRef,
    idempotency_key: Option<String>,
}

#[allow(clippy::large_enum_variant)] // built once per turn, never stored
enum Begun {
    /// An idempotent repeat: the first result.
    Replay(Turn),
    /// A new turn to run.
    Run(Prepared),
}

/// What happened to a future raced against the consumer going away.
enum Raced<T> {
    Done(T),
    Cancelled,
}

impl Convo {
    /// Sends a message and waits for the whole reply.
    ///
    /// The reply is generated and stored even if the returned future is
    /// dropped half-way. If the model fails, the user message stays stored,
    /// no assistant message is stored, and the error says which kind.
    pub async fn send_message(
        &self,
        owner: &UserId,
        session_id: impl IntoId<SessionId>,
        message: SendMessage,
    ) -> Result<Turn, ConvoError> {
        // Boxed: the checks' state is ~3 KiB, and every layer above (the
        // server's handler, its middleware) would otherwise copy it around.
        let prepared = match Box::pin(self.begin_turn(owner, session_id, message)).await? {
            Begun::Replay(turn) => return Ok(turn),
            Begun::Run(prepared) => prepared,
        };
        let engine = self.clone();
        // The turn's task logs under the caller's span (its request id).
        let span = tracing::Span::current();
        tokio::spawn(async move { engine.run_generate(prepared).await }.instrument(span))
            .await
            .map_err(|e| ConvoError::Internal(format!("turn task failed: {e}")))?
    }

    /// Sends a message and streams the reply.
    ///
    /// Every check (ownership, input, the turn lock, idempotency) happens
    /// before this returns, so its `Err` is an ordinary failure; once it
    /// returns, the outcome arrives as the stream's last event.
    pub async fn stream_message(
        &self,
        owner: &UserId,
        session_id: impl IntoId<SessionId>,
        message: SendMessage,
    ) -> Result<TurnStream, ConvoError> {
        let (tx, rx) = mpsc::channel(self.settings().stream_buffer.max(4));
        // Boxed, as in `send_message`.
        match Box::pin(self.begin_turn(owner, session_id, message)).await? {
            Begun::Replay(turn) => {
                // The channel has room for these three; the receiver is ours.
                let message_id = turn.assistant_message.id;
                let _ = tx.try_send(TurnEvent::Created {
                    user_message: Box::new(turn.user_message),
                    assistant_message_id: message_id,
                });
                if !turn.assistant_message.content.is_empty() {
                    let text = turn.assistant_message.content.clone();
                    let _ = tx.try_send(TurnEvent::Delta { message_id, text });
                }
                // A replay streams the final reply only (the whole turn is
                // in the session's history); the channel has room for these three.
                let _ = tx.try_send(TurnEvent::Completed {
                    message: Box::new(turn.assistant_message),
                });
            }
            Begun::Run(prepared) => {
                let _ = tx.try_send(TurnEvent::Created {
                    user_message: Box::new(prepared.user_message.clone()),
                    assistant_message_id: prepared.assistant_id,
                });
                let engine = self.clone();
                let span = tracing::Span::current();
                tokio::spawn(async move { engine.run_stream(prepared, tx).await }.instrument(span));
            }
        }
        Ok(TurnStream { rx })
    }

    /// Stops the turn running in a session, if any, whichever engine (server
    /// process) runs it: the text generated so far is stored with finish
    /// reason `cancelled`, and that message is the turn's result (a stream's
    /// last event is `Completed` with it). `Ok(false)` when no turn was
    /// running.
    pub async fn cancel_turn(
        &self,
        owner: &UserId,
        session_id: impl IntoId<SessionId>,
    ) -> Result<bool, ConvoError> {
        let session = self.session(owner, session_id).await?;
        let local = self.running_turns().get(&session.id).cloned();
        if let Some(cancel) = &local {
            cancel.notify_one();
        }
        let running = self.store().cancel_turn(&session.id).await?;
        Ok(running || local.is_some())
    }
}
