//! Client tools: a round that calls them pauses the turn. The calls wait in
//! the session's `pending_tool_calls` (written under the turn lock, so any
//! engine over the same store sees them), a new message is refused while
//! they wait, and a cancel answers them so the history stays whole.

use crate::domain::{
    Agent, ChatSession, Message, Role, SessionId, ToolCall, ToolExecution, UserId,
};
use crate::engine::Convo;
use crate::error::ConvoError;

use super::lock::TurnLock;
use super::tools::tool_message;

/// What a cancelled paused turn's unanswered calls are answered with.
const CANCELLED_OUTPUT: &str = "the turn was cancelled before the client sent this tool's output";

/// Splits a round's calls into those the client runs (the turn pauses for
/// them) and those run now (server, webhook, and calls the model got wrong,
/// which are answered with an error at once).
pub(super) fn partition(agent: &Agent, calls: &[ToolCall]) -> (Vec<ToolCall>, Vec<ToolCall>) {
    calls.iter().cloned().partition(|call| {
        agent
            .tools
            .iter()
            .find(|t| t.name == call.name)
            .is_some_and(|t| t.execution == ToolExecution::Client)
    })
}

/// The position of the last assistant message, when it asks for tools.
fn last_ask(messages: &[Message]) -> Option<usize> {
    let i = messages.iter().rposition(|m| m.role == Role::Assistant)?;
    (!messages[i].tool_calls.is_empty()).then_some(i)
}

/// A paused turn's calls that no tool message after them answers: what it
/// waits for. Empty when the last assistant message asks for nothing.
pub(crate) fn unanswered(messages: &[Message]) -> Vec<ToolCall> {
    let Some(i) = last_ask(messages) else {
        return Vec::new();
    };
    let answers = &messages[i + 1..];
    messages[i]
        .tool_calls
        .iter()
        .filter(|c| !answers.iter().any(|m| answers_call(m, c)))
        .cloned()
        .collect()
}

/// The tool messages after the last assistant message, when it asks for
/// tools (a paused turn's answered calls); empty otherwise.
pub(super) fn answered_after_last_ask(messages: &[Message]) -> Vec<Message> {
    last_ask(messages).map_or_else(Vec::new, |i| {
        messages[i + 1..]
            .iter()
            .filter(|m| m.role == Role::Tool)
            .cloned()
            .collect()
    })
}

/// Whether `message` is the result of `call`.
pub(super) fn answers_call(message: &Message, call: &ToolCall) -> bool {
    message.role == Role::Tool && message.tool_call_id.as_deref() == Some(call.id.as_str())
}

/// [`ConvoError::ToolOutputsRequired`] when the session's turn waits for
/// client outputs. `locked` is the session as the turn lock returned it: a
/// session read before the lock may predate a turn that paused since.
pub(super) fn ensure_no_pending_calls(locked: &ChatSession) -> Result<(), ConvoError> {
    if locked.pending_tool_calls.is_empty() {
        Ok(())
    } else {
        Err(ConvoError::ToolOutputsRequired)
    }
}

impl Convo {
    /// Ends a paused turn: each pending call gets an `is_error` tool
    /// message saying it was cancelled (so the model, next turn, never sees
    /// a call without its result), and the session waits for nothing.
    /// `Ok(false)` when nothing was pending after all.
    pub(super) async fn drop_pending_calls(
        &self,
        owner: &UserId,
        session: &SessionId,
    ) -> Result<bool, ConvoError> {
        let (lock, current) = match TurnLock::acquire(
            self.store(),
            owner,
            *session,
            self.settings().turn_lease,
        )
        .await
        {
            Ok(locked) => locked,
            // Resumed meanwhile: stop that run like any running turn.
            Err(ConvoError::TurnInProgress) => {
                self.store().cancel_turn(session).await?;
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        let result = self.answer_pending_as_cancelled(current).await;
        lock.release().await;
        result
    }

    /// `current`: the session as the lock returned it.
    async fn answer_pending_as_cancelled(&self, current: ChatSession) -> Result<bool, ConvoError> {
        let session = &current.id;
        if current.pending_tool_calls.is_empty() {
            return Ok(false);
        }
        let turn = self.paused_turn(session, current.message_count).await?;
        let drafts: Vec<_> = current
            .pending_tool_calls
            .iter()
            .filter(|c| !turn.iter().any(|m| answers_call(m, c)))
            .map(|c| tool_message(c, CANCELLED_OUTPUT.into(), true))
            .collect();
        self.store().append_messages(session, drafts).await?;
        self.store().set_pending_tool_calls(session, &[]).await?;
        Ok(true)
    }

    /// The messages of the session's last turn, from its user message on:
    /// read back in growing pages, since a turn's rounds may outnumber the
    /// agent's window.
    pub(super) async fn paused_turn(
        &self,
        session: &SessionId,
        message_count: u64,
    ) -> Result<Vec<Message>, ConvoError> {
        let all = usize::try_from(message_count).unwrap_or(usize::MAX);
        let mut n = 64usize;
        loop {
            let mut recent = self.store().last_messages(session, n).await?;
            if let Some(start) = recent.iter().rposition(|m| m.role == Role::User) {
                return Ok(recent.split_off(start));
            }
            if n >= all {
                return Err(ConvoError::Internal(
                    "a paused turn has no user message".into(),
                ));
            }
            n = n.saturating_mul(4);
        }
    }
}
