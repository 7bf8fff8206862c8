//! The context window: which stored messages a turn sends to the model, and
//! the request built from them. A turn and [`Convo::context_preview`] both
//! go through one function, `plan`, so a preview cannot disagree with the turn.
//!
//! The window holds, of the agent's last `context_messages` messages (the
//! new user message included):
//! - only non-empty ones (providers reject empty parts; a reply cancelled
//!   before any text is stored empty);
//! - with a `context_tokens` budget, the newest whose estimated tokens fit
//!   it, the new message always;
//! - starting at a user message (a conversation starts with the user).
//!
//! Tokens are estimated, not counted: [`estimate_tokens`] is about four
//! characters per token plus four per message for its role and framing,
//! which is close for English prose in Gemini's and OpenAI's tokenizers and
//! errs high for code and most other scripts. Counting exactly would take a
//! call to the provider per turn.
//!
//! [`Convo::context_preview`]: super::Convo::context_preview

use crate::domain::{Agent, ContextRef, Message, Role};
use crate::llm::{ChatMessage, LlmRequest};

/// Characters per estimated token.
pub const CHARS_PER_TOKEN: u32 = 4;
/// Estimated tokens of a message's role and framing.
pub const TOKENS_PER_MESSAGE: u32 = 4;

/// Estimated tokens of one message with this text (see the module docs).
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    chars
        .div_ceil(CHARS_PER_TOKEN)
        .saturating_add(TOKENS_PER_MESSAGE)
}

/// A turn's context, decided.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'a> {
    /// The messages sent, oldest first.
    pub window: Vec<&'a Message>,
    /// The request for the model.
    pub request: LlmRequest,
    /// Estimated tokens of the system prompt and the window.
    pub estimated_tokens: u32,
}

impl Plan<'_> {
    /// Which stored messages were sent, for the reply's `context`.
    pub fn context_ref(&self) -> Option<ContextRef> {
        let (first, last) = (self.window.first()?, self.window.last()?);
        Some(ContextRef {
            first_seq: first.seq,
            last_seq: last.seq,
            messages: self.window.len() as u64,
        })
    }
}

/// Decides the window over `recent` (the agent's last `context_messages`
/// messages in ascending `seq`, the new one last) and builds the request.
pub(crate) fn plan<'a>(agent: &Agent, recent: &'a [Message]) -> Plan<'a> {
    let mut window = Vec::new();
    let mut tokens = 0u32;
    for (i, message) in recent
        .iter()
        .rev()
        .filter(|m| !m.content.is_empty())
        .enumerate()
    {
        let cost = estimate_tokens(&message.content);
        let over = agent
            .context_tokens
            .is_some_and(|budget| tokens.saturating_add(cost) > budget);
        if i > 0 && over {
            break;
        }
        tokens = tokens.saturating_add(cost);
        window.push(message);
    }
    window.reverse();
    let start = window
        .iter()
        .position(|m| m.role == Role::User)
        .unwrap_or(window.len());
    for dropped in window.drain(..start) {
        tokens = tokens.saturating_sub(estimate_tokens(&dropped.content));
    }
    let request = LlmRequest {
        model: agent.model.clone(),
        system_prompt: agent.system_prompt.clone(),
        messages: window
            .iter()
            .map(|m| ChatMessage {
                provider_state: m.provider_state.clone(),
                ..ChatMessage::new(m.role, m.content.clone())
            })
            .collect(),
        temperature: agent.temperature,
        max_output_tokens: agent.max_output_tokens,
        reasoning_effort: agent.reasoning_effort,
        ..LlmRequest::default()
    };
    let system = if agent.system_prompt.is_empty() {
        0
    } else {
        estimate_tokens(&agent.system_prompt)
    };
    Plan {
        window,
        request,
        estimated_tokens: tokens.saturating_add(system),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{now, AgentId, MessageId, ProjectId, SessionId, UserId};

    fn agent(context_tokens: Option<u32>) -> Agent {
        Agent {
            id: AgentId::new(),
            project_id: ProjectId::new(),
            owner: UserId::new(),
            name: "a".into(),
            system_prompt: String::new(),
            model: "m".into(),
            temperature: None,
            max_output_tokens: None,
            context_messages: 100,
            context_tokens,
            reasoning_effort: None,
            tools: Vec::new(),
            max_tool_rounds: 8,
            webhook_secret: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn history(texts: &[&str]) -> Vec<Message> {
        let session = SessionId::new();
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| Message {
                id: MessageId::new(),
                session_id: session,
                seq: i as u64 + 1,
                role: if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                },
                content: (*text).to_owned(),
                created_at: now(),
                model: None,
                finish_reason: None,
                usage: None,
                context: None,
                provider_state: None,
                tool_calls: Vec::new(),
                tool_call_id: None,
                tool_name: None,
                is_error: false,
            })
            .collect()
    }

    fn seqs(plan: &Plan<'_>) -> Vec<u64> {
        plan.window.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn estimates_are_four_characters_a_token_plus_four_a_message() {
        assert_eq!(estimate_tokens(""), 4);
        assert_eq!(estimate_tokens("abcd"), 5);
        assert_eq!(estimate_tokens("abcde"), 6);
        assert_eq!(estimate_tokens("héllo wörld!"), 7, "characters, not bytes");
    }

    #[test]
    fn without_a_budget_every_non_empty_message_is_sent() {
        let recent = history(&["q1", "", "q2", "a2", "q3"]);
        let plan = plan(&agent(None), &recent);
        assert_eq!(seqs(&plan), [1, 3, 4, 5], "the empty reply is left out");
        assert_eq!(plan.context_ref().map(|c| c.messages), Some(4));
    }

    #[test]
    fn a_budget_keeps_the_newest_messages_that_fit_starting_at_a_user_message() {
        // Each message of 8 characters costs 6 tokens.
        let recent = history(&["question", "answer!!", "question", "answer!!", "question"]);
        // 20 tokens fit three messages (18), but the third newest is an
        // assistant message... no: seq 3 is a user message, so 3, 4, 5.
        let plan = plan(&agent(Some(20)), &recent);
        assert_eq!(seqs(&plan), [3, 4, 5]);
        assert_eq!(plan.estimated_tokens, 18);
        // 14 tokens fit two (4, 5), but the window may not start with the
        // assistant's message 4: only the new one remains.
        let plan = super::plan(&agent(Some(14)), &recent);
        assert_eq!(seqs(&plan), [5]);
        assert_eq!(plan.estimated_tokens, 6);
    }

    #[test]
    fn the_new_message_is_sent_even_over_the_budget() {
        let recent = history(&["q1", "a1", &"x".repeat(400)]);
        let plan = plan(&agent(Some(10)), &recent);
        assert_eq!(seqs(&plan), [3]);
        assert_eq!(plan.estimated_tokens, 104);
    }
}
