//! Completions: an agent answering a conversation the caller supplies (the
//! OpenAI Chat Completions model), with nothing stored, or one turn of a
//! stored session.
//!
//! Stateless ([`Convo::complete`], [`Convo::stream_complete`]): the agent's
//! system prompt comes first, then the caller's messages; the caller's
//! `temperature` and output cap override the agent's. Messages are `user`,
//! `assistant` (text, tool calls or both) or `tool` (the result of a call
//! of the assistant message before it), the last one `user` or `tool`.
//! Caller `system` messages are *added to* the agent's system prompt (after
//! it, separated by blank lines, in their order), never replacing it: the
//! agent's instructions are its owner's, and a client can only extend them.
//! Where the system messages stood among the others is not kept. Nothing is
//! written to the store.
//!
//! Tools, stateless: the model is offered the request's tools only, never
//! the agent's (the caller runs them, so they are the caller's to declare,
//! as in OpenAI's API); a reply that calls them ends with
//! [`FinishReason::ToolCalls`](crate::FinishReason::ToolCalls), and the
//! caller sends the results back as `tool` messages in its next request.
//! A JSON answer (`response_format`) is asked of the provider.
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

mod request;

use super::turn::Attribution;
use super::usage::TurnSlot;
use super::{parse_id, validate, Convo, ListParams, SendMessage, Turn, TurnStream};
use crate::domain::{Agent, AgentId, Caller, IntoId, SessionId, ToolCall, Usage};
use crate::error::ConvoError;
use crate::llm::{
    ChunkStream, LlmChunk, LlmError, LlmReply, LlmRequest, ResponseFormat, ToolChoice, ToolSpec,
};

/// Who wrote a message of a completion request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionRole {
    /// Instructions, added to the agent's system prompt.
    System,
    /// The user.
    User,
    /// The model, earlier in the conversation.
    Assistant,
    /// The result of a tool call the model made earlier.
    Tool,
}

/// One message of a completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionMessage {
    /// Author.
    pub role: CompletionRole,
    /// Text (a tool message's: the tool's output).
    pub content: String,
    /// The calls an assistant message made (each with the
    /// [`ProviderState`](crate::ProviderState) it came with, when the
    /// caller kept it).
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers.
    pub tool_call_id: Option<String>,
}

impl CompletionMessage {
    /// A message with nothing about tools.
    pub fn new(role: CompletionRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// An assistant message that called tools (its text may be empty).
    pub fn assistant_tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::new(CompletionRole::Assistant, content)
        }
    }

    /// The result of the call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            ..Self::new(CompletionRole::Tool, content)
        }
    }
}

/// Generation settings that replace the agent's for one completion, and
/// the tools and answer format it asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompletionOverrides {
    /// Sampling temperature (0–2) instead of the agent's.
    pub temperature: Option<f64>,
    /// Output cap (at least 1 token) instead of the agent's.
    pub max_output_tokens: Option<u32>,
    /// Reasoning effort instead of the agent's; one the agent's model does
    /// not take is [`ConvoError::Invalid`] on `reasoning_effort`.
    pub reasoning_effort: Option<crate::domain::ReasoningEffort>,
    /// The tools the model may call (the agent's own are not offered);
    /// checked by the rules of an agent's tools (`tools[i].…`).
    pub tools: Vec<ToolSpec>,
    /// Whether it must call them; a named tool must be one of `tools`.
    pub tool_choice: ToolChoice,
    /// `Some(false)`: at most one call per answer (asked of providers that
    /// have the setting; the first call is kept where they do not).
    pub parallel_tool_calls: Option<bool>,
    /// A JSON answer instead of free text.
    pub response_format: Option<ResponseFormat>,
}

impl Convo {
    /// The request a stateless completion sends: the agent's model and
    /// settings, its system prompt extended by the caller's `system`
    /// messages, then the caller's messages (see the module docs).
    /// Another user's agent, or an id that does not parse, is `NotFound("agent")`.
    pub async fn completion_request(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        messages: &[CompletionMessage],
        overrides: CompletionOverrides,
    ) -> Result<LlmRequest, ConvoError> {
        let agent = self.agent_in_reach(&caller.into(), agent_id).await?;
        self.completion_for(&agent, messages, overrides)
    }

    /// Answers `messages` as the agent, storing no messages. Like a turn, it
    /// is subject to the user's quotas and recorded in the usage ledger
    /// (under a session id of its own that names no stored session).
    pub async fn complete(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        messages: &[CompletionMessage],
        overrides: CompletionOverrides,
    ) -> Result<LlmReply, ConvoError> {
        let caller = caller.into();
        let agent = self.agent_in_reach(&caller, agent_id).await?;
        let request = self.completion_for(&agent, messages, overrides)?;
        let one_call = request.parallel_tool_calls == Some(false);
        let by = Attribution::stateless(&caller);
        let _slot = self.admit_call(&caller, &agent, &by).await?;
        let result = self.llm().generate(request).await;
        let usage = result.as_ref().ok().and_then(|r| r.usage);
        self.record_turn(&agent, SessionId::new(), &by, usage, result.is_err())
            .await;
        let mut reply = result?;
        if one_call {
            reply.tool_calls.truncate(1);
        }
        Ok(reply)
    }

    /// Like [`complete`](Self::complete), streamed. The outer `Err` means
    /// nothing started (bad input, not found, over quota, the provider
    /// refused to start); a stream item `Err` means the reply broke off.
    /// Dropping the stream stops generation.
    pub async fn stream_complete(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        messages: &[CompletionMessage],
        overrides: CompletionOverrides,
    ) -> Result<ChunkStream, ConvoError> {
        let caller = caller.into();
        let agent = self.agent_in_reach(&caller, agent_id).await?;
        let request = self.completion_for(&agent, messages, overrides)?;
        let calls_left = match request.parallel_tool_calls {
            Some(false) => 1,
            _ => usize::MAX,
        };
        let by = Attribution::stateless(&caller);
        let slot = self.admit_call(&caller, &agent, &by).await?;
        let mut ledger = Ledger {
            engine: self.clone(),
            agent,
            by,
            usage: None,
            failed: false,
            _slot: slot,
        };
        match self.llm().stream(request).await {
            Ok(inner) => Ok(Box::pin(Metered {
                inner,
                ledger: Some(ledger),
                calls_left,
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
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        session_id: impl IntoId<SessionId>,
        messages: &[CompletionMessage],
        idempotency_key: Option<String>,
    ) -> Result<Turn, ConvoError> {
        let caller = caller.into();
        let session_id = parse_id(session_id, "chat session")?;
        let message = self
            .session_message(&caller, agent_id, session_id, messages, idempotency_key)
            .await?;
        self.send_message(caller, session_id, message).await
    }

    /// Like [`complete_in_session`](Self::complete_in_session), streamed
    /// as [`stream_message`](Self::stream_message) streams.
    pub async fn stream_in_session(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        session_id: impl IntoId<SessionId>,
        messages: &[CompletionMessage],
        idempotency_key: Option<String>,
    ) -> Result<TurnStream, ConvoError> {
        let caller = caller.into();
        let session_id = parse_id(session_id, "chat session")?;
        let message = self
            .session_message(&caller, agent_id, session_id, messages, idempotency_key)
            .await?;
        self.stream_message(caller, session_id, message).await
    }

    /// Every agent of the caller, in every project (newest project first,
    /// each project's agents newest first); a key's: its project's.
    pub async fn all_agents(&self, caller: impl Into<Caller>) -> Result<Vec<Agent>, ConvoError> {
        let caller = caller.into();
        if let Some(project) = caller.project() {
            return self.project_agents(&caller, &project).await;
        }
        let owner = &caller.owner();
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

    /// An agent the caller may talk to: the user's, or one of a key's
    /// project (a chat key too, which [`agent`](Self::agent) refuses: it
    /// names agents as `/v1` models).
    pub async fn chat_agent(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
    ) -> Result<Agent, ConvoError> {
        self.agent_in_reach(&caller.into(), agent_id).await
    }

    /// Every agent of one project the caller reaches (no scope check: a
    /// chat key names agents as `/v1` models).
    async fn project_agents(
        &self,
        caller: &Caller,
        project: &crate::domain::ProjectId,
    ) -> Result<Vec<Agent>, ConvoError> {
        let project = self.project_in_reach(caller, project).await?;
        let mut agents = Vec::new();
        let mut page = crate::domain::PageRequest {
            limit: 100,
            order: crate::domain::Order::Desc,
            after: None,
            before: None,
        };
        loop {
            let found = self
                .store()
                .agents(&caller.owner(), &project.id, &page)
                .await?;
            let last = found.data.last().map(|a| a.id);
            agents.extend(found.data);
            match (found.has_more, last) {
                (true, Some(last)) => page.after = Some(last),
                _ => return Ok(agents),
            }
        }
    }

    /// The checks of a session completion, and the message it sends.
    async fn session_message(
        &self,
        caller: &Caller,
        agent_id: impl IntoId<AgentId>,
        session_id: SessionId,
        messages: &[CompletionMessage],
        idempotency_key: Option<String>,
    ) -> Result<SendMessage, ConvoError> {
        let session = self.session(caller, session_id).await?;
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
    by: Attribution,
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
        let by = std::mem::take(&mut self.by);
        runtime.spawn(async move {
            engine
                .record_turn(&agent, SessionId::new(), &by, usage, failed)
                .await;
        });
    }
}

/// The provider's stream, noting usage and failure for the ledger, and
/// passing on at most `calls_left` tool calls.
struct Metered {
    inner: ChunkStream,
    ledger: Option<Ledger>,
    calls_left: usize,
}

impl Stream for Metered {
    type Item = Result<LlmChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let item = this.inner.as_mut().poll_next(cx);
            if let Poll::Ready(item) = &item {
                match (item, this.ledger.as_mut()) {
                    (Some(Ok(LlmChunk::ToolCall(_))), _) if this.calls_left == 0 => continue,
                    (Some(Ok(LlmChunk::ToolCall(_))), _) => this.calls_left -= 1,
                    (Some(Ok(LlmChunk::Finish { usage, .. })), Some(ledger)) => {
                        ledger.usage = *usage
                    }
                    (Some(Err(_)), Some(ledger)) => ledger.failed = true,
                    (None, _) => this.ledger = None, // the end: record now
                    _ => {}
                }
            }
            return item;
        }
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
        request::build_request(agent, messages, overrides, self.settings())
    }
}
