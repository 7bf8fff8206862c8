//! Steps 6–8 of a turn: the model call (plain or streamed) while the lease
//! is kept, the reply stored, the outcome recorded.

use std::future::Future;

use futures::StreamExt;
use tokio::sync::mpsc;

use super::lock::TurnLock;
use super::running::Running;
use super::*;
use crate::domain::{now, FinishReason, Message, MessageDraft, Role};
use crate::engine::Convo;
use crate::error::ConvoError;
use crate::llm::{LlmChunk, LlmError, LlmReply};
use crate::store::IdempotencyRecord;

impl Convo {
    /// Steps 6–8 for a plain send.
    pub(super) async fn run_generate(&self, prepared: Prepared) -> Result<Turn, ConvoError> {
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

    /// Steps 6–8 for a streamed turn, reporting to `tx`.
    pub(super) async fn run_stream(&self, prepared: Prepared, tx: mpsc::Sender<TurnEvent>) {
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

    pub(super) async fn drive_stream(
        &self,
        prepared: &Prepared,
        running: &Running,
        tx: &mpsc::Sender<TurnEvent>,
    ) -> Result<Message, ConvoError> {
        let mut text = String::new();
        // Calls come whole, before the finish; the tool loop reads them
        // from the reply.
        let mut tool_calls = Vec::new();
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
                Some(Ok(LlmChunk::ToolCall(call))) => tool_calls.push(call),
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
                        tool_calls,
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
    pub(super) async fn store_reply(
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
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
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

/// A reply stopped by a cancel: the text so far, nothing else.
pub(super) fn cancelled(text: String) -> LlmReply {
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
