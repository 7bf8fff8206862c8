//! Agents: `/api/projects/{id}/agents` and `/api/agents/{id}`.

use convo_core::{AgentPatch, NewAgent};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::types::MaybeUndefined;

use crate::http::body::JsonBody;
use crate::http::json::JsonOut;
use poem_openapi::{ApiResponse, OpenApi};

use super::models::{
    tools_from_request, Agent, AgentList, ChatSessionList, CreateAgent, CreatedAgent, SortOrder,
    UpdateAgent, WebhookSecret,
};
use super::projects::Deleted;
use super::{list_params, ApiTags};
use crate::credentials::Auth;
use crate::http::error::{ApiError, ReadError, WriteError};
use crate::http::pattern::{CursorRule, EndUserRule, Matching};
use crate::state::AppState;

/// Agent operations.
pub struct AgentsApi {
    state: AppState,
}

impl AgentsApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// An agent was created.
#[derive(ApiResponse)]
pub enum AgentCreated {
    /// The new agent, with its webhook secret (shown only here).
    #[oai(status = 201)]
    Created(JsonOut<CreatedAgent>),
}

/// A new webhook secret.
#[derive(ApiResponse)]
pub enum SecretRotated {
    /// The agent's new secret; the old one no longer verifies.
    #[oai(status = 200)]
    Ok(JsonOut<WebhookSecret>),
}

/// An agent.
#[derive(ApiResponse)]
pub enum AgentFound {
    /// The agent.
    #[oai(status = 200)]
    Ok(JsonOut<Agent>),
}

/// A page of agents.
#[derive(ApiResponse)]
pub enum AgentsListed {
    /// The page.
    #[oai(status = 200)]
    Ok(JsonOut<AgentList>),
}

/// A page of chat sessions.
#[derive(ApiResponse)]
pub enum SessionsListed {
    /// The page.
    #[oai(status = 200)]
    Ok(JsonOut<ChatSessionList>),
}

#[OpenApi(tag = "ApiTags::Agents")]
impl AgentsApi {
    /// Create an agent
    ///
    /// Adds an agent to one of the caller's projects. `model` defaults to the server's
    /// Flash model and `context_messages` to the server's window. The answer includes the
    /// agent's `webhook_secret`, which no other answer shows: keep it where the agent's
    /// webhook tools can verify requests with it.
    #[oai(
        path = "/api/projects/:project_id/agents",
        method = "post",
        operation_id = "create_agent"
    )]
    async fn create(
        &self,
        auth: Auth,
        project_id: Path<String>,
        body: JsonBody<CreateAgent>,
    ) -> Result<AgentCreated, WriteError> {
        let b = body.0;
        let tools = b.tools.map(tools_from_request).transpose()?;
        let new = NewAgent {
            name: b.name.into(),
            system_prompt: b.system_prompt.into(),
            model: b.model.map(Into::into),
            temperature: b.temperature,
            max_output_tokens: b.max_output_tokens,
            context_messages: b.context_messages,
            context_tokens: b.context_tokens,
            reasoning_effort: b.reasoning_effort.map(Into::into),
            tools,
            max_tool_rounds: b.max_tool_rounds,
        };
        let mut agent = self
            .state
            .convo
            .create_agent(auth.caller(), &project_id.0, new)
            .await?;
        let webhook_secret = agent.webhook_secret.take().unwrap_or_default();
        Ok(AgentCreated::Created(JsonOut(CreatedAgent {
            agent: agent.into(),
            webhook_secret,
        })))
    }

    /// List a project's agents
    ///
    /// Newest first unless `order=asc`.
    #[oai(
        path = "/api/projects/:project_id/agents",
        method = "get",
        operation_id = "list_agents"
    )]
    async fn list(
        &self,
        auth: Auth,
        project_id: Path<String>,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `desc` (newest first, the default) or `asc`.
        order: Query<Option<SortOrder>>,
        /// Start after this agent id (exclusive).
        after: Query<Option<Matching<CursorRule>>>,
        /// End before this agent id (exclusive): the previous page.
        before: Query<Option<Matching<CursorRule>>>,
    ) -> Result<AgentsListed, ReadError> {
        let params = list_params(limit, order, after, before);
        let page = self
            .state
            .convo
            .list_agents(auth.caller(), &project_id.0, &params)
            .await?;
        Ok(AgentsListed::Ok(JsonOut(AgentList::from_page(page))))
    }

    /// Get an agent
    #[oai(
        path = "/api/agents/:agent_id",
        method = "get",
        operation_id = "get_agent"
    )]
    async fn get(&self, auth: Auth, agent_id: Path<String>) -> Result<AgentFound, ReadError> {
        let agent = self.state.convo.agent(auth.caller(), &agent_id.0).await?;
        Ok(AgentFound::Ok(JsonOut(agent.into())))
    }

    /// Update an agent
    ///
    /// Changes the fields present in the body; the others stay as they are.
    #[oai(
        path = "/api/agents/:agent_id",
        method = "patch",
        operation_id = "update_agent"
    )]
    async fn update(
        &self,
        auth: Auth,
        agent_id: Path<String>,
        body: JsonBody<UpdateAgent>,
    ) -> Result<AgentFound, WriteError> {
        let b = body.0;
        let tools = b.tools.map(tools_from_request).transpose()?;
        let patch = AgentPatch {
            name: b.name.map(Into::into),
            system_prompt: b.system_prompt.map(Into::into),
            model: b.model.map(Into::into),
            temperature: b.temperature,
            max_output_tokens: b.max_output_tokens,
            context_messages: b.context_messages,
            context_tokens: patch_field(b.context_tokens),
            reasoning_effort: patch_field(b.reasoning_effort.map_value(Into::into)),
            tools,
            max_tool_rounds: b.max_tool_rounds,
        };
        let agent = self
            .state
            .convo
            .update_agent(auth.caller(), &agent_id.0, patch)
            .await?;
        Ok(AgentFound::Ok(JsonOut(agent.into())))
    }

    /// Rotate an agent's webhook secret
    ///
    /// Replaces the secret its webhook tools' requests are signed with and returns the new
    /// one; from now on requests carry signatures made with it, and the old one no longer
    /// verifies. Another user's agent is a 404.
    #[oai(
        path = "/api/agents/:agent_id/webhook_secret",
        method = "post",
        operation_id = "rotate_webhook_secret"
    )]
    async fn rotate_webhook_secret(
        &self,
        auth: Auth,
        agent_id: Path<String>,
    ) -> Result<SecretRotated, ReadError> {
        let webhook_secret = self
            .state
            .convo
            .rotate_webhook_secret(auth.caller(), &agent_id.0)
            .await?;
        Ok(SecretRotated::Ok(JsonOut(WebhookSecret { webhook_secret })))
    }

    /// Delete an agent
    ///
    /// Deletes the agent with its chat sessions and messages.
    #[oai(
        path = "/api/agents/:agent_id",
        method = "delete",
        operation_id = "delete_agent"
    )]
    async fn delete(&self, auth: Auth, agent_id: Path<String>) -> Result<Deleted, ReadError> {
        self.state
            .convo
            .delete_agent(auth.caller(), &agent_id.0)
            .await?;
        Ok(Deleted::NoContent)
    }

    /// List an agent's chat sessions
    ///
    /// Newest first unless `order=asc`.
    #[oai(
        path = "/api/agents/:agent_id/sessions",
        method = "get",
        operation_id = "list_agent_sessions"
    )]
    // Each parameter of the operation is an argument: that is how
    // poem-openapi declares them.
    #[allow(clippy::too_many_arguments)]
    async fn sessions(
        &self,
        auth: Auth,
        agent_id: Path<String>,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `desc` (newest first, the default) or `asc`.
        order: Query<Option<SortOrder>>,
        /// Start after this session id (exclusive).
        after: Query<Option<Matching<CursorRule>>>,
        /// End before this session id (exclusive): the previous page.
        before: Query<Option<Matching<CursorRule>>>,
        /// Only the sessions started for this end user (a chat key sees its own end user's
        /// sessions only, whatever this says).
        end_user: Query<Option<Matching<EndUserRule>>>,
        /// The end user a chat key acts for (required with a chat key).
        #[oai(name = "X-Convo-End-User")]
        _end_user_header: Header<Option<Matching<EndUserRule>>>,
    ) -> Result<SessionsListed, ReadError> {
        let params = list_params(limit, order, after, before);
        let end_user = end_user
            .0
            .map(|u| {
                convo_core::EndUser::parse(u.as_str()).map_err(|e| ApiError {
                    param: Some("end_user".into()),
                    ..ApiError::new(
                        poem::http::StatusCode::BAD_REQUEST,
                        "invalid_request",
                        format!("end_user {e}"),
                    )
                })
            })
            .transpose()?;
        let page = self
            .state
            .convo
            .list_end_user_sessions(auth.caller(), &agent_id.0, end_user.as_ref(), &params)
            .await?;
        Ok(SessionsListed::Ok(JsonOut(ChatSessionList::from_page(
            page,
        ))))
    }
}

/// A nullable PATCH field: absent leaves it, `null` clears it, a value sets it.
fn patch_field<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
