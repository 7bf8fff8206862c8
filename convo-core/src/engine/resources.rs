//! Projects, agents and chat sessions: create, read, list, update, delete.

use super::agent_tools::new_webhook_secret;
use super::{parse_id, validate, Convo, ListParams};
use crate::domain::{
    now, Agent, AgentId, AgentPatch, ChatSession, ForkOrigin, IntoId, Message, MessageId, NewAgent,
    NewProject, Order, Page, Project, ProjectId, ProjectPatch, SessionId, UserId,
};
use crate::error::ConvoError;

impl Convo {
    // ---- projects ----

    /// Creates a project owned by `owner`.
    pub async fn create_project(
        &self,
        owner: &UserId,
        new: NewProject,
    ) -> Result<Project, ConvoError> {
        let name = validate::name("name", &new.name)?;
        let description = new.description.map(|d| description(&d)).transpose()?;
        let at = now();
        let project = Project {
            id: ProjectId::new(),
            owner: *owner,
            name,
            description,
            created_at: at,
            updated_at: at,
        };
        self.store().insert_project(&project).await?;
        Ok(project)
    }

    /// The owner's project.
    pub async fn project(
        &self,
        owner: &UserId,
        id: impl IntoId<ProjectId>,
    ) -> Result<Project, ConvoError> {
        let id = parse_id(id, "project")?;
        self.store()
            .project(owner, &id)
            .await?
            .ok_or(ConvoError::NotFound("project"))
    }

    /// A page of the owner's projects (newest first by default).
    pub async fn list_projects(
        &self,
        owner: &UserId,
        params: &ListParams<ProjectId>,
    ) -> Result<Page<Project>, ConvoError> {
        let page = params.parse(Order::Desc, ProjectId::parse)?;
        Ok(self.store().projects(owner, &page).await?)
    }

    /// Changes the fields given in `patch`.
    pub async fn update_project(
        &self,
        owner: &UserId,
        id: impl IntoId<ProjectId>,
        patch: ProjectPatch,
    ) -> Result<Project, ConvoError> {
        let mut project = self.project(owner, id).await?;
        if let Some(name) = patch.name {
            project.name = validate::name("name", &name)?;
        }
        if let Some(d) = patch.description {
            project.description = Some(description(&d)?);
        }
        project.updated_at = now();
        self.store().update_project(&project).await?;
        Ok(project)
    }

    /// Deletes the project with its agents, sessions and messages.
    pub async fn delete_project(
        &self,
        owner: &UserId,
        id: impl IntoId<ProjectId>,
    ) -> Result<(), ConvoError> {
        let id = parse_id(id, "project")?;
        found(self.store().delete_project(owner, &id).await?, "project")
    }

    // ---- agents ----

    /// Creates an agent in one of the owner's projects.
    ///
    /// The agent is given a webhook secret (even without webhook tools, so
    /// one can be added later): the returned agent's `webhook_secret`. A
    /// front end shows it this once; [`Convo::rotate_webhook_secret`]
    /// replaces it.
    pub async fn create_agent(
        &self,
        owner: &UserId,
        project_id: impl IntoId<ProjectId>,
        new: NewAgent,
    ) -> Result<Agent, ConvoError> {
        let project = self.project(owner, project_id).await?;
        let settings = self.settings();
        let at = now();
        let mut agent = Agent {
            id: AgentId::new(),
            project_id: project.id,
            owner: *owner,
            name: validate::name("name", &new.name)?,
            system_prompt: system_prompt(new.system_prompt)?,
            model: validate::served_model(
                self.llm().as_ref(),
                new.model.as_deref().unwrap_or(&settings.default_model),
            )?,
            temperature: new.temperature.map(validate::temperature).transpose()?,
            max_output_tokens: new
                .max_output_tokens
                .map(validate::max_output_tokens)
                .transpose()?,
            context_messages: validate::context_messages(
                new.context_messages
                    .unwrap_or(if new.context_tokens.is_some() {
                        // A token budget instead of a message count.
                        settings.max_context_messages
                    } else {
                        settings.default_context_messages
                    }),
                settings.max_context_messages,
            )?,
            context_tokens: new
                .context_tokens
                .map(validate::context_tokens)
                .transpose()?,
            reasoning_effort: None,
            tools: Vec::new(),
            max_tool_rounds: crate::domain::DEFAULT_MAX_TOOL_ROUNDS,
            webhook_secret: Some(new_webhook_secret()?),
            created_at: at,
            updated_at: at,
        };
        self.set_tools(&mut agent, new.tools, new.max_tool_rounds)?;
        let support = self.llm().reasoning_efforts(&agent.model);
        agent.reasoning_effort = match new.reasoning_effort {
            Some(effort) => Some(validate::reasoning_effort(support, &agent.model, effort)?),
            None => settings
                .default_reasoning_effort
                .filter(|e| support.known_to_accept(*e)),
        };
        self.store().insert_agent(&agent).await?;
        Ok(agent)
    }

    /// The owner's agent.
    pub async fn agent(
        &self,
        owner: &UserId,
        id: impl IntoId<AgentId>,
    ) -> Result<Agent, ConvoError> {
        let id = parse_id(id, "agent")?;
        self.store()
            .agent(owner, &id)
            .await?
            .ok_or(ConvoError::NotFound("agent"))
    }

    /// A page of a project's agents (newest first by default).
    pub async fn list_agents(
        &self,
        owner: &UserId,
        project_id: impl IntoId<ProjectId>,
        params: &ListParams<AgentId>,
    ) -> Result<Page<Agent>, ConvoError> {
        let page = params.parse(Order::Desc, AgentId::parse)?;
        let project = self.project(owner, project_id).await?;
        Ok(self.store().agents(owner, &project.id, &page).await?)
    }

    /// Changes the fields given in `patch`.
    pub async fn update_agent(
        &self,
        owner: &UserId,
        id: impl IntoId<AgentId>,
        patch: AgentPatch,
    ) -> Result<Agent, ConvoError> {
        let mut agent = self.agent(owner, id).await?;
        if let Some(v) = patch.name {
            agent.name = validate::name("name", &v)?;
        }
        if let Some(v) = patch.system_prompt {
            agent.system_prompt = system_prompt(v)?;
        }
        let model_changed = patch.model.is_some();
        if let Some(v) = patch.model {
            agent.model = validate::served_model(self.llm().as_ref(), &v)?;
        }
        if let Some(v) = patch.temperature {
            agent.temperature = Some(validate::temperature(v)?);
        }
        if let Some(v) = patch.max_output_tokens {
            agent.max_output_tokens = Some(validate::max_output_tokens(v)?);
        }
        if let Some(v) = patch.context_messages {
            agent.context_messages =
                validate::context_messages(v, self.settings().max_context_messages)?;
        }
        if let Some(v) = patch.context_tokens {
            agent.context_tokens = v.map(validate::context_tokens).transpose()?;
        }
        if let Some(v) = patch.reasoning_effort {
            agent.reasoning_effort = v;
        }
        self.set_tools(&mut agent, patch.tools, patch.max_tool_rounds)?;
        // The effort is checked against the model after both may have
        // changed: a new model that does not take the agent's effort is
        // refused on `reasoning_effort`, naming what the model takes.
        if let Some(effort) = agent.reasoning_effort {
            if model_changed || patch.reasoning_effort.is_some() {
                let support = self.llm().reasoning_efforts(&agent.model);
                validate::reasoning_effort(support, &agent.model, effort)?;
            }
        }
        agent.updated_at = now();
        self.store().update_agent(&agent).await?;
        Ok(agent)
    }

    /// Deletes the agent with its sessions and messages.
    pub async fn delete_agent(
        &self,
        owner: &UserId,
        id: impl IntoId<AgentId>,
    ) -> Result<(), ConvoError> {
        let id = parse_id(id, "agent")?;
        found(self.store().delete_agent(owner, &id).await?, "agent")
    }

    // ---- sessions ----

    /// Starts a chat session with one of the owner's agents.
    pub async fn start_session(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        title: Option<&str>,
    ) -> Result<ChatSession, ConvoError> {
        let title = validate::optional_name("title", title)?;
        let agent = self.agent(owner, agent_id).await?;
        let at = now();
        let session = ChatSession {
            id: SessionId::new(),
            agent_id: agent.id,
            project_id: agent.project_id,
            owner: *owner,
            title,
            message_count: 0,
            created_at: at,
            updated_at: at,
            forked_from: None,
            pending_tool_calls: Vec::new(),
        };
        self.store().insert_session(&session).await?;
        Ok(session)
    }

    /// Forks a session: a new session of the same agent holding copies of
    /// messages 1..=`up_to_seq` (same contents and roles, new ids, `seq` from
    /// 1), recording where it came from. The source is unchanged. Editing
    /// message N is a fork at N-1 followed by a send; `up_to_seq` 0 forks
    /// an empty session. The title is `title`, else the source's.
    pub async fn fork_session(
        &self,
        owner: &UserId,
        id: impl IntoId<SessionId>,
        up_to_seq: u64,
        title: Option<&str>,
    ) -> Result<ChatSession, ConvoError> {
        let title = validate::optional_name("title", title)?;
        let source = self.session(owner, id).await?;
        if up_to_seq > source.message_count {
            return Err(ConvoError::invalid(
                "up_to_seq",
                format!(
                    "must be at most the session's message count ({})",
                    source.message_count
                ),
            ));
        }
        let at = now();
        let fork = ChatSession {
            id: SessionId::new(),
            agent_id: source.agent_id,
            project_id: source.project_id,
            owner: *owner,
            title: title.or(source.title),
            message_count: up_to_seq,
            created_at: at,
            updated_at: at,
            forked_from: Some(ForkOrigin {
                session_id: source.id,
                seq: up_to_seq,
            }),
            // A fork copies messages, not a paused turn: its calls would be
            // answered twice.
            pending_tool_calls: Vec::new(),
        };
        match self.store().insert_fork(&fork, &source.id, up_to_seq).await {
            Ok(()) => Ok(fork),
            // The agent or the source went away meanwhile.
            Err(crate::store::StoreError::NotFound(_)) => Err(ConvoError::NotFound("chat session")),
            Err(e) => Err(e.into()),
        }
    }

    /// The owner's chat session.
    pub async fn session(
        &self,
        owner: &UserId,
        id: impl IntoId<SessionId>,
    ) -> Result<ChatSession, ConvoError> {
        let id = parse_id(id, "chat session")?;
        self.store()
            .session(owner, &id)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))
    }

    /// A page of an agent's sessions (newest first by default).
    pub async fn list_sessions(
        &self,
        owner: &UserId,
        agent_id: impl IntoId<AgentId>,
        params: &ListParams<SessionId>,
    ) -> Result<Page<ChatSession>, ConvoError> {
        let page = params.parse(Order::Desc, SessionId::parse)?;
        let agent = self.agent(owner, agent_id).await?;
        Ok(self.store().sessions(owner, &agent.id, &page).await?)
    }

    /// Sets (or, with `None` or a blank title, clears) the session's title.
    pub async fn update_session(
        &self,
        owner: &UserId,
        id: impl IntoId<SessionId>,
        title: Option<&str>,
    ) -> Result<ChatSession, ConvoError> {
        let title = validate::optional_name("title", title)?;
        let mut session = self.session(owner, id).await?;
        session.title = title;
        session.updated_at = now();
        self.store().update_session(&session).await?;
        // Re-read: message_count may have moved while we wrote the title.
        self.store()
            .session(owner, &session.id)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))
    }

    /// Deletes the session with its messages.
    pub async fn delete_session(
        &self,
        owner: &UserId,
        id: impl IntoId<SessionId>,
    ) -> Result<(), ConvoError> {
        let id = parse_id(id, "chat session")?;
        found(
            self.store().delete_session(owner, &id).await?,
            "chat session",
        )
    }

    /// A page of a session's messages (conversation order by default).
    pub async fn list_messages(
        &self,
        owner: &UserId,
        session_id: impl IntoId<SessionId>,
        params: &ListParams<MessageId>,
    ) -> Result<Page<Message>, ConvoError> {
        let page = params.parse(Order::Asc, MessageId::parse)?;
        let session = parse_id(session_id, "chat session")?;
        // The store checks the owner with the read itself.
        self.store()
            .messages(owner, &session, &page)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::NotFound("chat session") => {
                    ConvoError::NotFound("chat session")
                }
                crate::store::StoreError::NotFound(_) => {
                    let field = if params.after.is_some() {
                        "after"
                    } else {
                        "before"
                    };
                    ConvoError::invalid(field, "is not a message of this chat session")
                }
                other => other.into(),
            })
    }
}

fn found(deleted: bool, what: &'static str) -> Result<(), ConvoError> {
    if deleted {
        Ok(())
    } else {
        Err(ConvoError::NotFound(what))
    }
}

fn description(value: &str) -> Result<String, ConvoError> {
    validate::max_chars("description", value, validate::MAX_DESCRIPTION_CHARS)?;
    Ok(value.to_owned())
}

fn system_prompt(value: String) -> Result<String, ConvoError> {
    validate::max_chars("system_prompt", &value, validate::MAX_SYSTEM_PROMPT_CHARS)?;
    Ok(value)
}
