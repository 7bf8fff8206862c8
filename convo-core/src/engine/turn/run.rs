//! Steps 6–8 of a turn: the model calls (plain or streamed) while the lease
//! is kept, each reply stored, tool rounds run between them, the outcome
//! recorded.

use futures::StreamExt;
use tokio::sync::mpsc;

use super::running::Running;
use super::*;
use crate::domain::{
    now, ContextRef, FinishReason, Message, MessageDraft, MessageId, Role, Usage, UsageRecord,
};
use crate::engine::usage::usage_record;
use crate::engine::Convo;
use crate::error::ConvoError;
use crate::llm::{LlmChunk, LlmError, LlmReply, ToolChoice};
use crate::store::IdempotencyRecord;

/// Where a turn is between its model calls.
pub(super) struct Rounds {
    /// Everything stored after the user message so far.
    pub(super) messages: Vec<Message>,
    /// Tool rounds run so far.
    pub(super) round: u32,
    /// The next model call's request, and the window it was built from.
    pub(super) request: LlmRequest,
    pub(super) context: ContextRef,
    /// The id the next assistant message is stored under.
    pub(super) assistant_id: MessageId,
}

impl Rounds {
    fn new(prepared: &Prepared) -> Self {
        Self {
            messages: prepared.resumed.clone(),
            round: prepared.round,
            request: prepared.request.clone(),
            context: prepared.context,
            assistant_id: prepared.assistant_id,
        }
    }
}

/// What a run of the loop stored, and the client calls it paused for.
pub(super) struct Ran {
    pub(super) messages: Vec<Message>,
    pub(super) pending: Vec<crate::domain::ToolCall>,
    /// The lock was released with the last reply, its usage entry with it.
    pub(super) released: bool,
}

/// Why a tool round stopped before its tools answered.
#[derive(Clone, Copy)]
enum Stopped {
    Cancelled,
    TimedOut,
}

/// How one model call ended.
enum Called {
    /// A whole reply.
    Reply(LlmReply),
    /// Stopped by a cancel (or the consumer going away): the text so far.
    Cancelled(LlmReply),
}

impl Convo {
    /// Steps 6–8 for a plain send.
    pub(super) async fn run_generate(&self, prepared: Prepared) -> Result<Turn, ConvoError> {
        let running = self.register_running(prepared.user_message.session_id);
        let result = self
            .run_rounds(&prepared, &running, None)
            .await
            .and_then(|ran| Ok((last_reply(&ran.messages)?, ran)));
        drop(running);
        log_failure(&prepared, &result);
        let usage = self.record_outcome(&prepared, result.as_ref().map(|(last, _)| last));
        let released = result.as_ref().is_ok_and(|(_, ran)| ran.released);
        prepared.lock.finish(released, Some(usage)).await;
        let (assistant_message, ran) = result?;
        Ok(Turn {
            user_message: prepared.user_message,
            assistant_message,
            messages: ran.messages,
            pending_tool_calls: ran.pending,
        })
    }

    /// Steps 6–7 until a reply asks for no tools, the turn is cancelled,
    /// or a round calls client tools (the turn pauses): everything stored,
    /// in order, and the calls it paused for.
    pub(super) async fn run_rounds(
        &self,
        prepared: &Prepared,
        running: &Running,
        tx: Option<&mpsc::Sender<TurnEvent>>,
    ) -> Result<Ran, ConvoError> {
        let mut rounds = Rounds::new(prepared);
        let session = prepared.user_message.session_id;
        let mut pending = Vec::new();
        let mut released = false;
        loop {
            let called = match tx {
                None => self.call_generate(prepared, running, &rounds).await?,
                Some(tx) => self.call_stream(prepared, running, tx, &rounds).await?,
            };
            let reply = match called {
                Called::Cancelled(reply) => {
                    self.store_reply(prepared, &mut rounds, reply).await?;
                    break;
                }
                Called::Reply(reply) => reply,
            };
            let calls = reply.tool_calls.clone();
            if calls.is_empty() {
                released = self.store_last_reply(prepared, &mut rounds, reply).await?;
                break;
            }
            let usage = reply.usage;
            let asking = self.store_reply(prepared, &mut rounds, reply).await?;
            let (client, now) = client::partition(&prepared.agent, &calls);
            // Each model call is in the ledger; the turn's last one (a
            // final reply, or the one a pause ends with) by record_outcome.
            if client.is_empty() {
                self.record_call(prepared, usage).await;
            }
            if let Some(tx) = tx {
                let _ = tx
                    .send(TurnEvent::MessageCompleted {
                        message: Box::new(asking),
                    })
                    .await;
                for call in &calls {
                    let _ = tx
                        .send(TurnEvent::ToolCallCreated {
                            tool_call: Box::new(call.clone()),
                        })
                        .await;
                }
            }
            let round = self.run_tool_round(&prepared.agent, session, &now, running.remaining());
            let (drafts, stopped) = match self.race(&prepared.lock, running, tx, false, round).await
            {
                Raced::Done(drafts) => (drafts, None),
                // Every call still gets an answer, so the history never
                // holds a call without its result (providers refuse one).
                Raced::Cancelled => (
                    answer_all(&calls, "the turn was cancelled before the tool answered"),
                    Some(Stopped::Cancelled),
                ),
                Raced::TimedOut => (
                    answer_all(&calls, "the turn ran out of time before the tool answered"),
                    Some(Stopped::TimedOut),
                ),
            };
            let results = self.store().append_messages(&session, drafts).await?;
            if let Some(tx) = tx {
                for message in &results {
                    let _ = tx
                        .send(TurnEvent::ToolCallCompleted {
                            message: Box::new(message.clone()),
                        })
                        .await;
                }
            }
            rounds.messages.extend(results);
            rounds.assistant_id = MessageId::new();
            if stopped.is_some() && !client.is_empty() {
                self.record_call(prepared, usage).await;
            }
            match stopped {
                Some(Stopped::Cancelled) => {
                    self.store_reply(prepared, &mut rounds, cancelled_reply(String::new()))
                        .await?;
                    break;
                }
                Some(Stopped::TimedOut) => return Err(LlmError::Timeout.into()),
                None => {}
            }
            rounds.round += 1;
            if !client.is_empty() {
                // Paused: under the lock, so whichever engine resumes it
                // finds the calls (and a new message is refused meanwhile).
                self.store()
                    .set_pending_tool_calls(&session, &client)
                    .await?;
                pending = client;
                break;
            }
            let (mut request, context) = self
                .build_request(
                    &session,
                    &prepared.agent,
                    prepared.earlier + rounds.messages.len(),
                )
                .await?;
            if rounds.round >= prepared.agent.max_tool_rounds {
                // Tools stay declared (the history mentions them), but the
                // model must answer now.
                request.tool_choice = ToolChoice::None;
            }
            rounds.request = request;
            rounds.context = context;
        }
        self.save_turn(prepared, &rounds.messages).await?;
        Ok(Ran {
            messages: rounds.messages,
            pending,
            released,
        })
    }

    /// One plain model call.
    async fn call_generate(
        &self,
        prepared: &Prepared,
        running: &Running,
        rounds: &Rounds,
    ) -> Result<Called, ConvoError> {
        if running.remaining().is_zero() {
            return Err(LlmError::Timeout.into());
        }
        let generate = self.llm().generate(rounds.request.clone());
        match self
            .keep_lease(&prepared.lock, running, None, generate)
            .await
        {
            Raced::Done(Ok(reply)) => Ok(Called::Reply(reply)),
            Raced::Done(Err(e)) => Err(e.into()),
            Raced::TimedOut => Err(LlmError::Timeout.into()),
            // Nothing was generated that a plain send could keep.
            Raced::Cancelled => Ok(Called::Cancelled(cancelled_reply(String::new()))),
        }
    }

    /// Step 7½: the turn's last model call, failed or not, in the metrics
    /// (`convo_llm_calls_total{provider, outcome}`,
    /// `convo_llm_call_duration_seconds{provider}`,
    /// `convo_llm_tokens_total{provider, kind}`), and its ledger entry,
    /// which the lock's release writes (the same round trip).
    pub(super) fn record_outcome(
        &self,
        prepared: &Prepared,
        outcome: Result<&Message, &ConvoError>,
    ) -> UsageRecord {
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
            Ok(reply) => usage_record(&prepared.agent, session, &prepared.by, reply.usage, false),
            Err(_) => usage_record(&prepared.agent, session, &prepared.by, None, true),
        }
    }

    /// A model call that asked for tools: its usage in the ledger and the
    /// token metrics (the turn's last call goes through `record_outcome`).
    async fn record_call(&self, prepared: &Prepared, usage: Option<Usage>) {
        if let Some(usage) = usage {
            let m = self.turn_metrics();
            m.prompt_tokens.increment(usage.prompt_tokens);
            m.completion_tokens.increment(usage.completion_tokens);
        }
        let session = prepared.user_message.session_id;
        self.record_turn(&prepared.agent, session, &prepared.by, usage, false)
            .await;
    }

    /// Steps 6–8 for a streamed turn, reporting to `tx`.
    pub(super) async fn run_stream(&self, prepared: Prepared, tx: mpsc::Sender<TurnEvent>) {
        let running = self.register_running(prepared.user_message.session_id);
        let result = self.run_rounds(&prepared, &running, Some(&tx)).await;
        let released = result.as_ref().is_ok_and(|ran| ran.released);
        let result = result.and_then(|ran| last_reply(&ran.messages));
        drop(running);
        log_failure(&prepared, &result);
        let usage = self.record_outcome(&prepared, result.as_ref());
        // Release before the final event, so a client that reacts to it at
        // once can start the next turn (done already if it went with the reply).
        prepared.lock.finish(released, Some(usage)).await;
        let last = match result {
            Ok(message) => TurnEvent::Completed {
                message: Box::new(message),
            },
            Err(error) => TurnEvent::Failed { error },
        };
        let _ = tx.send(last).await;
    }

    /// One streamed model call, its text sent to `tx` as it comes.
    async fn call_stream(
        &self,
        prepared: &Prepared,
        running: &Running,
        tx: &mpsc::Sender<TurnEvent>,
        rounds: &Rounds,
    ) -> Result<Called, ConvoError> {
        let mut text = String::new();
        // Calls come whole, before the finish.
        let mut tool_calls = Vec::new();
        if running.remaining().is_zero() {
            return Err(LlmError::Timeout.into());
        }
        let started = self
            .keep_lease(
                &prepared.lock,
                running,
                Some(tx),
                self.llm().stream(rounds.request.clone()),
            )
            .await;
        let mut upstream = match started {
            Raced::Done(started) => started?,
            Raced::Cancelled => return Ok(Called::Cancelled(cancelled_reply(text))),
            Raced::TimedOut => return Err(LlmError::Timeout.into()),
        };
        loop {
            let item = match self
                .keep_lease(&prepared.lock, running, Some(tx), upstream.next())
                .await
            {
                Raced::Done(item) => item,
                Raced::Cancelled => {
                    drop(upstream); // stops generation
                    return Ok(Called::Cancelled(cancelled_reply(text)));
                }
                // Like a provider's own timeout: the text so far is not kept.
                Raced::TimedOut => return Err(LlmError::Timeout.into()),
            };
            match item {
                Some(Ok(LlmChunk::Text(delta))) => {
                    if delta.is_empty() {
                        continue;
                    }
                    text.push_str(&delta);
                    let event = TurnEvent::Delta {
                        message_id: rounds.assistant_id,
                        text: delta,
                    };
                    if tx.send(event).await.is_err() {
                        drop(upstream);
                        return Ok(Called::Cancelled(cancelled_reply(text)));
                    }
                }
                Some(Ok(LlmChunk::ToolCall(call))) => tool_calls.push(call),
                Some(Ok(LlmChunk::Finish {
                    finish_reason,
                    usage,
                    model,
                    provider_state,
                })) => {
                    return Ok(Called::Reply(LlmReply {
                        text,
                        finish_reason,
                        usage,
                        model,
                        provider_state,
                        tool_calls,
                    }));
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

    /// Step 7: stores a reply (with the calls it makes) under the round's
    /// id and context, and adds it to the turn's messages.
    async fn store_reply(
        &self,
        prepared: &Prepared,
        rounds: &mut Rounds,
        reply: LlmReply,
    ) -> Result<Message, ConvoError> {
        let draft = reply_draft(prepared, rounds, reply);
        let session = prepared.user_message.session_id;
        let message = self.store().append_message(&session, draft).await?;
        rounds.messages.push(message.clone());
        Ok(message)
    }

    /// Steps 7 and 8 for the turn's final reply: stored, and with it the
    /// lock released and the call's usage recorded, in one store call
    /// (one round trip on MongoDB instead of two). Whether the release
    /// went through; when it did not, the caller releases as usual.
    ///
    /// Not with an idempotency key: its record must be complete before the
    /// lock is released, or a retry could take the lock and find none.
    async fn store_last_reply(
        &self,
        prepared: &Prepared,
        rounds: &mut Rounds,
        reply: LlmReply,
    ) -> Result<bool, ConvoError> {
        if prepared.idempotency_key.is_some() {
            self.store_reply(prepared, rounds, reply).await?;
            return Ok(false);
        }
        let session = prepared.user_message.session_id;
        let usage = usage_record(&prepared.agent, session, &prepared.by, reply.usage, false);
        let draft = reply_draft(prepared, rounds, reply);
        let (message, released) = self
            .store()
            .append_and_unlock(&session, &prepared.lock.holder, draft, Some(&usage))
            .await?;
        rounds.messages.push(message);
        Ok(released)
    }
}

/// The message a reply is stored as: under the round's id and context.
fn reply_draft(prepared: &Prepared, rounds: &Rounds, reply: LlmReply) -> MessageDraft {
    MessageDraft {
        id: rounds.assistant_id,
        role: Role::Assistant,
        content: reply.text,
        created_at: now(),
        model: Some(reply.model.unwrap_or_else(|| prepared.agent.model.clone())),
        finish_reason: Some(reply.finish_reason),
        usage: reply.usage,
        context: Some(rounds.context),
        provider_state: reply.provider_state,
        tool_calls: reply.tool_calls,
        tool_call_id: None,
        tool_name: None,
        is_error: false,
    }
}

impl Convo {
    /// Completes the idempotency record with the whole turn.
    async fn save_turn(&self, prepared: &Prepared, messages: &[Message]) -> Result<(), ConvoError> {
        let Some(key) = &prepared.idempotency_key else {
            return Ok(());
        };
        let record = IdempotencyRecord {
            user_message: prepared.user_message.clone(),
            assistant_message: last_reply(messages).ok(),
            messages: messages.to_vec(),
            expires_at: self.idempotency_expiry(),
        };
        let session = prepared.user_message.session_id;
        self.store()
            .save_idempotency_record(&session, key, &record)
            .await?;
        Ok(())
    }
}

/// A run's last reply: the last assistant message it stored (`run_rounds`
/// always stores one: a final reply, or the one asking for the client
/// tools it paused for, which tool messages may follow).
fn last_reply(messages: &[Message]) -> Result<Message, ConvoError> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Assistant)
        .cloned()
        .ok_or_else(|| ConvoError::Internal("a turn stored no reply".into()))
}

/// An `is_error` answer to each of `calls`, saying why none ran to the end.
fn answer_all(calls: &[crate::domain::ToolCall], why: &str) -> Vec<MessageDraft> {
    calls
        .iter()
        .map(|c| tools::tool_message(c, why.into(), true))
        .collect()
}

/// A reply stopped by a cancel: the text so far, nothing else.
pub(super) fn cancelled_reply(text: String) -> LlmReply {
    LlmReply {
        text,
        finish_reason: FinishReason::Cancelled,
        usage: None,
        model: None,
        provider_state: None,
        tool_calls: Vec::new(),
    }
}

pub(super) fn log_failure<T>(prepared: &Prepared, result: &Result<T, ConvoError>) {
    if let Err(e) = result {
        tracing::warn!(session = %prepared.user_message.session_id, error = %e, "turn failed");
    }
}
