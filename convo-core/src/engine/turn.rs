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
//! 7. store the reply with model, finish reason, usage and context;
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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{context, validate, Convo};
use crate::domain::{
    now, Agent, ContextRef, FinishReason, Message, MessageDraft, MessageId, Role, SessionId, UserId,
};
use crate::error::ConvoError;
use crate::llm::{LlmChunk, LlmError, LlmReply, LlmRequest};
use crate::store::{IdempotencyRecord, Store};

/// What the next turn would send: see [`Convo::context_preview`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContextPreview {
    /// The request the model would get: model, system prompt, the window's
    /// messages, generation settings.
    pub request: LlmRequest,
    /// The window's messages with their seqs, oldest first.
    pub messages: Vec<ContextMessage>,
    /// Estimated tokens of the system prompt and the window.
    pub estimated_prompt_tokens: u32,
    /// Earlier messages left out of the window, if any.
    pub left_out: Option<SeqRange>,
    /// The agent's window in messages.
    pub context_messages: u32,
    /// The agent's token budget, if any.
    pub context_tokens: Option<u32>,
}

/// A message in a [`ContextPreview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextMessage {
    /// Its seq (the pending message's is the one it would get).
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Its estimated tokens.
    pub estimated_tokens: u32,
    /// The message being previewed, not yet stored.
    pub pending: bool,
}

/// Messages `first_seq..=last_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// The first.
    pub first_seq: u64,
    /// The last.
    pub last_seq: u64,
}

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

/// The result of a turn: both stored messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The user's message.
    pub user_message: Message,
    /// The model's reply.
    pub assistant_message: Message,
}

/// One event of a streamed turn: `Created`, any number of `Delta`s, then
/// exactly one of `Completed` or `Failed`.
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
    /// The reply is stored.
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

/// A session's turn lock, held by one turn.
///
/// Release it with [`release`](Self::release). If it is dropped unreleased
/// (a panic), a task releases it. A release the store refuses (it is down)
/// is retried in the background until it succeeds or the lease would have
/// run out anyway, so a database outage does not leave sessions locked for a
/// whole lease after it ends.
struct TurnLock {
    store: Arc<dyn Store>,
    session: SessionId,
    holder: String,
    lease: Duration,
    held: bool,
}

impl TurnLock {
    async fn acquire(
        store: &Arc<dyn Store>,
        session: SessionId,
        lease: Duration,
    ) -> Result<Self, ConvoError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let taken = match store.try_lock_turn(&session, &holder, lease).await {
            Ok(taken) => taken,
            Err(e) => {
                // The answer was lost, not necessarily the write: the lock
                // may be ours now. Release it in the background, or it would
                // stay held for a whole lease (found by the database-outage
                // test under load).
                spawn_release(Arc::clone(store), session, holder, lease);
                return Err(e.into());
            }
        };
        if !taken {
            metrics::counter!("convo_turn_lock_conflicts_total").increment(1);
            return Err(ConvoError::TurnInProgress);
        }
        Ok(Self {
            store: Arc::clone(store),
            session,
            holder,
            lease,
            held: true,
        })
    }

    /// Extends the lease; a failure is logged, not fatal (the lease may still hold).
    async fn renew(&self) {
        match self
            .store
            .try_lock_turn(&self.session, &self.holder, self.lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(session = %self.session, "turn lock lease expired and was taken by another turn")
            }
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not renew the turn lock lease")
            }
        }
    }

    /// Whether someone asked this turn to stop through the store; a store
    /// failure reads as no (the turn goes on; the next poll asks again).
    async fn cancel_requested(&self) -> bool {
        match self
            .store
            .turn_cancel_requested(&self.session, &self.holder)
            .await
        {
            Ok(requested) => requested,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not check for a cancel request");
                false
            }
        }
    }

    async fn release(mut self) {
        self.held = false;
        if let Err(e) = self.store.unlock_turn(&self.session, &self.holder).await {
            tracing::warn!(session = %self.session, error = %e, "could not release the turn lock; retrying in the background");
            spawn_release(
                Arc::clone(&self.store),
                self.session,
                std::mem::take(&mut self.holder),
                self.lease,
            );
        }
    }
}

/// Releases a turn lock from a task of its own, retrying with backoff while
/// the store fails, for at most `lease` (after which it has expired anyway).
fn spawn_release(store: Arc<dyn Store>, session: SessionId, holder: String, lease: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return; // no runtime: the lease runs out
    };
    runtime.spawn(async move {
        let deadline = tokio::time::Instant::now() + lease;
        let mut pause = Duration::from_millis(100);
        loop {
            match store.unlock_turn(&session, &holder).await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() + pause >= deadline => {
                    tracing::warn!(%session, error = %e, "could not release the turn lock; its lease will expire");
                    return;
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    });
}

impl Drop for TurnLock {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        spawn_release(
            Arc::clone(&self.store),
            self.session,
            std::mem::take(&mut self.holder),
            self.lease,
        );
    }
}

/// The metrics handles of this engine's turns, made once: building a
/// labelled key and looking it up in the registry per turn was a visible
/// share of a send.
pub(crate) struct TurnMetrics {
    calls: [metrics::Counter; 7],
    duration: metrics::Histogram,
    prompt_tokens: metrics::Counter,
    completion_tokens: metrics::Counter,
}

/// The `outcome` label of each index of [`TurnMetrics::calls`].
const OUTCOMES: [&str; 7] = [
    "ok",
    "cancelled",
    "unavailable",
    "timeout",
    "blocked",
    "provider_error",
    "other_error",
];

impl TurnMetrics {
    fn new(provider: &str) -> Self {
        let provider = provider.to_owned();
        Self {
            calls: OUTCOMES.map(|outcome| {
                metrics::counter!("convo_llm_calls_total", "provider" => provider.clone(), "outcome" => outcome)
            }),
            duration: metrics::histogram!("convo_llm_call_duration_seconds", "provider" => provider.clone()),
            prompt_tokens: metrics::counter!("convo_llm_tokens_total", "provider" => provider.clone(), "kind" => "prompt"),
            completion_tokens: metrics::counter!("convo_llm_tokens_total", "provider" => provider, "kind" => "completion"),
        }
    }
}

/// A turn registered as running in this engine; unregistered on drop.
struct Running {
    engine: Convo,
    session: SessionId,
    cancel: Arc<tokio::sync::Notify>,
    /// When the lease is next renewed, and the store next asked for a
    /// cancel request: kept across the turn's awaits, so a model that
    /// streams faster than either period still gets both.
    next_renewal: Deadline,
    next_poll: Deadline,
}

/// An instant shared by reference across a task's awaits (uncontended).
struct Deadline(std::sync::Mutex<tokio::time::Instant>);

impl Deadline {
    fn new(at: tokio::time::Instant) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    fn get(&self) -> tokio::time::Instant {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, at: tokio::time::Instant) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.engine.running_turns();
        // Only our own entry: a later turn of the session may have replaced it.
        if running
            .get(&self.session)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cancel))
        {
            running.remove(&self.session);
        }
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
        session_id: &str,
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
        session_id: &str,
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
    pub async fn cancel_turn(&self, owner: &UserId, session_id: &str) -> Result<bool, ConvoError> {
        let session = self.session(owner, session_id).await?;
        let local = self.running_turns().get(&session.id).cloned();
        if let Some(cancel) = &local {
            cancel.notify_one();
        }
        let running = self.store().cancel_turn(&session.id).await?;
        Ok(running || local.is_some())
    }

    fn running_turns(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<SessionId, Arc<tokio::sync::Notify>>>
    {
        // The map is only ever inserted into and removed from: a panic
        // elsewhere cannot leave it inconsistent.
        self.shared
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This engine's turn metrics, made on first use (after the embedding
    /// program installed its metrics recorder, if it has one).
    fn turn_metrics(&self) -> &TurnMetrics {
        self.shared
            .turn_metrics
            .get_or_init(|| TurnMetrics::new(self.llm().name()))
    }

    /// Registers a running turn for local cancel requests until the guard drops.
    fn register_running(&self, session: SessionId) -> Running {
        let cancel = Arc::new(tokio::sync::Notify::new());
        self.running_turns().insert(session, Arc::clone(&cancel));
        let now = tokio::time::Instant::now();
        Running {
            engine: self.clone(),
            session,
            cancel,
            next_renewal: Deadline::new(now + self.renewal_period()),
            next_poll: Deadline::new(now + self.poll_period()),
        }
    }

    /// How often a running turn renews its lease: a third of it.
    fn renewal_period(&self) -> Duration {
        (self.settings().turn_lease / 3).max(Duration::from_millis(10))
    }

    /// How often a running turn asks the store for a cancel request.
    fn poll_period(&self) -> Duration {
        self.settings().cancel_poll.max(Duration::from_millis(10))
    }

    /// Steps 1–5.
    async fn begin_turn(
        &self,
        owner: &UserId,
        session_id: &str,
        message: SendMessage,
    ) -> Result<Begun, ConvoError> {
        validate::content(&message.content, self.settings().max_message_bytes)?;
        if let Some(key) = &message.idempotency_key {
            validate::idempotency_key(key)?;
        }
        let session = self.session(owner, session_id).await?;
        let agent = self
            .store()
            .agent(owner, &session.agent_id)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))?;
        // Quotas first: a refused turn stores nothing.
        let slot = self.admit_turn(owner).await?;
        let lock = TurnLock::acquire(self.store(), session.id, self.settings().turn_lease).await?;
        match self.begin_locked(&session.id, &agent, &message).await {
            Ok(Some((user_message, request, context))) => Ok(Begun::Run(Prepared {
                started: std::time::Instant::now(),
                _slot: slot,
                lock,
                agent,
                user_message,
                assistant_id: MessageId::new(),
                request,
                context,
                idempotency_key: message.idempotency_key,
            })),
            Ok(None) => {
                let key = message.idempotency_key.as_deref().unwrap_or_default();
                let record = self.store().idempotency_record(&session.id, key).await;
                lock.release().await;
                match record? {
                    Some(IdempotencyRecord {
                        user_message,
                        assistant_message: Some(assistant_message),
                        ..
                    }) => Ok(Begun::Replay(Turn {
                        user_message,
                        assistant_message,
                    })),
                    _ => Err(ConvoError::Internal("idempotency record vanished".into())),
                }
            }
            Err(e) => {
                lock.release().await;
                Err(e)
            }
        }
    }

    /// Steps 3–5 under the lock. `None`: a completed idempotent turn exists.
    async fn begin_locked(
        &self,
        session: &SessionId,
        agent: &Agent,
        message: &SendMessage,
    ) -> Result<Option<(Message, LlmRequest, ContextRef)>, ConvoError> {
        let store = self.store();
        let user_message = match &message.idempotency_key {
            None => {
                store
                    .append_message(session, MessageDraft::user(&message.content))
                    .await?
            }
            Some(key) => match store.idempotency_record(session, key).await? {
                Some(record) => {
                    if record.user_message.content != message.content {
                        return Err(ConvoError::invalid(
                            "idempotency_key",
                            "was already used with a different message",
                        ));
                    }
                    if record.assistant_message.is_some() {
                        return Ok(None);
                    }
                    // The first attempt stored the user message, then the model
                    // failed. Answer that message again, if nothing came after it.
                    let last = store.last_messages(session, 1).await?;
                    if last.last().map(|m| m.id) != Some(record.user_message.id) {
                        return Err(ConvoError::invalid(
                            "idempotency_key",
                            "was used for a turn that failed, and the conversation has moved on since",
                        ));
                    }
                    record.user_message
                }
                None => {
                    let user_message = store
                        .append_message(session, MessageDraft::user(&message.content))
                        .await?;
                    let record = IdempotencyRecord {
                        user_message: user_message.clone(),
                        assistant_message: None,
                        expires_at: self.idempotency_expiry(),
                    };
                    store.save_idempotency_record(session, key, &record).await?;
                    user_message
                }
            },
        };
        let (request, context) = self.build_request(session, agent).await?;
        Ok(Some((user_message, request, context)))
    }

    /// Step 5: the context window and the request built from it.
    async fn build_request(
        &self,
        session: &SessionId,
        agent: &Agent,
    ) -> Result<(LlmRequest, ContextRef), ConvoError> {
        let recent = self
            .store()
            .last_messages(session, agent.context_messages as usize)
            .await?;
        let plan = context::plan(agent, &recent);
        let Some(context) = plan.context_ref() else {
            return Err(ConvoError::Internal(
                "context window is empty after storing the user message".into(),
            ));
        };
        Ok((plan.request, context))
    }

    /// Exactly what the next turn in a session would send to the model, and
    /// which earlier messages it would leave out, without sending anything:
    /// the same code decides both. With `pending`, as if that text were sent
    /// now (it is counted against the token budget and shown last); without,
    /// the history the next message would follow.
    pub async fn context_preview(
        &self,
        owner: &UserId,
        session_id: &str,
        pending: Option<&str>,
    ) -> Result<ContextPreview, ConvoError> {
        if let Some(text) = pending {
            validate::content(text, self.settings().max_message_bytes)?;
        }
        let session = self.session(owner, session_id).await?;
        let agent = self
            .store()
            .agent(owner, &session.agent_id)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))?;
        let stored =
            (agent.context_messages as usize).saturating_sub(usize::from(pending.is_some()));
        let mut recent = self.store().last_messages(&session.id, stored).await?;
        let next_seq = recent.last().map_or(session.message_count, |m| m.seq) + 1;
        if let Some(text) = pending {
            recent.push(MessageDraft::user(text).into_message(session.id, next_seq));
        }
        let plan = context::plan(&agent, &recent);
        let first_sent = plan.window.first().map_or(next_seq, |m| m.seq);
        let left_out = (first_sent > 1).then(|| SeqRange {
            first_seq: 1,
            last_seq: first_sent - 1,
        });
        Ok(ContextPreview {
            messages: plan
                .window
                .iter()
                .map(|m| ContextMessage {
                    seq: m.seq,
                    role: m.role,
                    content: m.content.clone(),
                    estimated_tokens: context::estimate_tokens(&m.content),
                    pending: pending.is_some() && m.seq == next_seq,
                })
                .collect(),
            estimated_prompt_tokens: plan.estimated_tokens,
            left_out,
            context_messages: agent.context_messages,
            context_tokens: agent.context_tokens,
            request: plan.request,
        })
    }

    fn idempotency_expiry(&self) -> crate::domain::Timestamp {
        let ttl = chrono::Duration::from_std(self.settings().idempotency_ttl)
            .unwrap_or(chrono::Duration::days(1));
        now() + ttl
    }

    /// Steps 6–8 for a plain send.
    async fn run_generate(&self, prepared: Prepared) -> Result<Turn, ConvoError> {
        let running = self.register_running(prepared.user_message.session_id);
        let reply = self
            .keep_lease(
                &prepared.lock,
                &running,
                None,
                self.llm().generate(prepared.request.clone()),
            )
            .await;
        let result = match reply {
            Raced::Done(Ok(reply)) => {
                self.store_reply(&prepared, reply)
                    .await
                    .map(|assistant_message| Turn {
                        user_message: prepared.user_message.clone(),
                        assistant_message,
                    })
            }
            Raced::Done(Err(e)) => Err(e.into()),
            // Cancelled: nothing was generated that a plain send could keep.
            Raced::Cancelled => self
                .store_reply(&prepared, cancelled(String::new()))
                .await
                .map(|assistant_message| Turn {
                    user_message: prepared.user_message.clone(),
                    assistant_message,
                }),
        };
        drop(running);
        log_failure(&prepared, &result);
        self.record_outcome(&prepared, result.as_ref().map(|t| &t.assistant_message))
            .await;
        prepared.lock.release().await;
        result
    }

    /// Step 7½: the turn goes in the usage ledger, failed or not, and in
    /// the metrics (`convo_llm_calls_total{provider, outcome}`,
    /// `convo_llm_call_duration_seconds{provider}`,
    /// `convo_llm_tokens_total{provider, kind}`).
    async fn record_outcome(&self, prepared: &Prepared, outcome: Result<&Message, &ConvoError>) {
        let session = prepared.user_message.session_id;
        let outcome_index = match outcome {
            Ok(m) if m.finish_reason == Some(FinishReason::Cancelled) => 1,
            Ok(_) => 0,
            Err(ConvoError::Llm(LlmError::Unavailable { .. })) => 2,
            Err(ConvoError::Llm(LlmError::Timeout)) => 3,
            Err(ConvoError::Llm(LlmError::Blocked(_))) => 4,
            Err(ConvoError::Llm(LlmError::Provider(_))) => 5,
            Err(_) => 6,
        };
        let m = self.turn_metrics();
        m.calls[outcome_index].increment(1);
        m.duration.record(prepared.started.elapsed().as_secs_f64());
        if let Some(usage) = outcome.ok().and_then(|m| m.usage) {
            m.prompt_tokens.increment(usage.prompt_tokens);
            m.completion_tokens.increment(usage.completion_tokens);
        }
        match outcome {
            Ok(reply) => {
                self.record_turn(&prepared.agent, session, reply.usage, false)
                    .await
            }
            Err(_) => self.record_turn(&prepared.agent, session, None, true).await,
        }
    }

    /// Steps 6–8 for a streamed turn, reporting to `tx`.
    async fn run_stream(&self, prepared: Prepared, tx: mpsc::Sender<TurnEvent>) {
        let running = self.register_running(prepared.user_message.session_id);
        let result = self.drive_stream(&prepared, &running, &tx).await;
        drop(running);
        log_failure(&prepared, &result);
        self.record_outcome(&prepared, result.as_ref()).await;
        // Release before the final event, so a client that reacts to it at
        // once can start the next turn.
        prepared.lock.release().await;
        let last = match result {
            Ok(message) => TurnEvent::Completed {
                message: Box::new(message),
            },
            Err(error) => TurnEvent::Failed { error },
        };
        let _ = tx.send(last).await;
    }

    async fn drive_stream(
        &self,
        prepared: &Prepared,
        running: &Running,
        tx: &mpsc::Sender<TurnEvent>,
    ) -> Result<Message, ConvoError> {
        let mut text = String::new();
        let started = self
            .keep_lease(
                &prepared.lock,
                running,
                Some(tx),
                self.llm().stream(prepared.request.clone()),
            )
            .await;
        let mut upstream = match started {
            Raced::Done(started) => started?,
            Raced::Cancelled => return self.store_reply(prepared, cancelled(text)).await,
        };
        loop {
            let item = match self
                .keep_lease(&prepared.lock, running, Some(tx), upstream.next())
                .await
            {
                Raced::Done(item) => item,
                Raced::Cancelled => {
                    drop(upstream); // stops generation
                    return self.store_reply(prepared, cancelled(text)).await;
                }
            };
            match item {
                Some(Ok(LlmChunk::Text(delta))) => {
                    if delta.is_empty() {
                        continue;
                    }
                    text.push_str(&delta);
                    let event = TurnEvent::Delta {
                        message_id: prepared.assistant_id,
                        text: delta,
                    };
                    if tx.send(event).await.is_err() {
                        drop(upstream);
                        return self.store_reply(prepared, cancelled(text)).await;
                    }
                }
                Some(Ok(LlmChunk::Finish {
                    finish_reason,
                    usage,
                    model,
                    provider_state,
                })) => {
                    let reply = LlmReply {
                        text,
                        finish_reason,
                        usage,
                        model,
                        provider_state,
                    };
                    return self.store_reply(prepared, reply).await;
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Err(LlmError::Provider(
                        "the model's stream ended without a finish reason".into(),
                    )
                    .into());
                }
            }
        }
    }

    /// Step 7: stores the reply (and completes the idempotency record).
    async fn store_reply(
        &self,
        prepared: &Prepared,
        reply: LlmReply,
    ) -> Result<Message, ConvoError> {
        let draft = MessageDraft {
            id: prepared.assistant_id,
            role: Role::Assistant,
            content: reply.text,
            created_at: now(),
            model: Some(reply.model.unwrap_or_else(|| prepared.agent.model.clone())),
            finish_reason: Some(reply.finish_reason),
            usage: reply.usage,
            context: Some(prepared.context),
            provider_state: reply.provider_state,
        };
        let session = prepared.user_message.session_id;
        let message = self.store().append_message(&session, draft).await?;
        if let Some(key) = &prepared.idempotency_key {
            let record = IdempotencyRecord {
                user_message: prepared.user_message.clone(),
                assistant_message: Some(message.clone()),
                expires_at: self.idempotency_expiry(),
            };
            self.store()
                .save_idempotency_record(&session, key, &record)
                .await?;
        }
        Ok(message)
    }

    /// Awaits `work` while renewing the turn lock's lease; stops waiting when
    /// the turn is cancelled (here, or through the store by another engine)
    /// or, with `consumer`, when the consumer goes away.
    async fn keep_lease<F: Future>(
        &self,
        lock: &TurnLock,
        running: &Running,
        consumer: Option<&mpsc::Sender<TurnEvent>>,
        work: F,
    ) -> Raced<F::Output> {
        let gone = async {
            match consumer {
                Some(tx) => tx.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(work, gone);
        loop {
            tokio::select! {
                output = &mut work => return Raced::Done(output),
                () = &mut gone => return Raced::Cancelled,
                () = running.cancel.notified() => return Raced::Cancelled,
                () = tokio::time::sleep_until(running.next_renewal.get()) => {
                    running.next_renewal.set(tokio::time::Instant::now() + self.renewal_period());
                    lock.renew().await;
                }
                () = tokio::time::sleep_until(running.next_poll.get()) => {
                    running.next_poll.set(tokio::time::Instant::now() + self.poll_period());
                    if lock.cancel_requested().await {
                        return Raced::Cancelled;
                    }
                }
            }
        }
    }
}

/// A reply stopped by a cancel: the text so far, nothing else.
fn cancelled(text: String) -> LlmReply {
    LlmReply {
        text,
        finish_reason: FinishReason::Cancelled,
        usage: None,
        model: None,
        provider_state: None,
    }
}

fn log_failure<T>(prepared: &Prepared, result: &Result<T, ConvoError>) {
    if let Err(e) = result {
        tracing::warn!(session = %prepared.user_message.session_id, error = %e, "turn failed");
    }
}
