//! Import: records read one by one into a new project, checked with the
//! engine's usual rules, the half-made project deleted on failure. A
//! session's consecutive message lines are appended in batches
//! ([`MessageBatch`]), one store call each.

use std::collections::HashMap;

use futures::{Stream, StreamExt};

use crate::domain::{
    now, AgentId, ChatSession, ForkOrigin, MessageDraft, MessageId, NewAgent, NewProject, Project,
    ProjectId, Role, SessionId, UserId,
};
use crate::engine::{validate, Convo};
use crate::error::ConvoError;
use crate::store::Store;

use super::batch::MessageBatch;
use super::format::*;

impl Convo {
    /// Imports an export as a new project of `owner`, creating objects as the
    /// records arrive (record *n* is line *n* in errors). On any failure the
    /// partly created project is deleted before the error is returned, and
    /// also when the returned future is dropped half-way.
    pub async fn import_project<S>(
        &self,
        owner: &UserId,
        records: S,
    ) -> Result<Project, ImportError>
    where
        S: Stream<Item = Result<ExportRecord, ImportError>> + Send,
    {
        let mut import = Import {
            engine: self,
            owner: *owner,
            project: None,
            agents: HashMap::new(),
            sessions: HashMap::new(),
            counts: ExportEnd::default(),
            ended: false,
            batch: MessageBatch::default(),
        };
        let mut guard = CleanupGuard {
            store: self.store().clone(),
            owner: *owner,
            project: None,
        };
        let result = import.run(records, &mut guard).await;
        match result {
            Ok(project) => {
                guard.project = None;
                Ok(project)
            }
            Err(e) => {
                if let Some(id) = guard.project.take() {
                    if let Err(cleanup) = self.store().delete_project(owner, &id).await {
                        tracing::warn!(project = %id, error = %cleanup, "could not delete a failed import");
                    }
                }
                Err(e)
            }
        }
    }
}

/// Deletes the imported project if the import future is dropped half-way.
struct CleanupGuard {
    store: std::sync::Arc<dyn Store>,
    owner: UserId,
    project: Option<ProjectId>,
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        let Some(id) = self.project.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(project = %id, "an abandoned import could not be deleted");
            return;
        };
        let (store, owner) = (self.store.clone(), self.owner);
        runtime.spawn(async move {
            if let Err(e) = store.delete_project(&owner, &id).await {
                tracing::warn!(project = %id, error = %e, "could not delete an abandoned import");
            }
        });
    }
}

/// A session being imported: its new id and the `seq` its next message must have.
struct ImportedSession {
    id: SessionId,
    next_seq: u64,
}

/// The state of one import.
struct Import<'a> {
    engine: &'a Convo,
    owner: UserId,
    project: Option<Project>,
    agents: HashMap<String, AgentId>,
    sessions: HashMap<String, ImportedSession>,
    counts: ExportEnd,
    ended: bool,
    /// Message lines held back to be appended many at a time.
    batch: MessageBatch,
}

impl Import<'_> {
    async fn run<S>(&mut self, records: S, guard: &mut CleanupGuard) -> Result<Project, ImportError>
    where
        S: Stream<Item = Result<ExportRecord, ImportError>> + Send,
    {
        futures::pin_mut!(records);
        let mut line = 0u64;
        while let Some(record) = records.next().await {
            line += 1;
            self.apply(line, record?).await.map_err(|e| match e {
                // The engine's own checks become the line's fault.
                ImportError::Convo(ConvoError::Invalid { field, reason }) => {
                    ImportError::line(line, format!("invalid {field}: {reason}"))
                }
                other => other,
            })?;
            if let (None, Some(project)) = (guard.project, &self.project) {
                guard.project = Some(project.id);
            }
        }
        if line == 0 {
            return Err(ImportError::line(
                1,
                format!(
                    "the file is empty; the first line must be {}",
                    format_line()
                ),
            ));
        }
        if !self.ended {
            return Err(ImportError::line(
                line + 1,
                "the file ends early: its last line must be the `end` line",
            ));
        }
        self.project
            .clone()
            .ok_or_else(|| ImportError::line(line, "the file has no project"))
    }

    async fn apply(&mut self, line: u64, record: ExportRecord) -> Result<(), ImportError> {
        if line == 1 {
            return match record {
                ExportRecord::Format(f)
                    if (OLDEST_IMPORTED_VERSION..=EXPORT_VERSION).contains(&f.version) =>
                {
                    Ok(())
                }
                ExportRecord::Format(f) => Err(ImportError::line(
                    1,
                    format!(
                        "this server reads versions {OLDEST_IMPORTED_VERSION} to {EXPORT_VERSION} of the export format, not version {}",
                        f.version
                    ),
                )),
                _ => Err(ImportError::line(
                    1,
                    format!("the first line must be {}", format_line()),
                )),
            };
        }
        if self.ended {
            return Err(ImportError::line(line, "nothing may follow the `end` line"));
        }
        self.counts.count(&record);
        if !matches!(record, ExportRecord::Message(_)) {
            // The held messages go in before anything that may depend on them.
            self.batch.flush(self.engine.store().as_ref()).await?;
        }
        match record {
            ExportRecord::Format(_) => Err(ImportError::line(
                line,
                "the format line may only be the first line",
            )),
            ExportRecord::Project(p) => self.project(line, p).await,
            ExportRecord::Agent(a) => self.agent(line, a).await,
            ExportRecord::Session(s) => self.session(line, s).await,
            ExportRecord::Message(m) => self.message(line, m).await,
            ExportRecord::End(end) => {
                if end != self.counts {
                    return Err(ImportError::line(
                        line,
                        format!(
                            "the end line counts {} agents, {} sessions and {} messages, but the file has {}, {} and {}",
                            end.agents, end.sessions, end.messages,
                            self.counts.agents, self.counts.sessions, self.counts.messages
                        ),
                    ));
                }
                if self.project.is_none() {
                    return Err(ImportError::line(line, "the file has no project line"));
                }
                self.ended = true;
                Ok(())
            }
        }
    }

    fn project_id(&self, line: u64) -> Result<ProjectId, ImportError> {
        self.project
            .as_ref()
            .map(|p| p.id)
            .ok_or_else(|| ImportError::line(line, "the project line must come second"))
    }

    async fn project(&mut self, line: u64, p: ExportedProject) -> Result<(), ImportError> {
        if line != 2 {
            return Err(ImportError::line(
                line,
                "the project line must come second, and only once",
            ));
        }
        file_id(line, "id", &p.id)?;
        let new = NewProject {
            name: p.name,
            description: p.description,
        };
        self.project = Some(self.engine.create_project(&self.owner, new).await?);
        Ok(())
    }

    async fn agent(&mut self, line: u64, a: ExportedAgent) -> Result<(), ImportError> {
        let project = self.project_id(line)?;
        file_id(line, "id", &a.id)?;
        if self.agents.contains_key(&a.id) {
            return Err(ImportError::line(
                line,
                format!("agent id {:?} is used twice", a.id),
            ));
        }
        let new = NewAgent {
            name: a.name,
            system_prompt: a.system_prompt,
            model: a.model,
            temperature: a.temperature,
            max_output_tokens: a.max_output_tokens,
            context_messages: a.context_messages,
            context_tokens: a.context_tokens,
            reasoning_effort: a.reasoning_effort,
            tools: Some(a.tools.into_iter().map(Into::into).collect()),
            max_tool_rounds: a.max_tool_rounds,
        };
        let agent = self
            .engine
            .create_agent(&self.owner, &project.to_string(), new)
            .await?;
        self.agents.insert(a.id, agent.id);
        Ok(())
    }

    async fn session(&mut self, line: u64, s: ExportedSession) -> Result<(), ImportError> {
        let project = self.project_id(line)?;
        file_id(line, "id", &s.id)?;
        if self.sessions.contains_key(&s.id) {
            return Err(ImportError::line(
                line,
                format!("session id {:?} is used twice", s.id),
            ));
        }
        let Some(agent) = self.agents.get(&s.agent_id).copied() else {
            return Err(ImportError::line(
                line,
                format!(
                    "agent_id {:?} is not an agent on an earlier line",
                    s.agent_id
                ),
            ));
        };
        let title = validate::optional_name("title", s.title.as_deref())?;
        // Checked even when the fork is dropped: the line is wrong either way.
        storable(&[("forked_from.seq", s.forked_from.as_ref().map(|f| f.seq))])?;
        let forked_from = s.forked_from.and_then(|f| {
            self.sessions.get(&f.session_id).map(|source| ForkOrigin {
                session_id: source.id,
                seq: f.seq,
            })
        });
        let at = now();
        let session = ChatSession {
            id: SessionId::new(),
            agent_id: agent,
            project_id: project,
            owner: self.owner,
            title,
            message_count: 0,
            created_at: at,
            updated_at: at,
            forked_from,
            // A turn paused in the exporting server is not carried over.
            pending_tool_calls: Vec::new(),
            end_user: s.end_user,
        };
        self.engine
            .store()
            .insert_session(&session)
            .await
            .map_err(ConvoError::from)?;
        self.sessions.insert(
            s.id,
            ImportedSession {
                id: session.id,
                next_seq: 1,
            },
        );
        Ok(())
    }

    async fn message(&mut self, line: u64, m: ExportedMessage) -> Result<(), ImportError> {
        let Some(session) = self.sessions.get_mut(&m.session_id) else {
            return Err(ImportError::line(
                line,
                format!(
                    "session_id {:?} is not a session on an earlier line",
                    m.session_id
                ),
            ));
        };
        if m.seq != session.next_seq {
            return Err(ImportError::line(
                line,
                format!(
                    "seq must be {} (the messages of a session are numbered 1, 2, 3… in order), not {}",
                    session.next_seq, m.seq
                ),
            ));
        }
        let max_bytes = self.engine.settings().max_message_bytes;
        match m.role {
            // Only user messages must have text: a reply cancelled before
            // its first word is stored empty.
            Role::User => validate::content(&m.content, max_bytes)?,
            Role::Assistant | Role::Tool if m.content.len() > max_bytes => {
                return Err(ImportError::line(
                    line,
                    format!("invalid content: must be at most {max_bytes} bytes"),
                ))
            }
            Role::Assistant | Role::Tool => {}
        }
        super::tools::message_tool_fields(&m)?;
        let model = m.model.as_deref().map(validate::model).transpose()?;
        let (usage, context) = (m.usage.as_ref(), m.context.as_ref());
        storable(&[
            ("usage.prompt_tokens", usage.map(|u| u.prompt_tokens)),
            (
                "usage.completion_tokens",
                usage.map(|u| u.completion_tokens),
            ),
            ("usage.total_tokens", usage.map(|u| u.total_tokens)),
            (
                "usage.thoughts_tokens",
                usage.and_then(|u| u.thoughts_tokens),
            ),
            ("usage.cached_tokens", usage.and_then(|u| u.cached_tokens)),
            ("context.first_seq", context.map(|c| c.first_seq)),
            ("context.last_seq", context.map(|c| c.last_seq)),
            ("context.messages", context.map(|c| c.messages)),
        ])?;
        let draft = MessageDraft {
            id: MessageId::new(),
            role: m.role,
            content: m.content,
            created_at: m.created_at.unwrap_or_else(now),
            model,
            finish_reason: m.finish_reason,
            usage: m.usage,
            context: m.context,
            // Signatures are not exported: they are only valid for the
            // deployment that received them.
            provider_state: None,
            tool_calls: m.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: m.tool_call_id,
            tool_name: m.name,
            is_error: m.is_error,
        };
        let (session_id, seq) = (session.id, m.seq);
        session.next_seq += 1;
        if !self.batch.takes(&session_id) {
            self.batch.flush(self.engine.store().as_ref()).await?;
        }
        self.batch.push(line, session_id, seq, draft);
        Ok(())
    }
}

/// Refuses an integer of a line that no store keeps exactly, naming its field.
fn storable(fields: &[(&'static str, Option<u64>)]) -> Result<(), ConvoError> {
    for (field, value) in fields {
        if let Some(value) = value {
            validate::stored_integer(field, *value)?;
        }
    }
    Ok(())
}

/// Checks an id from the file (opaque, but bounded).
fn file_id(line: u64, field: &str, id: &str) -> Result<(), ImportError> {
    if id.is_empty() || id.chars().nth(MAX_FILE_ID_CHARS).is_some() {
        return Err(ImportError::line(
            line,
            format!("{field} must be 1 to {MAX_FILE_ID_CHARS} characters"),
        ));
    }
    Ok(())
}
