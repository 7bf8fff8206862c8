//! Projects, agents and chat sessions: create, read, list, update, delete.

use super::agent_tools::new_webhook_secret;
use super::reach;
use super::{parse_id, validate, Convo, ListParams};
use crate::domain::{
    now, Agent, AgentId, AgentPatch, Caller, ChatSession, EndUser, ForkOrigin, IntoId, Message,
    MessageId, NewAgent, NewProject, Order, Page, Project, ProjectId, ProjectPatch, SessionId,
    UserId,
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

    /// The caller's project (an admin key's own).
    pub async fn project(
        &self,
        caller: impl Into<Caller>,
        id: impl IntoId<ProjectId>,
    ) -> Result<Project, ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "reading the project")?;
        self.project_in_reach(&caller, id).await
    }

    /// The project, if the caller reaches it (no scope check).
    pub(crate) async fn project_in_reach(
        &self,
        caller: &Caller,
        id: impl IntoId<ProjectId>,
    ) -> Result<Project, ConvoError> {
        let id = parse_id(id, "project")?;
        if !reach::reaches(caller, &id) {
            return Err(ConvoError::NotFound("project"));
        }
        self.store()
            .project(&caller.owner(), &id)
            .await?
            .ok_or(ConvoError::NotFound("project"))
    }

    /// A page of the owner's projects (newest first by default).
    ///
    /// Kept in process while the store's [change
    /// feed](crate::store::ChangeFeed) is healthy: a project created,
    /// changed or deleted through this engine's store drops the kept pages
    /// at once, one written elsewhere when its change arrives (a stream's
    /// delivery; on SQLite at once); while the feed is down, every call
    /// asks the store.
    pub async fn list_projects(
        &self,
        owner: &UserId,
        params: &ListParams<ProjectId>,
    ) -> Result<Page<Project>, ConvoError> {
        let page = params.parse(Order::Desc, ProjectId::parse)?;
        let feed = self.store().changes();
        if let Some(kept) = feed.and_then(|f| f.project_page(owner, &page)) {
            return Ok(kept);
        }
        // Taken before the read: the page is kept only if no change
        // arrived while it was being read.
        let ticket = feed.and_then(|f| f.ticket());
        let found = self.store().projects(owner, &page).await?;
        if let (Some(feed), Some(ticket)) = (feed, ticket) {
            feed.keep_project_page(ticket, owner, &page, &found);
        }
        Ok(found)
    }

    /// Changes the fields given in `patch`.
    pub async fn update_project(
        &self,
        caller: impl Into<Caller>,
        id: impl IntoId<ProjectId>,
        patch: ProjectPatch,
    ) -> Result<Project, ConvoError> {
        let mut project = self.project(caller, id).await?;
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
        caller: impl Into<Caller>,
        project_id: impl IntoId<ProjectId>,
        new: NewAgent,
    ) -> Result<Agent, ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "managing agents")?;
        let project = self.project_in_reach(&caller, project_id).await?;
        let owner = &caller.owner();
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

    /// The caller's agent.
    pub async fn agent(
        &self,
        caller: impl Into<Caller>,
        id: impl IntoId<AgentId>,
    ) -> Result<Agent, ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "managing agents")?;
        self.agent_in_reach(&caller, id).await
    }

    /// The agent, if the caller reaches it (no scope check).
    pub(crate) async fn agent_in_reach(
        &self,
        caller: &Caller,
        id: impl IntoId<AgentId>,
    ) -> Result<Agent, ConvoError> {
        let id = parse_id(id, "agent")?;
        let agent = self
            .store()
            .agent(&caller.owner(), &id)
            .await?
            .ok_or(ConvoError::NotFound("agent"))?;
        reach::agent_in_reach(caller, agent)
    }

    /// A page of a project's agents (newest first by default).
    pub async fn list_agents(
        &self,
        caller: impl Into<Caller>,
        project_id: impl IntoId<ProjectId>,
        params: &ListParams<AgentId>,
    ) -> Result<Page<Agent>, ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "managing agents")?;
        let page = params.parse(Order::Desc, AgentId::parse)?;
        let project = self.project_in_reach(&caller, project_id).await?;
        Ok(self
            .store()
            .agents(&caller.owner(), &project.id, &page)
            .await?)
    }

    /// Changes the fields given in `patch`.
    pub async fn update_agent(
        &self,
        caller: impl Into<Caller>,
        id: impl IntoId<AgentId>,
        patch: AgentPatch,
    ) -> Result<Agent, ConvoError> {
        let mut agent = self.agent(caller, id).await?;
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
        caller: impl Into<Caller>,
        id: impl IntoId<AgentId>,
    ) -> Result<(), ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "managing agents")?;
        let id = parse_id(id, "agent")?;
        if caller.project().is_some() {
            // A key reaches one project: check the agent is in it first.
            self.agent_in_reach(&caller, id).await?;
        }
        found(
            self.store().delete_agent(&caller.owner(), &id).await?,
            "agent",
        )
    }

    // ---- sessions ----

    /// Starts a chat session with one of the caller's agents. A key's
    /// session records the end user it was started for.
    pub async fn start_session(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        title: Option<&str>,
    ) -> Result<ChatSession, ConvoError> {
        let caller = caller.into();
        let title = validate::optional_name("title", title)?;
        let agent = self.agent_in_reach(&caller, agent_id).await?;
        let at = now();
        let session = ChatSession {
            id: SessionId::new(),
            agent_id: agent.id,
            project_id: agent.project_id,
            owner: agent.owner,
            title,
            message_count: 0,
            created_at: at,
            updated_at: at,
            forked_from: None,
            pending_tool_calls: Vec::new(),
            end_user: caller.end_user().cloned(),
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
        caller: impl Into<Caller>,
        id: impl IntoId<SessionId>,
        up_to_seq: u64,
        title: Option<&str>,
    ) -> Result<ChatSession, ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "forking chat sessions")?;
        let title = validate::optional_name("title", title)?;
        let source = self.session(&caller, id).await?;
        let owner = &caller.owner();
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
            // The fork belongs to whoever the source did.
            end_user: source.end_user,
        };
        match self.store().insert_fork(&fork, &source.id, up_to_seq).await {
            Ok(()) => Ok(fork),
            // The agent or the source went away meanwhile.
            Err(crate::store::StoreError::NotFound(_)) => Err(ConvoError::NotFound("chat session")),
            Err(e) => Err(e.into()),
        }
    }

    /// The caller's chat session (a chat key's: its end user's).
    pub async fn session(
        &self,
        caller: impl Into<Caller>,
        id: impl IntoId<SessionId>,
    ) -> Result<ChatSession, ConvoError> {
        let caller = caller.into();
        let id = parse_id(id, "chat session")?;
        let session = self
            .store()
            .session(&caller.owner(), &id)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))?;
        reach::session_in_reach(&caller, session)
    }

    /// A page of an agent's sessions (newest first by default).
    pub async fn list_sessions(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        params: &ListParams<SessionId>,
    ) -> Result<Page<ChatSession>, ConvoError> {
        self.list_end_user_sessions(caller, agent_id, None, params)
            .await
    }

    /// A page of an agent's sessions started for `end_user` (all of them
    /// with `None`). A chat key sees its own end user's only: naming
    /// another gives an empty page.
    pub async fn list_end_user_sessions(
        &self,
        caller: impl Into<Caller>,
        agent_id: impl IntoId<AgentId>,
        end_user: Option<&EndUser>,
        params: &ListParams<SessionId>,
    ) -> Result<Page<ChatSession>, ConvoError> {
        let caller = caller.into();
        let page = params.parse(Order::Desc, SessionId::parse)?;
        let agent = self.agent_in_reach(&caller, agent_id).await?;
        let filter = match (caller.confined_to(), end_user) {
            (Some(own), Some(asked)) if own != asked => {
                return Ok(Page {
                    data: Vec::new(),
                    has_more: false,
                })
            }
            (Some(own), _) => Some(own),
            (None, asked) => asked,
        };
        Ok(self
            .store()
            .sessions(&caller.owner(), &agent.id, filter, &page)
            .await?)
    }

    /// Sets (or, with `None` or a blank title, clears) the session's title.
    pub async fn update_session(
        &self,
        caller: impl Into<Caller>,
        id: impl IntoId<SessionId>,
        title: Option<&str>,
    ) -> Result<ChatSession, ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "renaming chat sessions")?;
        let title = validate::optional_name("title", title)?;
        let mut session = self.session(&caller, id).await?;
        session.title = title;
        session.updated_at = now();
        self.store().update_session(&session).await?;
        // Re-read: message_count may have moved while we wrote the title.
        self.store()
            .session(&caller.owner(), &session.id)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))
    }

    /// Deletes the session with its messages.
    pub async fn delete_session(
        &self,
        caller: impl Into<Caller>,
        id: impl IntoId<SessionId>,
    ) -> Result<(), ConvoError> {
        let caller = caller.into();
        reach::require_admin(&caller, "deleting chat sessions")?;
        let id = parse_id(id, "chat session")?;
        if caller.project().is_some() {
            self.session(&caller, id).await?;
        }
        found(
            self.store().delete_session(&caller.owner(), &id).await?,
            "chat session",
        )
    }

    /// A page of a session's messages (conversation order by default).
    ///
    /// A page that can no longer change while its session lives (see
    /// below) is kept in process while the store's [change
    /// feed](crate::store::ChangeFeed) is healthy, until a session is
    /// deleted: through this engine's store at once, elsewhere when its
    /// change arrives. Messages are never edited, and a new one takes a
    /// `seq` above every stored one, so a page bounded above by a cursor, or
    /// read upwards with more messages after it (a session's first page in
    /// conversation order, once it is full), stays as it is; the newest
    /// messages are read from the store every time.
    pub async fn list_messages(
        &self,
        caller: impl Into<Caller>,
        session_id: impl IntoId<SessionId>,
        params: &ListParams<MessageId>,
    ) -> Result<Page<Message>, ConvoError> {
        let page = params.parse(Order::Asc, MessageId::parse)?;
        let caller = caller.into();
        let owner = &caller.owner();
        let session = if caller.project().is_some() {
            // A key's reach (its project, a chat key's end user) is checked
            // on the session first.
            self.session(&caller, session_id).await?.id
        } else {
            // The store checks the owner with the read itself.
            parse_id(session_id, "chat session")?
        };
        let feed = self.store().changes();
        if let Some(kept) = feed.and_then(|f| f.message_page(owner, &session, &page)) {
            return Ok(kept);
        }
        // Taken before the read: the page is kept only if no session was
        // deleted while it was being read.
        let ticket = feed.and_then(|f| f.ticket());
        let found = self
            .store()
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
            })?;
        if let (Some(feed), Some(ticket)) = (feed, ticket) {
            feed.keep_message_page(ticket, owner, &session, &page, &found);
        }
        Ok(found)
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
