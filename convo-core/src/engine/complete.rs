//! Completions: an agent answering a conversation the caller supplies (the
//! OpenAI Chat Completions model), with nothing stored, or one turn of a
//! stored session.
//!
//! Stateless ([`Convo::complete`], [`Convo::stream_complete`]): the agent's
//! system prompt comes first, then the caller's messages; the caller's
//! `temperature` and output cap override the agent's. Messages are `user`
//! or `assistant`, the last one `user`. Caller `system` messages are *added
//! to* the agent's system prompt (after it, separated by blank lines, in
//! their order), never replacing it: the agent's instructions are its
//! owner's, and a client can only extend them. Where the system messages
//! stood among the others is not kept. Nothing is written to the store.
//!
//! In a session ([`Convo::complete_in_session`],
//! [`Convo::stream_in_session`]): the session is the history. Only the last
//! message of the request counts (it must be a `user` message); it is sent
//! as an ordinary turn, which reads the earlier messages from the store and
//! stores the new message and the reply. The request's earlier messages and
//! overrides are ignored, so a stored conversation is always the agent's.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use super::usage::TurnSlot;
use super::{parse_id, validate, Convo, ListParams, SendMessage, Turn, TurnStream};
use crate::domain::{Agent, AgentId, IntoId, Role, SessionId, Usage, UserId};
use crate::error::ConvoError;
use crate::llm::{ChatMessage, ChunkStream, LlmChunk, LlmError, LlmReply, LlmRequest};

/// Who wrote a message of a completion request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionRole {
    /// Instructions, added to the agent's system prompt.
    System,
    /// The user.
    User,
    /// The model, earlier in the conversation.
    Assistant,
}

/// One message of a completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionMessage {
    /// Author.
    pub role: CompletionRole,
    /// Text.
    pub content: String,
}

impl CompletionMessage {
    /// A message.
    pub fn new(role: CompletionRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// Generation settings that replace the agent's for one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CompletionOverrides {
    /// Sampling temperature (0–2) instead of the agent's.
    pub temperature: Option<f64>,
    /// Output cap (at least 1 token) instead of the agent's.
    pub max_output_tokens: Option<u32>,
    /// Reasoning effort instead of the agent's; one the agent's model does
    /// not take is [`ConvoError::Invalid`] on `reasoning_effort`.
    pub reasoning_effort: Option<crate::domain::ReasoningEffort>,
}

impl Convo {
    /// The request a stateless completion sends: the agent's model and
    /// settings, its system prompt extended by the caller's `system`
    /// messages, then the caller's messages (see the module docs).
    /// Another user's agent, or an id that does not parse, is `NotFound("agent")`.
    pub async fn completion_request(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        messages: &[CompletionMessage],
        overrides: CompletionOverrides,
    ) -> Result<LlmRequest, ConvoError> {
        let agent = self.agent(owner, agent_id).await?;
        self.completion_for(&agent, messages, overrides)
    }

    /// Answers `messages` as the agent, storing no messages. Like a turn, it
    /// is subject to the user's quotas and recorded in the usage ledger
    /// (under a session id of its own that names no stored session).
    pub async fn complete(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        messages: &[CompletionMessage],
        overrides: CompletionOverrides,
    ) -> Result<LlmReply, ConvoError> {
        let agent = self.agent(owner, agent_id).await?;
        let request = self.completion_for(&agent, messages, overrides)?;
        let _slot = self.admit_turn(owner).await?;
        let result = self.llm().generate(request).await;
        let usage = result.as_ref().ok().and_then(|r| r.usage);
        self.record_turn(&agent, SessionId::new(), usage, result.is_err())
            .await;
        Ok(result?)
    }

    /// Like [`complete`](Self::complete), streamed. The outer `Err` means
    /// nothing started (bad input, not found, over quota, the provider
    /// refused to start); a stream item `Err` means the reply broke off.
    /// Dropping the stream stops generation.
    pub async fn stream_complete(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        messages: &[CompletionMessage],
        overrides: CompletionOverrides,
    ) -> Result<ChunkStream, ConvoError> {
        let agent = self.agent(owner, agent_id).await?;
        let request = self.completion_for(&agent, messages, overrides)?;
        let slot = self.admit_turn(owner).await?;
        let mut ledger = Ledger {
            engine: self.clone(),
            agent,
            usage: None,
            failed: false,
            _slot: slot,
        };
        match self.llm().stream(request).await {
            Ok(inner) => Ok(Box::pin(Metered {
                inner,
                ledger: Some(ledger),
            })),
            Err(e) => {
                ledger.failed = true;
                drop(ledger);
                Err(e.into())
            }
        }
    }

    /// Sends the last of `messages` (a `user` message) as a turn of the
    /// stored session, which must be one of `agent_id`'s (else `422 model`).
    /// See the module docs for what is ignored.
    pub async fn complete_in_session(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        session_id: impl IntoId<SessionId>,
        messages: &[CompletionMessage],
        idempotency_key: Option<String>,
    ) -> Result<Turn, ConvoError> {
        let session_id = parse_id(session_id, "chat session")?;
        let message = self
            .session_message(owner, agent_id, session_id, messages, idempotency_key)
            .await?;
        self.send_message(owner, session_id, message).await
    }

    /// Like [`complete_in_session`](Self::complete_in_session), streamed
    /// as [`stream_message`](Self::stream_message) streams.
    pub async fn stream_in_session(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        session_id: impl IntoId<SessionId>,
        messages: &[CompletionMessage],
        idempotency_key: Option<String>,
    ) -> Result<TurnStream, ConvoError> {
        let session_id = parse_id(session_id, "chat session")?;
        let message = self
            .session_message(owner, agent_id, session_id, messages, idempotency_key)
            .await?;
        self.stream_message(owner, session_id, message).await
    }

    /// Every agent of the owner, in every project (newest project first,
    /// each project's agents newest first).
    pub async fn all_agents(&self, owner: &UserId) -> Result<Vec<Agent>, ConvoError> {
        let mut agents = Vec::new();
        let mut projects = ListParams {
            limit: Some(100),
            ..ListParams::default()
        };
        loop {
            let page = self.list_projects(owner, &projects).await?;
            for project in &page.data {
                let project_id = project.id.to_string();
                let mut params = ListParams {
                    limit: Some(100),
                    ..ListParams::default()
                };
                loop {
                    let agents_page = match self.list_agents(owner, &project_id, &params).await {
                        Ok(page) => page,
                        // Deleted while we listed: it has no agents any more.
                        Err(ConvoError::NotFound(_)) => break,
                        Err(e) => return Err(e),
                    };
                    agents.extend(agents_page.data.iter().cloned());
                    match (agents_page.has_more, agents_page.data.last()) {
                        (true, Some(last)) => params.after = Some(last.id.into()),
                        _ => break,
                    }
                }
            }
            match (page.has_more, page.data.last()) {
                (true, Some(last)) => projects.after = Some(last.id.into()),
                _ => break,
            }
        }
        Ok(agents)
    }

    /// The checks of a session completion, and the message it sends.
    async fn session_message(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        session_id: SessionId,
        messages: &[CompletionMessage],
        idempotency_key: Option<String>,
    ) -> Result<SendMessage, ConvoError> {
        let session = self.session(owner, session_id).await?;
        if agent_id.into_id().ok() != Some(session.agent_id) {
            return Err(ConvoError::invalid(
                "model",
                "must be the id of the chat session's agent",
            ));
        }
        let last = match messages.last() {
            Some(m) if m.role == CompletionRole::User => m,
            _ => {
                return Err(ConvoError::invalid(
                    "messages",
                    "the last message must be a user message",
                ))
            }
        };
        Ok(SendMessage {
            content: last.content.clone(),
            idempotency_key,
        })
    }
}

/// A streamed completion's entry in the usage ledger, written when the
/// stream ends or is dropped; it holds the user's turn slot until then.
struct Ledger {
    engine: Convo,
    agent: Agent,
    usage: Option<Usage>,
    failed: bool,
    _slot: Option<TurnSlot>,
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (engine, agent) = (self.engine.clone(), self.agent.clone());
        let (usage, failed) = (self.usage, self.failed);
        runtime.spawn(async move {
            engine
                .record_turn(&agent, SessionId::new(), usage, failed)
                .await;
        });
    }
}

/// The provider's stream, noting usage and failure for the ledger.
struct Metered {
    inner: ChunkStream,
    ledger: Option<Ledger>,
}

impl Stream for Metered {
    type Item = Result<LlmChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(item) = &item {
            match (item, self.ledger.as_mut()) {
                (Some(Ok(LlmChunk::Finish { usage, .. })), Some(ledger)) => ledger.usage = *usage,
                (Some(Err(_)), Some(ledger)) => ledger.failed = true,
                (None, _) => self.ledger = None, // the end: record now
                _ => {}
            }
        }
        item
    }
}

impl Convo {
    /// The request for `agent`, with the overrides checked against its model.
    fn completion_for(
        &self,
        agent: &Agent,
        messages: &[CompletionMessage],
        overrides: CompletionOverrides,
    ) -> Result<LlmRequest, ConvoError> {
        if let Some(effort) = overrides.reasoning_effort {
            let support = self.llm().reasoning_efforts(&agent.model);
            validate::reasoning_effort(support, &agent.model, effort)?;
        }
        build_request(agent, messages, overrides, self.settings())
    }
}

/// The pure part of [`Convo::completion_request`].
fn build_request(
    agent: &Agent,
    messages: &[CompletionMessage],
    overrides: CompletionOverrides,
    settings: &super::Settings,
) -> Result<LlmRequest, ConvoError> {
    let invalid = |reason: String| ConvoError::invalid("messages", reason);
    let max = settings.max_context_messages as usize;
    if messages.len() > max {
        return Err(invalid(format!("must be at most {max} messages")));
    }
    let mut system = Vec::new();
    if !agent.system_prompt.is_empty() {
        system.push(agent.system_prompt.as_str());
    }
    let mut conversation = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        if message.content.len() > settings.max_message_bytes {
            return Err(invalid(format!(
                "message {i} is over {} bytes",
                settings.max_message_bytes
            )));
        }
        let role = match message.role {
            CompletionRole::System => {
                if !message.content.trim().is_empty() {
                    system.push(message.content.as_str());
                }
                continue;
            }
            CompletionRole::User => Role::User,
            CompletionRole::Assistant => Role::Assistant,
        };
        if message.content.trim().is_empty() {
            return Err(invalid(format!("message {i} has no text")));
        }
        conversation.push(ChatMessage::new(role, message.content.clone()));
    }
    match conversation.last() {
        Some(last) if last.role == Role::User => {}
        Some(_) => return Err(invalid("the last message must be a user message".into())),
        None => {
            return Err(invalid(
                "must hold at least one user message besides system messages".into(),
            ))
        }
    }
    Ok(LlmRequest {
        model: agent.model.clone(),
        system_prompt: system.join("\n\n"),
        messages: conversation,
        temperature: overrides
            .temperature
            .map(validate::temperature)
            .transpose()?
            .or(agent.temperature),
        max_output_tokens: overrides
            .max_output_tokens
            .map(validate::max_output_tokens)
            .transpose()?
            .or(agent.max_output_tokens),
        reasoning_effort: overrides.reasoning_effort.or(agent.reasoning_effort),
        ..LlmRequest::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{now, ProjectId};
    use crate::engine::Settings;

    fn agent() -> Agent {
        Agent {
            id: AgentId::new(),
            project_id: ProjectId::new(),
            owner: UserId::new(),
            name: "a".into(),
            system_prompt: "Be brief.".into(),
            model: "m".into(),
            temperature: Some(0.2),
            max_output_tokens: Some(100),
            context_messages: 20,
            context_tokens: None,
            reasoning_effort: None,
            tools: Vec::new(),
            max_tool_rounds: 8,
            webhook_secret: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn msg(role: CompletionRole, content: &str) -> CompletionMessage {
        CompletionMessage::new(role, content)
    }

    #[test]
    fn system_messages_extend_the_agents_prompt_and_overrides_win() {
        use CompletionRole::*;
        let messages = [
            msg(System, "Answer in French."),
            msg(User, "hi"),
            msg(Assistant, "salut"),
            msg(System, "  "),
            msg(User, "again"),
        ];
        let overrides = CompletionOverrides {
            temperature: Some(1.5),
            max_output_tokens: None,
            reasoning_effort: Some(crate::domain::ReasoningEffort::High),
        };

        let request =
            build_request(&agent(), &messages, overrides, &Settings::default()).expect("valid");

        assert_eq!(request.system_prompt, "Be brief.\n\nAnswer in French.");
        let roles: Vec<_> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
        assert_eq!(request.temperature, Some(1.5), "the override");
        assert_eq!(request.max_output_tokens, Some(100), "the agent's");
        assert_eq!(
            request.reasoning_effort,
            Some(crate::domain::ReasoningEffort::High),
            "the override"
        );
        assert_eq!(request.model, "m");
    }

    #[test]
    fn bad_conversations_and_overrides_are_refused_with_their_field() {
        use CompletionRole::*;
        let settings = Settings::default();
        let none = CompletionOverrides::default();
        let cases: Vec<(Vec<CompletionMessage>, CompletionOverrides, &str)> = vec![
            (vec![], none, "messages"),
            (vec![msg(System, "only instructions")], none, "messages"),
            (vec![msg(User, "q"), msg(Assistant, "a")], none, "messages"),
            (vec![msg(User, " \n")], none, "messages"),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    temperature: Some(3.0),
                    ..none
                },
                "temperature",
            ),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    max_output_tokens: Some(0),
                    ..none
                },
                "max_output_tokens",
            ),
        ];
        for (messages, overrides, field) in cases {
            let err = build_request(&agent(), &messages, overrides, &settings);
            assert!(
                matches!(&err, Err(ConvoError::Invalid { field: f, .. }) if *f == field),
                "{messages:?} {overrides:?}: {err:?}"
            );
        }
    }
}
