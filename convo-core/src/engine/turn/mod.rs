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
//!    a round that calls `client` tools pauses the turn instead (`client`):
//!    the session records the calls it waits for, and
//!    [`Convo::submit_tool_outputs`] stores their outputs and goes on from
//!    step 6 (`resume`);
//! 8. release the lock, on every path.
//!
//! One deadline ([`Settings::turn_timeout`](super::Settings)) covers steps
//! 6–7 of a run, tool rounds included.
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
mod client;
mod lock;
mod preview;
mod resume;
mod run;
mod running;
mod tools;

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::domain::{Agent, Caller, ContextRef, Message, MessageId};
use crate::domain::{IntoId, SessionId};
use crate::engine::Convo;
use crate::error::ConvoError;
use crate::llm::LlmRequest;
use lock::TurnLock;
pub use preview::{ContextMessage, ContextPreview, SeqRange};
pub use resume::ToolOutput;
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
    /// The user's message (for a resumed turn, the one that started it).
    pub user_message: Message,
    /// The model's last reply: the final answer, or, when the turn paused,
    /// the message asking for the client tools (finish reason `tool_calls`).
    pub assistant_message: Message,
    /// Everything this call stored, in `seq` order: after the user message
    /// (or, resuming, from the tool outputs on), assistant messages asking
    /// for tools, tool messages, the last reply. Just the reply for a turn
    /// without tools.
    pub messages: Vec<Message>,
    /// The `client` tool calls the turn waits for; empty unless it paused.
    /// [`Convo::submit_tool_outputs`] answers them and continues the turn
    /// (a new message meanwhile is [`ConvoError::ToolOutputsRequired`]).
    pub pending_tool_calls: Vec<crate::domain::ToolCall>,
}

/// One event of a streamed turn: `Created`, any number of `Delta`s, then
/// exactly one of `Completed` or `Failed`. A turn with tool rounds adds,
/// per round, `MessageCompleted` (the assistant message asking for tools),
/// one `ToolCallCreated` per call, and one `ToolCallCompleted` per result,
/// before the next model call's `Delta`s.
///
/// A turn that pauses for `client` tools ends with `Completed` carrying
/// the assistant message that asks for them (finish reason `tool_calls`,
/// already sent as `MessageCompleted`): the calls it waits for are that
/// message's calls without a `ToolCallCompleted` since it. A resumed turn
/// ([`Convo::stream_tool_outputs`]) starts with `Created` (the turn's user
/// message) and one `ToolCallCompleted` per output posted.
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
    /// How many of the turn's messages were stored before this run (its
    /// user message included): 1 for a new turn, more for a resumed one.
    earlier: usize,
    /// What this run stored before its first model call (a resumed turn's
    /// tool outputs).
    resumed: Vec<Message>,
    /// Tool rounds the turn ran before this run (they count against the
    /// agent's `max_tool_rounds` across a pause).
    round: u32,
    /// The key and end user the ledger records.
    by: Attribution,
}

#[allow(clippy::large_enum_variant)] // built once per turn, never stored
enum Begun {
    /// An idempotent repeat: the first result.
    Replay(Turn),
    /// A new turn to run.
    Run(Prepared),
}

/// Who a turn is accounted to, beside the session's owner: the key that
/// sent it and the end user it served (the ledger's `key_id`, `end_user`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attribution {
    pub(crate) key_id: Option<crate::domain::KeyId>,
    pub(crate) end_user: Option<crate::domain::EndUser>,
}

impl Attribution {
    /// A turn `caller` sends in `session`: the end user is the session's
    /// (a chat key may only send in its own end user's sessions).
    pub(crate) fn of(caller: &Caller, session: &crate::domain::ChatSession) -> Self {
        Self {
            key_id: caller.api_key().map(|k| k.id),
            end_user: session.end_user.clone(),
        }
    }

    /// A stateless completion `caller` asks for: its own end user.
    pub(crate) fn stateless(caller: &Caller) -> Self {
        Self {
            key_id: caller.api_key().map(|k| k.id),
            end_user: caller.end_user().cloned(),
        }
    }
}

/// What happened to a future raced against the consumer going away.
enum Raced<T> {
    Done(T),
    Cancelled,
    /// The turn's deadline passed first.
    TimedOut,
}

impl Convo {
    /// Sends a message and waits for the whole reply.
    ///
    /// The reply is generated and stored even if the returned future is
    /// dropped half-way. If the model fails, the user message stays stored,
    /// no assistant message is stored, and the error says which kind.
    pub async fn send_message(
        &self,
        caller: impl Into<Caller>,
        session_id: impl IntoId<SessionId>,
        message: SendMessage,
    ) -> Result<Turn, ConvoError> {
        let caller = caller.into();
        // Boxed: the checks' state is ~3 KiB, and every layer above (the
        // server's handler, its middleware) would otherwise copy it around.
        let prepared = match Box::pin(self.begin_turn(&caller, session_id, message)).await? {
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
        caller: impl Into<Caller>,
        session_id: impl IntoId<SessionId>,
        message: SendMessage,
    ) -> Result<TurnStream, ConvoError> {
        let caller = caller.into();
        let (tx, rx) = mpsc::channel(self.settings().stream_buffer.max(4));
        // Boxed, as in `send_message`.
        match Box::pin(self.begin_turn(&caller, session_id, message)).await? {
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
                // in the session's history), and for a paused turn the
                // answered calls, so the unanswered ones are what `Completed`
                // waits for.
                let answered = client::answered_after_last_ask(&turn.messages);
                let events = answered
                    .into_iter()
                    .map(|m| TurnEvent::ToolCallCompleted {
                        message: Box::new(m),
                    })
                    .chain(std::iter::once(TurnEvent::Completed {
                        message: Box::new(turn.assistant_message),
                    }));
                tokio::spawn(async move {
                    for event in events {
                        let _ = tx.send(event).await;
                    }
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
    /// last event is `Completed` with it). A turn paused for client tools
    /// is ended instead: each pending call is answered with a stored tool
    /// message (`is_error`, saying the turn was cancelled) so the history
    /// never holds a call without its result, and the session is free for
    /// a new message. `Ok(false)` when no turn was running or paused.
    pub async fn cancel_turn(
        &self,
        caller: impl Into<Caller>,
        session_id: impl IntoId<SessionId>,
    ) -> Result<bool, ConvoError> {
        let session = self.session(caller, session_id).await?;
        let local = self.running_turns().get(&session.id).cloned();
        if let Some(cancel) = &local {
            cancel.notify_one();
        }
        let running = self.store().cancel_turn(&session.id).await?;
        if running || local.is_some() {
            return Ok(true);
        }
        if session.pending_tool_calls.is_empty() {
            return Ok(false);
        }
        self.drop_pending_calls(&session.owner, &session.id).await
    }
}
