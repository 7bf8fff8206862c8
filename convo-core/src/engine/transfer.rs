//! Export and import of a whole project as JSON Lines.
//!
//! # The file format (version 1)
//!
//! One JSON object per line (UTF-8, `\n` or `\r\n` line ends, no blank
//! lines), each tagged by `type` ([`ExportRecord`]), in this order:
//!
//! 1. `{"type":"convo.export","version":1}`: the format line, always first;
//! 2. `{"type":"project","id","name","description","created_at","updated_at"}`;
//! 3. for each agent (oldest first): `{"type":"agent","id","name","system_prompt",
//!    "model","temperature","max_output_tokens","context_messages","context_tokens",
//!    "created_at","updated_at"}`, then for each of its sessions (oldest first)
//!    `{"type":"session","id","agent_id","title","forked_from","created_at","updated_at"}`
//!    followed by its messages in `seq` order: `{"type":"message","session_id","seq",
//!    "role","content","created_at","model"?,"finish_reason"?,"usage"?,"context"?}`;
//! 4. `{"type":"end","agents":N,"sessions":N,"messages":N}`: the counts, always last,
//!    so a file cut short is refused rather than half imported.
//!
//! The ids in a file are the exporting server's; they only tie records
//! together (a session names its agent, a message its session). An importer
//! treats them as opaque strings (at most 100 characters), so hand-written
//! files may use `"a1"`, `"s1"`. Import creates new objects with new ids:
//! projects, agents and sessions get the time of the import as
//! `created_at`/`updated_at`; messages keep their `created_at` (when given).
//! A session's `forked_from` is kept (pointing at the new id) when its source
//! session is earlier in the file, and dropped otherwise. Every record is
//! checked with the engine's usual rules (names, prompts, model ids, content
//! sizes); references must point to earlier records, and a session's `seq`s
//! must run 1, 2, 3… in file order. Integers that are stored (token counts,
//! `context`, a fork's `seq`) must be at most 2^63 − 1, the largest every
//! store keeps exactly, so that a file imports alike into every store.
//!
//! Both directions stream: export pages through the store 100 objects at a
//! time, import creates objects as it reads them, and [`parse_lines`] holds
//! at most one line in memory, so a project of any size costs bounded memory
//! (the import keeps one small entry per agent and session to resolve
//! references).

use std::collections::HashMap;
use std::future::Future;

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{validate, Convo};
use crate::domain::{
    now, AgentId, ChatSession, ContextRef, FinishReason, ForkOrigin, MessageDraft, MessageId,
    NewAgent, NewProject, Order, Page, PageRequest, Project, ProjectId, Role, SessionId, Timestamp,
    Usage, UserId,
};
use crate::error::ConvoError;
use crate::store::{Store, StoreError};

/// The `type` of the format line that starts every export.
pub const EXPORT_FORMAT: &str = "convo.export";
/// The format version this engine writes, and the only one it reads.
pub const EXPORT_VERSION: u32 = 1;
/// Objects read from the store per page while exporting.
const PAGE_SIZE: usize = 100;
/// Longest id (of the exporting server) an import accepts, in characters.
const MAX_FILE_ID_CHARS: usize = 100;

/// One line of an export file; see the [module docs](self) for the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ExportRecord {
    /// The format line: `{"type":"convo.export","version":1}`.
    #[serde(rename = "convo.export")]
    Format(ExportFormat),
    /// The project.
    #[serde(rename = "project")]
    Project(ExportedProject),
    /// An agent of the project.
    #[serde(rename = "agent")]
    Agent(ExportedAgent),
    /// A chat session of an earlier agent.
    #[serde(rename = "session")]
    Session(ExportedSession),
    /// A message of an earlier session.
    #[serde(rename = "message")]
    Message(ExportedMessage),
    /// The last line: how many records of each kind came before it.
    #[serde(rename = "end")]
    End(ExportEnd),
}

impl ExportRecord {
    /// The record as one line of JSON, `\n` included.
    pub fn to_line(&self) -> Result<Vec<u8>, ConvoError> {
        let mut line = serde_json::to_vec(self)
            .map_err(|e| ConvoError::Internal(format!("export serialisation failed: {e}")))?;
        line.push(b'\n');
        Ok(line)
    }
}

/// The format line. Unknown fields are allowed here (only here), so a file of
/// another version is refused for its version, not for its shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFormat {
    /// [`EXPORT_VERSION`] in files this engine writes.
    pub version: u32,
}

/// A project in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedProject {
    /// Its id on the exporting server.
    pub id: String,
    /// Name (1–200 characters).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// An agent in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedAgent {
    /// Its id on the exporting server.
    pub id: String,
    /// Name.
    pub name: String,
    /// System prompt.
    pub system_prompt: String,
    /// Model id (the engine's default when absent).
    #[serde(default)]
    pub model: Option<String>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Output cap.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Context window in messages (the engine's default when absent).
    #[serde(default)]
    pub context_messages: Option<u32>,
    /// Context window as a token budget.
    #[serde(default)]
    pub context_tokens: Option<u32>,
    /// Reasoning effort (the engine's default for the model when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<crate::domain::ReasoningEffort>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// A chat session in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedSession {
    /// Its id on the exporting server.
    pub id: String,
    /// The `id` of its agent, an earlier line.
    pub agent_id: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Where it was forked from: kept on import when that session is earlier in the file.
    #[serde(default)]
    pub forked_from: Option<ExportedFork>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// A fork origin in an export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedFork {
    /// The source session's `id` in the file.
    pub session_id: String,
    /// The last message copied.
    pub seq: u64,
}

/// A message in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedMessage {
    /// The `id` of its session, an earlier line.
    pub session_id: String,
    /// Its position: 1, 2, 3… per session, in file order.
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// When it was written; kept on import (the time of the import when absent).
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Model that wrote it (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why generation stopped (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token usage (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The context window the reply was generated from (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextRef>,
}

/// The last line of an export file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEnd {
    /// Agent lines in the file.
    pub agents: u64,
    /// Session lines in the file.
    pub sessions: u64,
    /// Message lines in the file.
    pub messages: u64,
}

impl ExportEnd {
    fn count(&mut self, record: &ExportRecord) {
        match record {
            ExportRecord::Agent(_) => self.agents += 1,
            ExportRecord::Session(_) => self.sessions += 1,
            ExportRecord::Message(_) => self.messages += 1,
            _ => {}
        }
    }
}

/// Why an import failed. Nothing of the file is left in the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImportError {
    /// A line is malformed or breaks a rule (line 1 also for a foreign version).
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong, for a person to read.
        message: String,
    },
    /// The file is larger than the reader's limit.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file could not be read (e.g. the upload broke off).
    #[error("the file could not be read: {0}")]
    Read(String),
    /// The engine or its store failed: not the file's fault.
    #[error(transparent)]
    Convo(#[from] ConvoError),
}

impl ImportError {
    fn line(line: u64, message: impl Into<String>) -> Self {
        ImportError::Line {
            line,
            message: message.into(),
        }
    }
}

/// The records of an export, ending with an `Err` if the store fails half-way.
pub type ExportStream = BoxStream<'static, Result<ExportRecord, ConvoError>>;

impl Convo {
    /// Exports one of the owner's projects: the format line, the project, its
    /// agents, sessions and messages, and the end line (see the
    /// [format](crate::engine::transfer)).
    ///
    /// Ownership is checked before this returns, so `Err` is an ordinary
    /// failure. The stream reads the store a page at a time as it is polled;
    /// if the store fails it yields that error and ends (without an end line).
    pub async fn export_project(
        &self,
        owner: &UserId,
        project_id: &str,
    ) -> Result<ExportStream, ConvoError> {
        let project = self.project(owner, project_id).await?;
        let store = self.store().clone();
        let owner = *owner;
        let head = stream::iter([
            Ok(ExportRecord::Format(ExportFormat {
                version: EXPORT_VERSION,
            })),
            Ok(ExportRecord::Project(ExportedProject {
                id: project.id.to_string(),
                name: project.name,
                description: project.description,
                created_at: Some(project.created_at),
                updated_at: Some(project.updated_at),
            })),
        ]);
        let agents = {
            let store = store.clone();
            paged(
                move |page| {
                    let store = store.clone();
                    async move { store.agents(&owner, &project.id, &page).await }
                },
                |a| a.id,
            )
        };
        let body = agents
            .map_ok(move |agent| {
                let record = ExportRecord::Agent(ExportedAgent {
                    id: agent.id.to_string(),
                    name: agent.name,
                    system_prompt: agent.system_prompt,
                    model: Some(agent.model),
                    temperature: agent.temperature,
                    max_output_tokens: agent.max_output_tokens,
                    context_messages: Some(agent.context_messages),
                    context_tokens: agent.context_tokens,
                    reasoning_effort: agent.reasoning_effort,
                    created_at: Some(agent.created_at),
                    updated_at: Some(agent.updated_at),
                });
                stream::once(async move { Ok(record) }).chain(export_sessions(
                    store.clone(),
                    owner,
                    agent.id,
                ))
            })
            .try_flatten();
        // A sentinel after the last record makes room for the end line.
        let records = head
            .chain(body)
            .map(Some)
            .chain(stream::once(async { None }));
        let stream = records.scan((ExportEnd::default(), false), |(counts, failed), item| {
            let out = match item {
                _ if *failed => None,
                Some(Ok(record)) => {
                    counts.count(&record);
                    Some(Ok(record))
                }
                Some(Err(e)) => {
                    *failed = true;
                    Some(Err(e))
                }
                None => Some(Ok(ExportRecord::End(*counts))),
            };
            std::future::ready(out)
        });
        Ok(stream.boxed())
    }

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

/// The sessions of an agent, each followed by its messages.
fn export_sessions(
    store: std::sync::Arc<dyn Store>,
    owner: UserId,
    agent: AgentId,
) -> BoxStream<'static, Result<ExportRecord, ConvoError>> {
    let sessions = {
        let store = store.clone();
        paged(
            move |page| {
                let store = store.clone();
                async move { store.sessions(&owner, &agent, &page).await }
            },
            |s| s.id,
        )
    };
    sessions
        .map_ok(move |session| {
            let id = session.id;
            let record = ExportRecord::Session(ExportedSession {
                id: session.id.to_string(),
                agent_id: session.agent_id.to_string(),
                title: session.title,
                forked_from: session.forked_from.map(|f| ExportedFork {
                    session_id: f.session_id.to_string(),
                    seq: f.seq,
                }),
                created_at: Some(session.created_at),
                updated_at: Some(session.updated_at),
            });
            let store = store.clone();
            let messages = paged(
                move |page| {
                    let store = store.clone();
                    async move { store.messages(&id, &page).await }
                },
                |m| m.id,
            )
            .map_ok(|m| {
                ExportRecord::Message(ExportedMessage {
                    session_id: m.session_id.to_string(),
                    seq: m.seq,
                    role: m.role,
                    content: m.content,
                    created_at: Some(m.created_at),
                    model: m.model,
                    finish_reason: m.finish_reason,
                    usage: m.usage,
                    context: m.context,
                })
            });
            stream::once(async move { Ok(record) }).chain(messages)
        })
        .try_flatten()
        .boxed()
}

/// Every item of a list, read a page at a time in ascending order; ends
/// after the first error.
fn paged<T, K, F, Fut>(
    fetch: F,
    key: fn(&T) -> K,
) -> impl Stream<Item = Result<T, ConvoError>> + Send + 'static
where
    T: Send + 'static,
    K: Send + 'static,
    F: FnMut(PageRequest<K>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>, StoreError>> + Send,
{
    stream::try_unfold(
        (fetch, Some(None::<K>)),
        move |(mut fetch, cursor)| async move {
            let Some(after) = cursor else {
                return Ok::<_, ConvoError>(None);
            };
            let page = fetch(PageRequest {
                limit: PAGE_SIZE,
                order: Order::Asc,
                after,
                before: None,
            })
            .await
            .map_err(ConvoError::from)?;
            let next = match page.data.last() {
                Some(last) if page.has_more => Some(Some(key(last))),
                _ => None,
            };
            Ok(Some((page.data, (fetch, next))))
        },
    )
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
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
                ExportRecord::Format(f) if f.version == EXPORT_VERSION => Ok(()),
                ExportRecord::Format(f) => Err(ImportError::line(
                    1,
                    format!(
                        "this server reads version {EXPORT_VERSION} of the export format, not version {}",
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
            Role::Assistant if m.content.len() > max_bytes => {
                return Err(ImportError::line(
                    line,
                    format!("invalid content: must be at most {max_bytes} bytes"),
                ))
            }
            Role::Assistant => {}
        }
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
        };
        let stored = self
            .engine
            .store()
            .append_message(&session.id, draft)
            .await
            .map_err(ConvoError::from)?;
        if stored.seq != m.seq {
            // Someone sent a message to the new session meanwhile.
            return Err(ImportError::line(
                line,
                "the session changed while it was being imported",
            ));
        }
        session.next_seq += 1;
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

/// The format line this engine writes, as text.
fn format_line() -> String {
    format!("{{\"type\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION}}}")
}

/// Splits a byte stream into lines and parses each as an [`ExportRecord`]:
/// the reader for [`Convo::import_project`]. It holds at most one line
/// (`max_line_bytes`) and one chunk in memory, refuses more than
/// `max_total_bytes` in all ([`ImportError::TooLarge`]), and ends after the
/// first error. Blank lines are errors, so record *n* is line *n*.
pub fn parse_lines<S, B, E>(
    chunks: S,
    max_total_bytes: u64,
    max_line_bytes: usize,
) -> impl Stream<Item = Result<ExportRecord, ImportError>> + Send
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display,
{
    let reader = LineReader {
        chunks: Box::pin(chunks),
        chunk: None,
        line: Vec::new(),
        line_no: 0,
        total: 0,
        max_total_bytes,
        max_line_bytes,
        finished: false,
    };
    stream::unfold(reader, |mut reader| async move {
        let item = reader.next_record().await?;
        if item.is_err() {
            reader.finished = true;
        }
        Some((item, reader))
    })
}

struct LineReader<S, B> {
    chunks: std::pin::Pin<Box<S>>,
    /// The chunk being split and how far it has been read.
    chunk: Option<(B, usize)>,
    line: Vec<u8>,
    line_no: u64,
    total: u64,
    max_total_bytes: u64,
    max_line_bytes: usize,
    finished: bool,
}

impl<S, B, E> LineReader<S, B>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    async fn next_record(&mut self) -> Option<Result<ExportRecord, ImportError>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some((chunk, pos)) = &mut self.chunk {
                let rest = &chunk.as_ref()[*pos..];
                let newline = rest.iter().position(|&b| b == b'\n');
                let take = newline.unwrap_or(rest.len());
                if self.line.len() + take > self.max_line_bytes {
                    return Some(Err(ImportError::line(
                        self.line_no + 1,
                        format!("the line is longer than {} bytes", self.max_line_bytes),
                    )));
                }
                self.line.extend_from_slice(&rest[..take]);
                match newline {
                    Some(i) => {
                        *pos += i + 1;
                        if *pos == chunk.as_ref().len() {
                            self.chunk = None;
                        }
                        return Some(self.parse_line());
                    }
                    None => self.chunk = None,
                }
                continue;
            }
            match self.chunks.next().await {
                Some(Ok(chunk)) => {
                    self.total += chunk.as_ref().len() as u64;
                    if self.total > self.max_total_bytes {
                        return Some(Err(ImportError::TooLarge {
                            limit: self.max_total_bytes,
                        }));
                    }
                    self.chunk = Some((chunk, 0));
                }
                Some(Err(e)) => return Some(Err(ImportError::Read(e.to_string()))),
                None => {
                    self.finished = true;
                    // A last line without a final newline still counts.
                    return (!self.line.is_empty()).then(|| self.parse_line());
                }
            }
        }
    }

    fn parse_line(&mut self) -> Result<ExportRecord, ImportError> {
        self.line_no += 1;
        let line = self.line_no;
        let mut text = std::mem::take(&mut self.line);
        if text.last() == Some(&b'\r') {
            text.pop();
        }
        let parsed = parse_record(line, &text);
        // Keep the allocation for the next line.
        text.clear();
        self.line = text;
        parsed
    }
}

/// Parses one line (without its line end).
fn parse_record(line: u64, text: &[u8]) -> Result<ExportRecord, ImportError> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::line(line, "the line is empty"));
    }
    serde_json::from_slice(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let reason = full.strip_suffix(&suffix).unwrap_or(&full);
        ImportError::line(line, format!("{reason} (column {})", e.column()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: Vec<&'static str>) -> Vec<Result<ExportRecord, ImportError>> {
        let chunks = stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        futures::executor::block_on(parse_lines(chunks, 1_000, 200).collect())
    }

    #[test]
    fn lines_split_across_chunks_parse_as_records() {
        let got = lines(vec![
            "{\"type\":\"convo.exp",
            "ort\",\"version\":1}\r\n{\"type\":\"end\",\"agents\":0,",
            "\"sessions\":0,\"messages\":0}",
        ]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(&got[0], Ok(ExportRecord::Format(f)) if f.version == 1));
        assert!(matches!(&got[1], Ok(ExportRecord::End(_))));
    }

    #[test]
    fn a_bad_line_is_named_and_ends_the_stream() {
        let got = lines(vec!["{\"type\":\"convo.export\",\"version\":1}\n\n{}\n"]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            matches!(&got[1], Err(ImportError::Line { line: 2, message }) if message.contains("empty")),
            "{got:?}"
        );
        let got = lines(vec!["{\"type\":\"agent\",\"id\":1}\n"]);
        match &got[0] {
            Err(ImportError::Line { line: 1, message }) => {
                assert!(!message.contains("at line"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_are_enforced() {
        let long = lines(vec![Box::leak("x".repeat(300).into_boxed_str())]);
        assert!(
            matches!(&long[0], Err(ImportError::Line { line: 1, .. })),
            "{long:?}"
        );
        let big: Vec<&'static str> = (0..40)
            .map(|_| "{\"type\":\"convo.export\",\"version\":1}\n")
            .collect();
        let got = lines(big);
        assert!(
            matches!(
                got.last(),
                Some(Err(ImportError::TooLarge { limit: 1_000 }))
            ),
            "{got:?}"
        );
        assert_eq!(got.len(), 28, "27 lines of 36 bytes fit in 1,000: {got:?}");
    }

    #[test]
    fn records_round_trip_through_their_line_form() {
        let record = ExportRecord::Session(ExportedSession {
            id: "s1".into(),
            agent_id: "a1".into(),
            title: Some("t".into()),
            forked_from: None,
            created_at: None,
            updated_at: None,
        });
        let line = record.to_line().expect("serialises");
        assert!(line.ends_with(b"\n"));
        assert!(line.starts_with(b"{\"type\":\"session\""));
        let back: ExportRecord = serde_json::from_slice(&line).expect("parses");
        assert_eq!(back, record);
    }
}
