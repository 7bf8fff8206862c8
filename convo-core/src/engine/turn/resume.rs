//! Resuming a turn paused for client tools: the outputs checked against the
//! pending calls (every one answered, exactly once), stored as tool
//! messages, and the turn's loop run on from the next model call, by
//! whichever engine gets the request (everything it needs is in the store).

use std::collections::HashSet;

use tokio::sync::mpsc;
use tracing::Instrument;

use super::client::answers_call;
use super::lock::TurnLock;
use super::tools::{output_text, tool_message};
use super::*;
use crate::domain::{Agent, MessageDraft, Role, SessionId, ToolCall};
use crate::llm::ToolChoice;

/// The output of one `client` tool call, answering a paused turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The call it answers (a [`ToolCall::id`] of the session's
    /// `pending_tool_calls`).
    pub tool_call_id: String,
    /// What the tool produced: a string is sent to the model as it is,
    /// any other JSON value as JSON text.
    pub output: serde_json::Value,
    /// Whether the tool failed (then `output` says how).
    pub is_error: bool,
}

impl ToolOutput {
    /// A successful output.
    pub fn new(tool_call_id: impl Into<String>, output: serde_json::Value) -> Self {
        Self {
            tool_call_id: tool_call_id.into(),
            output,
            is_error: false,
        }
    }
}

/// A resumption checked and stored under the lock, ready to run.
struct Resumed {
    user_message: Message,
    stored: Vec<Message>,
    earlier: usize,
    round: u32,
    request: LlmRequest,
    context: ContextRef,
}

impl Convo {
    /// Answers the client tool calls a paused turn waits for and continues
    /// the turn until its next reply (or its next pause), like
    /// [`send_message`](Self::send_message).
    ///
    /// `outputs` must answer every pending call exactly once: an unknown
    /// id, a repeated one or a missing one is [`ConvoError::Invalid`]
    /// naming `outputs`, and nothing is stored. A session whose turn waits
    /// for nothing is [`ConvoError::NoPendingToolCalls`] (so a repeated
    /// request stores nothing twice). The agent's `max_tool_rounds` counts
    /// the rounds before the pause too.
    pub async fn submit_tool_outputs(
        &self,
        caller: impl Into<Caller>,
        session_id: impl IntoId<SessionId>,
        outputs: Vec<ToolOutput>,
    ) -> Result<Turn, ConvoError> {
        let prepared = Box::pin(self.begin_resume(&caller.into(), session_id, outputs)).await?;
        let engine = self.clone();
        let span = tracing::Span::current();
        tokio::spawn(async move { engine.run_generate(prepared).await }.instrument(span))
            .await
            .map_err(|e| ConvoError::Internal(format!("turn task failed: {e}")))?
    }

    /// [`submit_tool_outputs`](Self::submit_tool_outputs), streamed as
    /// [`stream_message`](Self::stream_message) streams: `Created` (with the
    /// turn's user message), a `ToolCallCompleted` per stored output, then
    /// the run's events.
    pub async fn stream_tool_outputs(
        &self,
        caller: impl Into<Caller>,
        session_id: impl IntoId<SessionId>,
        outputs: Vec<ToolOutput>,
    ) -> Result<TurnStream, ConvoError> {
        let (tx, rx) = mpsc::channel(self.settings().stream_buffer.max(4));
        let prepared = Box::pin(self.begin_resume(&caller.into(), session_id, outputs)).await?;
        let mut first = vec![TurnEvent::Created {
            user_message: Box::new(prepared.user_message.clone()),
            assistant_message_id: prepared.assistant_id,
        }];
        first.extend(
            prepared
                .resumed
                .iter()
                .map(|m| TurnEvent::ToolCallCompleted {
                    message: Box::new(m.clone()),
                }),
        );
        let engine = self.clone();
        let span = tracing::Span::current();
        tokio::spawn(
            async move {
                // More outputs than the channel holds wait for the consumer.
                for event in first {
                    let _ = tx.send(event).await;
                }
                engine.run_stream(prepared, tx).await;
            }
            .instrument(span),
        );
        Ok(TurnStream { rx })
    }

    /// The checks, the lock, and the outputs stored.
    async fn begin_resume(
        &self,
        caller: &Caller,
        session_id: impl IntoId<SessionId>,
        outputs: Vec<ToolOutput>,
    ) -> Result<Prepared, ConvoError> {
        let session = self.session(caller, session_id).await?;
        let owner = &session.owner;
        if session.pending_tool_calls.is_empty() {
            return Err(ConvoError::NoPendingToolCalls);
        }
        let agent = self
            .store()
            .agent(owner, &session.agent_id)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))?;
        let by = Attribution::of(caller, &session);
        let slot = self.admit_call(caller, &agent, &by).await?;
        let (lock, current) =
            TurnLock::acquire(self.store(), owner, session.id, self.settings().turn_lease).await?;
        match self.resume_locked(current, &agent, outputs).await {
            Ok(resumed) => Ok(Prepared {
                started: std::time::Instant::now(),
                _slot: slot,
                lock,
                agent,
                user_message: resumed.user_message,
                assistant_id: MessageId::new(),
                request: resumed.request,
                context: resumed.context,
                idempotency_key: None,
                earlier: resumed.earlier,
                resumed: resumed.stored,
                round: resumed.round,
                by,
            }),
            Err(e) => {
                lock.release().await;
                Err(e)
            }
        }
    }

    /// Under the lock: the session as the lock returned it (another
    /// request may have resumed or cancelled the turn since the first
    /// read), the outputs checked and stored, the pending calls cleared,
    /// the next request built.
    async fn resume_locked(
        &self,
        current: crate::domain::ChatSession,
        agent: &Agent,
        outputs: Vec<ToolOutput>,
    ) -> Result<Resumed, ConvoError> {
        let store = self.store();
        let session = &current.id;
        let turn = self.paused_turn(session, current.message_count).await?;
        // A call already answered (a resumption that stored its outputs and
        // failed before clearing them) is not asked for again.
        let pending: Vec<ToolCall> = current
            .pending_tool_calls
            .into_iter()
            .filter(|c| !turn.iter().any(|m| answers_call(m, c)))
            .collect();
        if pending.is_empty() {
            return Err(ConvoError::NoPendingToolCalls);
        }
        let drafts = match_outputs(&pending, outputs)?;
        let stored = store.append_messages(session, drafts).await?;
        store.set_pending_tool_calls(session, &[]).await?;
        let earlier = turn.len();
        let round = turn
            .iter()
            .filter(|m| m.role == Role::Assistant && !m.tool_calls.is_empty())
            .count();
        let round = u32::try_from(round).unwrap_or(u32::MAX);
        let (mut request, context) = self
            .build_request(session, agent, earlier + stored.len())
            .await?;
        if round >= agent.max_tool_rounds {
            request.tool_choice = ToolChoice::None;
        }
        let user_message = turn
            .into_iter()
            .next()
            .ok_or_else(|| ConvoError::Internal("a paused turn has no messages".into()))?;
        Ok(Resumed {
            user_message,
            stored,
            earlier,
            round,
            request,
            context,
        })
    }
}

/// The tool messages answering `pending`, in the calls' order, or why
/// `outputs` do not answer each of them exactly once.
fn match_outputs(
    pending: &[ToolCall],
    outputs: Vec<ToolOutput>,
) -> Result<Vec<MessageDraft>, ConvoError> {
    let ids = || {
        pending
            .iter()
            .map(|c| format!("`{}`", c.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut seen = HashSet::new();
    for output in &outputs {
        if !pending.iter().any(|c| c.id == output.tool_call_id) {
            return Err(ConvoError::invalid(
                "outputs",
                format!(
                    "`{}` is not a pending tool call of this session; the pending calls are {}",
                    shown(&output.tool_call_id),
                    ids()
                ),
            ));
        }
        if !seen.insert(output.tool_call_id.as_str()) {
            return Err(ConvoError::invalid(
                "outputs",
                format!("answer `{}` once", output.tool_call_id),
            ));
        }
    }
    let missing: Vec<String> = pending
        .iter()
        .filter(|c| !seen.contains(c.id.as_str()))
        .map(|c| format!("`{}`", c.id))
        .collect();
    if !missing.is_empty() {
        return Err(ConvoError::invalid(
            "outputs",
            format!(
                "must answer every pending tool call in one request; missing {}",
                missing.join(", ")
            ),
        ));
    }
    let mut outputs = outputs;
    Ok(pending
        .iter()
        .filter_map(|call| {
            let i = outputs.iter().position(|o| o.tool_call_id == call.id)?;
            let output = outputs.swap_remove(i);
            Some(tool_message(
                call,
                output_text(output.output),
                output.is_error,
            ))
        })
        .collect())
}

/// An id from the request, cut short for the error message.
fn shown(id: &str) -> String {
    id.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "get_weather".into(),
            arguments: json!({}),
            provider_state: None,
        }
    }

    #[test]
    fn outputs_are_stored_in_the_calls_order_with_their_text() {
        let pending = [call("a"), call("b")];
        let outputs = vec![
            ToolOutput {
                is_error: true,
                ..ToolOutput::new("b", json!("offline"))
            },
            ToolOutput::new("a", json!({"temp_c": 18})),
        ];

        let drafts = match_outputs(&pending, outputs).expect("valid");

        let shown: Vec<(Option<&str>, &str, bool)> = drafts
            .iter()
            .map(|d| (d.tool_call_id.as_deref(), d.content.as_str(), d.is_error))
            .collect();
        assert_eq!(
            shown,
            [
                (Some("a"), r#"{"temp_c":18}"#, false),
                (Some("b"), "offline", true)
            ]
        );
    }

    #[test]
    fn unknown_repeated_and_missing_calls_are_invalid_outputs() {
        let pending = [call("a"), call("b")];
        let cases = [
            (
                vec![ToolOutput::new("zzz", json!(1))],
                "not a pending tool call",
            ),
            (
                vec![
                    ToolOutput::new("a", json!(1)),
                    ToolOutput::new("a", json!(2)),
                ],
                "once",
            ),
            (vec![ToolOutput::new("a", json!(1))], "missing `b`"),
            (vec![], "missing `a`, `b`"),
        ];
        for (outputs, says) in cases {
            match match_outputs(&pending, outputs.clone()) {
                Err(ConvoError::Invalid { field, reason }) => {
                    assert_eq!(field, "outputs");
                    assert!(reason.contains(says), "{outputs:?}: {reason}");
                }
                other => panic!("{outputs:?}: expected Invalid, got {other:?}"),
            }
        }
    }
}
