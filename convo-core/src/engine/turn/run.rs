//! Steps 6–8 of a turn: the model calls (plain or streamed) while the lease
//! is kept, each reply stored, tool rounds run between them, the outcome
//! recorded.

use std::future::Future;

use futures::StreamExt;
use tokio::sync::mpsc;

use super::lock::TurnLock;
use super::running::Running;
use super::*;
use crate::domain::{now, ContextRef, FinishReason, Message, MessageDraft, MessageId, Role, Usage};
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
            messages: Vec::new(),
            round: 0,
            request: prepared.request.clone(),
            context: prepared.context,
            assistant_id: prepared.assistant_id,
        }
    }
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
            .and_then(|messages| Ok((last_reply(&messages)?, messages)));
        drop(running);
        log_failure(&prepared, &result);
        self.record_outcome(&prepared, result.as_ref().map(|(last, _)| last))
            .await;
        prepared.lock.release().await;
        let (assistant_message, messages) = result?;
        Ok(Turn {
            user_message: prepared.user_message,
            assistant_message,
            messages,
        })
    }

    /// Steps 6–7 until a reply asks for no tools (or the turn is
    /// cancelled): everything stored, in order. The last message is the
    /// final reply.
    pub(super) async fn run_rounds(
        &self,
        prepared: &Prepared,
        running: &Running,
        tx: Option<&mpsc::Sender<TurnEvent>>,
    ) -> Result<Vec<Message>, ConvoError> {
        let mut rounds = Rounds::new(prepared);
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
                self.store_reply(prepared, &mut rounds, reply).await?;
                break;
            }
            let usage = reply.usage;
            let asking = self.store_reply(prepared, &mut rounds, reply).await?;
            // Each model call is in the ledger; the last one by record_outcome.
            self.record_call(prepared, usage).await;
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
            let session = prepared.user_message.session_id;
            let round = self.run_tool_round(&prepared.agent, session, &calls);
            let (drafts, cancelled) =
                match self.keep_lease(&prepared.lock, running, tx, round).await {
                    Raced::Done(drafts) => (drafts, false),
                    // Every call still gets an answer, so the history never
                    // holds a call without its result (providers refuse one).
                    Raced::Cancelled => (
                        calls
                            .iter()
                            .map(|c| {
                                tools::tool_message(
                                    c,
                                    "the turn was cancelled before the tool answered".into(),
                                    true,
                                )
                            })
                            .collect(),
                        true,
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
            if cancelled {
                self.store_reply(prepared, &mut rounds, cancelled_reply(String::new()))
                    .await?;
                break;
            }
            rounds.round += 1;
            let (mut request, context) = self
                .build_request(&session, &prepared.agent, rounds.messages.len() + 1)
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
        Ok(rounds.messages)
    }

    /// One plain model call.
    async fn call_generate(
        &self,
        prepared: &Prepared,
        running: &Running,
        rounds: &Rounds,
    ) -> Result<Called, ConvoError> {
        let generate = self.llm().generate(rounds.request.clone());
        match self
            .keep_lease(&prepared.lock, running, None, generate)
            .await
        {
            Raced::Done(Ok(reply)) => Ok(Called::Reply(reply)),
            Raced::Done(Err(e)) => Err(e.into()),
            // Nothing was generated that a plain send could keep.
            Raced::Cancelled => Ok(Called::Cancelled(cancelled_reply(String::new()))),
        }
    }

    /// Step 7½: the turn's last model call goes in the usage ledger, failed
    /// or not, and in the metrics (`convo_llm_calls_total{provider, outcome}`,
    /// `convo_llm_call_duration_seconds{provider}`,
    /// `convo_llm_tokens_total{provider, kind}`).
    pub(super) async fn record_outcome(
        &self,
        prepared: &Prepared,
        outcome: Result<&Message, &ConvoError>,
    ) {
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

    /// A model call that asked for tools: its usage in the ledger and the
    /// token metrics (the turn's last call goes through `record_outcome`).
    async fn record_call(&self, prepared: &Prepared, usage: Option<Usage>) {
        if let Some(usage) = usage {
            let m = self.turn_metrics();
            m.prompt_tokens.increment(usage.prompt_tokens);
            m.completion_tokens.increment(usage.completion_tokens);
        }
        let session = prepared.user_message.session_id;
        self.record_turn(&prepared.agent, session, usage, false)
            .await;
    }

    /// Steps 6–8 for a streamed turn, reporting to `tx`.
    pub(super) async fn run_stream(&self, prepared: Prepared, tx: mpsc::Sender<TurnEvent>) {
        let running = self.register_running(prepared.user_message.session_id);
        let result = self
            .run_rounds(&prepared, &running, Some(&tx))
            .await
            .and_then(|messages| last_reply(&messages));
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
        let draft = MessageDraft {
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
        };
        let session = prepared.user_message.session_id;
        let message = self.store().append_message(&session, draft).await?;
        rounds.messages.push(message.clone());
        Ok(message)
    }

    /// Completes the idempotency record with the whole turn.
    async fn save_turn(&self, prepared: &Prepared, messages: &[Message]) -> Result<(), ConvoError> {
        let Some(key) = &prepared.idempotency_key else {
            return Ok(());
        };
        let record = IdempotencyRecord {
            user_message: prepared.user_message.clone(),
            assistant_message: messages.last().cloned(),
            messages: messages.to_vec(),
            expires_at: self.idempotency_expiry(),
        };
        let session = prepared.user_message.session_id;
        self.store()
            .save_idempotency_record(&session, key, &record)
            .await?;
        Ok(())
    }

    /// Awaits `work` while renewing the turn lock's lease; stops waiting when
    /// the turn is cancelled (here, or through the store by another engine)
    /// or, with `consumer`, when the consumer goes away.
    pub(super) async fn keep_lease<F: Future>(
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

/// A turn's final reply: the last message it stored (`run_rounds` always
/// ends by storing one).
fn last_reply(messages: &[Message]) -> Result<Message, ConvoError> {
    messages
        .last()
        .cloned()
        .ok_or_else(|| ConvoError::Internal("a turn stored no reply".into()))
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
