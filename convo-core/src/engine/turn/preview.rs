//! The context preview: what the next turn would send, without sending.

use crate::domain::{Caller, IntoId, MessageDraft, Role, SessionId};
use crate::engine::{context, validate, Convo};
use crate::error::ConvoError;
use crate::llm::LlmRequest;

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

impl Convo {
    /// Exactly what the next turn in a session would send to the model, and
    /// which earlier messages it would leave out, without sending anything:
    /// the same code decides both. With `pending`, as if that text were sent
    /// now (it is counted against the token budget and shown last); without,
    /// the history the next message would follow.
    pub async fn context_preview(
        &self,
        caller: impl Into<Caller>,
        session_id: impl IntoId<SessionId>,
        pending: Option<&str>,
    ) -> Result<ContextPreview, ConvoError> {
        if let Some(text) = pending {
            validate::content(text, self.settings().max_message_bytes)?;
        }
        let session = self.session(caller, session_id).await?;
        let owner = &session.owner;
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
                    estimated_tokens: context::estimate_message_tokens(m),
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
}
