//! The context window: which stored messages a turn sends to the model, and
//! the request built from them. A turn and [`Convo::context_preview`] both
//! go through one function, `plan`, so a preview cannot disagree with the turn.
//!
//! The window holds, of the agent's last `context_messages` messages (the
//! new user message included):
//! - only non-empty ones (providers reject empty parts; a reply cancelled
//!   before any text is stored empty), except that an assistant message
//!   with tool calls and a tool message are always kept, text or not;
//! - with a `context_tokens` budget, the newest whose estimated tokens fit
//!   it; the turn being answered (from the last user message on, its tool
//!   rounds included) always;
//! - starting at a user message (a conversation starts with the user).
//!
//! The window is a suffix of the history that starts at a user message, so
//! it never separates a call from its results: a tool message always follows
//! its assistant message with no user message between them (a turn stores
//! both under its lock), so it can be neither the window's first message nor
//! cut away from a call the window keeps.
//!
//! A call can still lack its results: the server that ran the turn died
//! during the tool round (the call is stored before the tools run), and the
//! lease let the next turn in. Both providers refuse such a history, which
//! would fail every later turn of the session, so the request answers each
//! unanswered call with an error result saying it was interrupted (the
//! model sees what happened; nothing is stored).
//!
//! Tokens are estimated, not counted: [`estimate_tokens`] is about four
//! characters per token plus four per message for its role and framing,
//! which is close for English prose in Gemini's and OpenAI's tokenizers and
//! errs high for code and most other scripts. Counting exactly would take a
//! call to the provider per turn.
//!
//! [`Convo::context_preview`]: super::Convo::context_preview

use crate::domain::{Agent, ContextRef, Message, Role};
use crate::llm::{arguments_to_text, ChatMessage, LlmRequest, ToolSpec};

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

/// Estimated tokens of a stored message: its text, and the name and
/// arguments of each call it makes (they are sent too).
pub fn estimate_message_tokens(message: &Message) -> u32 {
    let calls: u32 = message
        .tool_calls
        .iter()
        .map(|c| {
            estimate_tokens(&c.name)
                .saturating_add(estimate_tokens(&arguments_to_text(&c.arguments)))
        })
        .fold(0, u32::saturating_add);
    estimate_tokens(&message.content).saturating_add(calls)
}

/// Whether a message goes in the window: it has text, or it is part of a
/// tool exchange (an empty result is still an answer the model must see).
fn sendable(message: &Message) -> bool {
    !message.content.is_empty() || !message.tool_calls.is_empty() || message.role == Role::Tool
}

/// A stored message as the model gets it.
pub(crate) fn chat_message(m: &Message) -> ChatMessage {
    ChatMessage {
        provider_state: m.provider_state.clone(),
        tool_calls: m.tool_calls.clone(),
        tool_call_id: m.tool_call_id.clone(),
        tool_name: m.tool_name.clone(),
        is_error: m.is_error,
        ..ChatMessage::new(m.role, m.content.clone())
    }
}

/// What the model is told about a call whose turn ended before its tool ran.
pub(crate) const INTERRUPTED_CALL: &str =
    "The tool was not run: the turn that called it was interrupted.";

/// The window as the model gets it, each call that no tool message answers
/// before the next message answered by an [`INTERRUPTED_CALL`] error result
/// (see the module docs). A call still open at the end is the turn in
/// progress, and is left to it.
fn with_interrupted_calls_answered(window: &[&Message]) -> Vec<ChatMessage> {
    let mut messages = Vec::with_capacity(window.len());
    let mut open: Vec<(&str, &str)> = Vec::new();
    for m in window {
        match m.role {
            Role::Tool => {
                let id = m.tool_call_id.as_deref();
                open.retain(|(call, _)| Some(*call) != id);
            }
            _ => {
                for (id, name) in open.drain(..) {
                    messages.push(ChatMessage::tool_result(id, name, INTERRUPTED_CALL, true));
                }
                open.extend(
                    m.tool_calls
                        .iter()
                        .map(|c| (c.id.as_str(), c.name.as_str())),
                );
            }
        }
        messages.push(chat_message(m));
    }
    messages
}

/// The agent's tools as the model sees them (who runs them is not its business).
pub(crate) fn tool_specs(agent: &Agent) -> Vec<ToolSpec> {
    agent
        .tools
        .iter()
        .map(|t| ToolSpec {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        })
        .collect()
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
    // The turn being answered is sent whole, over the budget if need be:
    // without its user message the window would be empty, and without its
    // tool rounds the model would call the same tools again.
    let current = recent
        .iter()
        .rposition(|m| m.role == Role::User)
        .unwrap_or(recent.len().saturating_sub(1));
    for (i, message) in recent.iter().enumerate().rev().filter(|(_, m)| sendable(m)) {
        let cost = estimate_message_tokens(message);
        let over = agent
            .context_tokens
            .is_some_and(|budget| tokens.saturating_add(cost) > budget);
        if i < current && over {
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
        tokens = tokens.saturating_sub(estimate_message_tokens(dropped));
    }
    let request = LlmRequest {
        model: agent.model.clone(),
        system_prompt: agent.system_prompt.clone(),
        messages: with_interrupted_calls_answered(&window),
        tools: tool_specs(agent),
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

    /// A history with a tool exchange: the `tools` markers make an
    /// assistant message calling `a` and `b` followed by their two results.
    fn with_tools(texts: &[&str]) -> Vec<Message> {
        let mut out = Vec::new();
        let session = SessionId::new();
        let mut push = |role, content: &str, f: &dyn Fn(&mut Message)| {
            let mut m = history(&[""]).remove(0);
            m.session_id = session;
            m.seq = out.len() as u64 + 1;
            m.role = role;
            m.content = content.to_owned();
            f(&mut m);
            out.push(m);
        };
        for text in texts {
            match *text {
                "calls" => push(Role::Assistant, "", &|m| {
                    m.tool_calls = ["a", "b"]
                        .map(|n| crate::domain::ToolCall {
                            id: format!("call_{n}"),
                            name: n.into(),
                            arguments: serde_json::json!({"x": 1}),
                            provider_state: None,
                        })
                        .to_vec();
                }),
                "results" => {
                    for n in ["a", "b"] {
                        push(Role::Tool, "", &|m| {
                            m.tool_call_id = Some(format!("call_{n}"));
                            m.tool_name = Some(n.into());
                        });
                    }
                }
                q if q.starts_with('q') => push(Role::User, q, &|_| {}),
                a => push(Role::Assistant, a, &|_| {}),
            }
        }
        out
    }

    /// Every call an assistant message of the window makes is answered in
    /// the window, and no tool message answers a call outside it.
    fn assert_exchanges_whole(plan: &Plan<'_>) {
        let called: Vec<&str> = plan
            .window
            .iter()
            .flat_map(|m| m.tool_calls.iter().map(|c| c.id.as_str()))
            .collect();
        let answered: Vec<&str> = plan
            .window
            .iter()
            .filter_map(|m| m.tool_call_id.as_deref())
            .collect();
        assert_eq!(called, answered, "window {:?}", seqs(plan));
        assert_eq!(plan.window.first().map(|m| m.role), Some(Role::User));
    }

    #[test]
    fn tool_exchanges_are_sent_with_their_fields_and_the_agents_tools() {
        let recent = with_tools(&["q1", "calls", "results", "done", "q2"]);
        let mut agent = agent(None);
        agent.tools = vec![crate::domain::ToolDefinition {
            name: "a".into(),
            description: "does a".into(),
            parameters: serde_json::json!({"type": "object"}),
            execution: crate::domain::ToolExecution::Client,
        }];
        let plan = plan(&agent, &recent);
        assert_eq!(
            seqs(&plan),
            [1, 2, 3, 4, 5, 6],
            "empty tool messages are kept"
        );
        let sent = &plan.request.messages;
        assert_eq!(sent[1].tool_calls.len(), 2);
        assert_eq!(sent[2].tool_call_id.as_deref(), Some("call_a"));
        assert_eq!(sent[3].tool_name.as_deref(), Some("b"));
        assert_eq!(sent[3].role, Role::Tool);
        assert_eq!(plan.request.tools.len(), 1);
        assert_eq!(plan.request.tools[0].description, "does a");
    }

    #[test]
    fn no_budget_cut_separates_a_call_from_its_results() {
        let recent = with_tools(&["q1", "calls", "results", "done", "q2"]);
        // Every budget from nothing to everything: each window starts at a
        // user message and keeps an exchange whole or not at all.
        for budget in 0..200 {
            let plan = plan(&agent(Some(budget)), &recent);
            assert_exchanges_whole(&plan);
            assert!(
                matches!(seqs(&plan).as_slice(), [6] | [1, 2, 3, 4, 5, 6]),
                "budget {budget}: {:?}",
                seqs(&plan)
            );
        }
    }

    #[test]
    fn a_tool_round_sends_its_whole_turn_even_over_the_budget() {
        // The turn being answered: q2, its calls and their results.
        let recent = with_tools(&["q1", "a1", "q2", "calls", "results"]);
        let plan = plan(&agent(Some(1)), &recent);
        assert_eq!(seqs(&plan), [3, 4, 5, 6]);
        assert_exchanges_whole(&plan);
    }

    #[test]
    fn a_call_an_interrupted_turn_left_unanswered_gets_an_error_result_in_the_request() {
        // q1's turn died during its tool round; q2 is the new turn.
        let recent = with_tools(&["q1", "calls", "q2"]);
        let plan = plan(&agent(None), &recent);
        let sent: Vec<_> = plan
            .request
            .messages
            .iter()
            .map(|m| (m.role, m.tool_call_id.as_deref(), m.is_error))
            .collect();
        assert_eq!(
            sent,
            [
                (Role::User, None, false),
                (Role::Assistant, None, false),
                (Role::Tool, Some("call_a"), true),
                (Role::Tool, Some("call_b"), true),
                (Role::User, None, false),
            ]
        );
        assert_eq!(plan.request.messages[2].content, INTERRUPTED_CALL);
        assert_eq!(
            seqs(&plan),
            [1, 2, 3],
            "nothing is added to what was stored"
        );

        // Calls still open at the end are the turn in progress: left alone.
        let in_progress = with_tools(&["q1", "calls"]);
        assert_eq!(plan_len(&in_progress), 2);
    }

    fn plan_len(recent: &[Message]) -> usize {
        plan(&agent(None), recent).request.messages.len()
    }
}
