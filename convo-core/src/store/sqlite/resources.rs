//! Projects, agents and sessions. Inserts check the live, owned parent in
//! the same statement; deletes cascade through the foreign keys.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::SqliteError;
use super::messages::insert_messages;
use super::page::{page, ListQuery};
use super::rows::{
    self, int, millis, AGENT_COLUMNS, MESSAGE_COLUMNS, PROJECT_COLUMNS, SESSION_COLUMNS,
};
use super::SqliteStore;
use crate::domain::{
    Agent, AgentId, ChatSession, EndUser, Message, MessageId, Page, PageRequest, Project,
    ProjectId, SessionId, ToolCall, UserId,
};
use crate::store::StoreError;

/// Inserts a session row if its agent is the owner's and in the session's
/// project; `false` if not.
fn insert_session_row(conn: &Connection, s: &ChatSession) -> Result<bool, SqliteError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO sessions (id, agent_id, project_id, owner, title, message_count, \
         created_at, updated_at, forked_from_session, forked_from_seq, end_user) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
         WHERE EXISTS (SELECT 1 FROM agents WHERE id = ?2 AND owner = ?4 AND project_id = ?3)",
        )?
        .execute(params![
            s.id.to_string(),
            s.agent_id.to_string(),
            s.project_id.to_string(),
            s.owner.to_string(),
            s.title,
            int(s.message_count),
            millis(s.created_at),
            millis(s.updated_at),
            s.forked_from.map(|f| f.session_id.to_string()),
            s.forked_from.map(|f| int(f.seq)),
            s.end_user.as_ref().map(EndUser::as_str),
        ])?;
    Ok(inserted == 1)
}

/// Fails with [`StoreError::NotFound`]`("chat session")` unless `session`
/// is `owner`'s: the check a read or copy of a session's messages runs in
/// its own transaction, before it.
pub(super) fn check_session_owner(
    conn: &Connection,
    session: &str,
    owner: &str,
) -> Result<(), SqliteError> {
    let owned = conn
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1 AND owner = ?2")?
        .exists([session, owner])?;
    if owned {
        Ok(())
    } else {
        Err(StoreError::NotFound("chat session").into())
    }
}

/// The one row `sql` selects by `params`, mapped.
fn one<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, SqliteError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, map)
        .optional()?)
}

/// An agent's tools as stored (JSON text).
fn tools_json(agent: &Agent) -> Result<String, StoreError> {
    serde_json::to_string(&agent.tools)
        .map_err(|e| StoreError::Internal(format!("agent tools do not serialise: {e}")))
}

fn text(v: &impl ToString) -> Value {
    Value::Text(v.to_string())
}

impl SqliteStore {
    pub(super) async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        let p = project.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO projects (id, owner, name, description, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    p.id.to_string(),
                    p.owner.to_string(),
                    p.name,
                    p.description,
                    millis(p.created_at),
                    millis(p.updated_at)
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub(super) async fn project(
        &self,
        owner: &UserId,
        id: &ProjectId,
    ) -> Result<Option<Project>, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.read(move |c| {
            let sql =
                format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1 AND owner = ?2");
            one(c, &sql, [id, owner], rows::project)
        })
        .await
    }

    pub(super) async fn projects(
        &self,
        owner: &UserId,
        request: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        let (owner, request) = (*owner, request.clone());
        self.read(move |c| {
            let select = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE owner = ?");
            let query = ListQuery {
                select: &select,
                params: vec![text(&owner)],
                key: "id",
            };
            let (after, before) = (
                request.after.map(|k| text(&k)),
                request.before.map(|k| text(&k)),
            );
            page(c, query, after, before, &request, rows::project)
        })
        .await
    }

    pub(super) async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let p = project.clone();
        self.write(move |tx| {
            let updated = tx.execute(
                "UPDATE projects SET name = ?3, description = ?4, updated_at = ?5 \
                 WHERE id = ?1 AND owner = ?2",
                params![
                    p.id.to_string(),
                    p.owner.to_string(),
                    p.name,
                    p.description,
                    millis(p.updated_at)
                ],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound("project").into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn delete_project(
        &self,
        owner: &UserId,
        id: &ProjectId,
    ) -> Result<bool, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.write(move |tx| {
            let deleted = tx.execute(
                "DELETE FROM projects WHERE id = ?1 AND owner = ?2",
                [id, owner],
            )?;
            Ok(deleted > 0)
        })
        .await
    }

    pub(super) async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let a = agent.clone();
        let tools = tools_json(&a)?;
        self.write(move |tx| {
            let inserted = tx.execute(
                &format!(
                    "INSERT INTO agents ({AGENT_COLUMNS}) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16 \
                     WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?2 AND owner = ?3)"
                ),
                params![
                    a.id.to_string(),
                    a.project_id.to_string(),
                    a.owner.to_string(),
                    a.name,
                    a.system_prompt,
                    a.model,
                    a.temperature,
                    a.max_output_tokens,
                    a.context_messages,
                    a.context_tokens,
                    a.reasoning_effort.map(|e| e.as_str()),
                    millis(a.created_at),
                    millis(a.updated_at),
                    tools,
                    a.max_tool_rounds,
                    a.webhook_secret
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::NotFound("project").into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn agent(
        &self,
        owner: &UserId,
        id: &AgentId,
    ) -> Result<Option<Agent>, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.read(move |c| {
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1 AND owner = ?2");
            one(c, &sql, [id, owner], rows::agent)
        })
        .await
    }

    pub(super) async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        request: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        let (owner, project, request) = (*owner, *project, request.clone());
        self.read(move |c| {
            let select =
                format!("SELECT {AGENT_COLUMNS} FROM agents WHERE project_id = ? AND owner = ?");
            let query = ListQuery {
                select: &select,
                params: vec![text(&project), text(&owner)],
                key: "id",
            };
            let (after, before) = (
                request.after.map(|k| text(&k)),
                request.before.map(|k| text(&k)),
            );
            page(c, query, after, before, &request, rows::agent)
        })
        .await
    }

    pub(super) async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let a = agent.clone();
        let tools = tools_json(&a)?;
        self.write(move |tx| {
            let updated = tx.execute(
                "UPDATE agents SET name = ?3, system_prompt = ?4, model = ?5, temperature = ?6, \
                 max_output_tokens = ?7, context_messages = ?8, context_tokens = ?9, \
                 reasoning_effort = ?10, updated_at = ?11, tools = ?12, max_tool_rounds = ?13, \
                 webhook_secret = ?14 WHERE id = ?1 AND owner = ?2",
                params![
                    a.id.to_string(),
                    a.owner.to_string(),
                    a.name,
                    a.system_prompt,
                    a.model,
                    a.temperature,
                    a.max_output_tokens,
                    a.context_messages,
                    a.context_tokens,
                    a.reasoning_effort.map(|e| e.as_str()),
                    millis(a.updated_at),
                    tools,
                    a.max_tool_rounds,
                    a.webhook_secret
                ],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound("agent").into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn delete_agent(
        &self,
        owner: &UserId,
        id: &AgentId,
    ) -> Result<bool, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.write(move |tx| {
            let deleted = tx.execute(
                "DELETE FROM agents WHERE id = ?1 AND owner = ?2",
                [id, owner],
            )?;
            Ok(deleted > 0)
        })
        .await
    }

    pub(super) async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let s = session.clone();
        self.write(move |tx| {
            if !insert_session_row(tx, &s)? {
                return Err(StoreError::NotFound("agent").into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        let (mut fork, from) = (session.clone(), *from);
        fork.message_count = up_to_seq;
        // One transaction: nobody sees the fork before all its messages are in.
        self.write(move |tx| {
            if !insert_session_row(tx, &fork)? {
                return Err(StoreError::NotFound("agent").into());
            }
            // Copies only from the fork owner's own session.
            check_session_owner(tx, &from.to_string(), &fork.owner.to_string())?;
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?1 AND seq <= ?2 \
                 ORDER BY seq"
            );
            let copies = tx
                .prepare_cached(&sql)?
                .query_map(params![from.to_string(), int(up_to_seq)], rows::message)?
                .map(|m| {
                    m.map(|m| Message {
                        id: MessageId::new(),
                        session_id: fork.id,
                        ..m
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if copies.len() as u64 != up_to_seq {
                return Err(StoreError::NotFound("message").into());
            }
            insert_messages(tx, &copies)
        })
        .await
    }

    pub(super) async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.read(move |c| {
            let sql =
                format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1 AND owner = ?2");
            one(c, &sql, [id, owner], rows::session)
        })
        .await
    }

    pub(super) async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        request: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        let (owner, agent, request) = (*owner, *agent, request.clone());
        let end_user = end_user.map(|u| u.as_str().to_owned());
        self.read(move |c| {
            let mut select =
                format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE agent_id = ? AND owner = ?");
            let mut params = vec![text(&agent), text(&owner)];
            // Served by `sessions_by_agent_end_user (agent_id, end_user, id)`.
            if let Some(end_user) = end_user {
                select.push_str(" AND end_user = ?");
                params.push(Value::Text(end_user));
            }
            let query = ListQuery {
                select: &select,
                params,
                key: "id",
            };
            let (after, before) = (
                request.after.map(|k| text(&k)),
                request.before.map(|k| text(&k)),
            );
            page(c, query, after, before, &request, rows::session)
        })
        .await
    }

    pub(super) async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let s = session.clone();
        self.write(move |tx| {
            let updated = tx.execute(
                "UPDATE sessions SET title = ?3, updated_at = ?4 WHERE id = ?1 AND owner = ?2",
                params![
                    s.id.to_string(),
                    s.owner.to_string(),
                    s.title,
                    millis(s.updated_at)
                ],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound("chat session").into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        let calls = serde_json::to_string(calls)
            .map_err(|e| StoreError::Internal(format!("tool calls do not serialise: {e}")))?;
        let session = session.to_string();
        self.write(move |tx| {
            let updated = tx.execute(
                "UPDATE sessions SET pending_tool_calls = ?2 WHERE id = ?1",
                params![session, calls],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound("chat session").into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn delete_session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.write(move |tx| {
            let deleted = tx.execute(
                "DELETE FROM sessions WHERE id = ?1 AND owner = ?2",
                [id, owner],
            )?;
            Ok(deleted > 0)
        })
        .await
    }
}
