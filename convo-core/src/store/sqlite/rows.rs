//! Rows ↔ domain values: the pure mapping, apart from the queries.
//!
//! Ids are canonical text, times milliseconds since the epoch, counts
//! `INTEGER` (the engine keeps every stored count within `i64`).

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use rusqlite::types::Type;
use rusqlite::Row;

use crate::domain::{
    Agent, ApiKey, ChatSession, ContextRef, Email, EndUser, ExternalIdentity, FinishReason,
    ForkOrigin, KeyScope, Message, Project, Role, Timestamp, Usage, User,
};

/// Milliseconds since the epoch, as stored.
pub(super) fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// A stored count (always within `i64`: the engine refuses bigger ones).
pub(super) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn corrupt(idx: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        Type::Text,
        format!("stored {what} does not read back").into(),
    )
}

fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let ms: i64 = row.get(idx)?;
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| corrupt(idx, "time"))
}

fn parsed<T: FromStr>(row: &Row<'_>, idx: usize, what: &str) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|_| corrupt(idx, what))
}

fn small(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u32>> {
    let v: Option<i64> = row.get(idx)?;
    v.map(|v| u32::try_from(v).map_err(|_| corrupt(idx, "agent setting")))
        .transpose()
}

/// The wire name of a role, as stored.
pub(super) fn role_name(role: Role) -> &'static str {
    role.as_str()
}

fn role(row: &Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    row.get_ref(idx)?
        .as_str()?
        .parse()
        .map_err(|_| corrupt(idx, "role"))
}

/// A JSON text column (tools, tool calls).
fn json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
    what: &str,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|_| corrupt(idx, what))
}

fn finish_reason(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<FinishReason>> {
    let Some(text) = row.get_ref(idx)?.as_str_or_null()? else {
        return Ok(None);
    };
    text.parse()
        .map(Some)
        .map_err(|_| corrupt(idx, "finish reason"))
}

/// `users` columns, in [`user`]'s order.
pub(super) const USER_COLUMNS: &str =
    "id, email, name, password_hash, created_at, external_issuer, external_subject";

/// A `users` row. A user without a password keeps `''` in `password_hash`
/// (migration 0003 says why).
pub(super) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    let email: String = row.get(1)?;
    let password_hash: String = row.get(3)?;
    let issuer: Option<String> = row.get(5)?;
    let subject: Option<String> = row.get(6)?;
    let external = match (issuer, subject) {
        (Some(issuer), Some(subject)) => Some(
            ExternalIdentity::new(&issuer, &subject)
                .map_err(|_| corrupt(5, "external identity"))?,
        ),
        (None, None) => None,
        _ => return Err(corrupt(5, "external identity (half of it)")),
    };
    Ok(User {
        id: parsed(row, 0, "user id")?,
        email: Email::parse(&email).map_err(|_| corrupt(1, "email"))?,
        name: row.get(2)?,
        password_hash: Some(password_hash).filter(|h| !h.is_empty()),
        external,
        created_at: time(row, 4)?,
    })
}

/// What `users.password_hash` holds for `user`: `''` when it has none.
pub(super) fn password_column(user: &User) -> &str {
    user.password_hash.as_deref().unwrap_or_default()
}

/// `projects` columns, in [`project`]'s order.
pub(super) const PROJECT_COLUMNS: &str = "id, owner, name, description, created_at, updated_at";

/// A `projects` row.
pub(super) fn project(row: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: parsed(row, 0, "project id")?,
        owner: parsed(row, 1, "owner id")?,
        name: row.get(2)?,
        description: row.get(3)?,
        created_at: time(row, 4)?,
        updated_at: time(row, 5)?,
    })
}

/// `agents` columns, in [`agent`]'s order.
pub(super) const AGENT_COLUMNS: &str = "id, project_id, owner, name, system_prompt, model, \
    temperature, max_output_tokens, context_messages, context_tokens, reasoning_effort, \
    created_at, updated_at, tools, max_tool_rounds, webhook_secret";

/// An `agents` row.
pub(super) fn agent(row: &Row<'_>) -> rusqlite::Result<Agent> {
    let effort: Option<String> = row.get(10)?;
    Ok(Agent {
        id: parsed(row, 0, "agent id")?,
        project_id: parsed(row, 1, "project id")?,
        owner: parsed(row, 2, "owner id")?,
        name: row.get(3)?,
        system_prompt: row.get(4)?,
        model: row.get(5)?,
        temperature: row.get(6)?,
        max_output_tokens: small(row, 7)?,
        context_messages: small(row, 8)?.ok_or_else(|| corrupt(8, "context_messages"))?,
        context_tokens: small(row, 9)?,
        reasoning_effort: effort
            .map(|e| e.parse().map_err(|_| corrupt(10, "reasoning effort")))
            .transpose()?,
        created_at: time(row, 11)?,
        updated_at: time(row, 12)?,
        tools: json(row, 13, "tools")?,
        max_tool_rounds: small(row, 14)?.ok_or_else(|| corrupt(14, "max_tool_rounds"))?,
        webhook_secret: row.get(15)?,
    })
}

/// `sessions` columns, in [`session`]'s order.
pub(super) const SESSION_COLUMNS: &str = "id, agent_id, project_id, owner, title, \
    message_count, created_at, updated_at, forked_from_session, forked_from_seq, \
    pending_tool_calls, end_user";

/// A `sessions` row.
pub(super) fn session(row: &Row<'_>) -> rusqlite::Result<ChatSession> {
    let fork_session: Option<String> = row.get(8)?;
    let fork_seq: Option<i64> = row.get(9)?;
    let forked_from = match (fork_session, fork_seq) {
        (Some(id), Some(seq)) => Some(ForkOrigin {
            session_id: id.parse().map_err(|_| corrupt(8, "fork origin"))?,
            seq: uint(seq),
        }),
        _ => None,
    };
    Ok(ChatSession {
        id: parsed(row, 0, "session id")?,
        agent_id: parsed(row, 1, "agent id")?,
        project_id: parsed(row, 2, "project id")?,
        owner: parsed(row, 3, "owner id")?,
        title: row.get(4)?,
        message_count: uint(row.get(5)?),
        created_at: time(row, 6)?,
        updated_at: time(row, 7)?,
        forked_from,
        pending_tool_calls: json(row, 10, "pending tool calls")?,
        end_user: end_user(row, 11)?,
    })
}

/// `messages` columns, in [`message`]'s order (and [`message_values`]'s).
pub(super) const MESSAGE_COLUMNS: &str = "id, session_id, seq, role, content, created_at, \
    model, finish_reason, usage_prompt_tokens, usage_completion_tokens, usage_total_tokens, \
    usage_thoughts_tokens, usage_cached_tokens, context_first_seq, context_last_seq, \
    context_messages, provider_state, tool_calls, tool_call_id, tool_name, is_error";

/// Inserts one message, values in [`MESSAGE_COLUMNS`]' order.
pub(super) const INSERT_MESSAGE: &str = "INSERT INTO messages (id, session_id, seq, role, \
    content, created_at, model, finish_reason, usage_prompt_tokens, usage_completion_tokens, \
    usage_total_tokens, usage_thoughts_tokens, usage_cached_tokens, context_first_seq, \
    context_last_seq, context_messages, provider_state, tool_calls, tool_call_id, tool_name, \
    is_error) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21)";

/// A `messages` row.
pub(super) fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    let usage = match row.get::<_, Option<i64>>(10)? {
        Some(total) => Some(Usage {
            prompt_tokens: uint(row.get(8)?),
            completion_tokens: uint(row.get(9)?),
            total_tokens: uint(total),
            thoughts_tokens: row.get::<_, Option<i64>>(11)?.map(uint),
            cached_tokens: row.get::<_, Option<i64>>(12)?.map(uint),
        }),
        None => None,
    };
    let context = match row.get::<_, Option<i64>>(13)? {
        Some(first) => Some(ContextRef {
            first_seq: uint(first),
            last_seq: uint(row.get(14)?),
            messages: uint(row.get(15)?),
        }),
        None => None,
    };
    let provider_state: Option<String> = row.get(16)?;
    Ok(Message {
        id: parsed(row, 0, "message id")?,
        session_id: parsed(row, 1, "session id")?,
        seq: uint(row.get(2)?),
        role: role(row, 3)?,
        content: row.get(4)?,
        created_at: time(row, 5)?,
        model: row.get(6)?,
        finish_reason: finish_reason(row, 7)?,
        usage,
        context,
        provider_state: provider_state
            .map(|s| serde_json::from_str(&s).map_err(|_| corrupt(16, "provider state")))
            .transpose()?,
        tool_calls: json(row, 17, "tool calls")?,
        tool_call_id: row.get(18)?,
        tool_name: row.get(19)?,
        is_error: row.get::<_, i64>(20)? != 0,
    })
}

/// A message's values for [`INSERT_MESSAGE`].
pub(super) fn message_values(
    m: &Message,
) -> Result<[rusqlite::types::Value; 21], serde_json::Error> {
    use rusqlite::types::Value;
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::Text(s.to_owned()));
    let number = |v: Option<u64>| v.map_or(Value::Null, |v| Value::Integer(int(v)));
    let usage = m.usage.as_ref();
    let context = m.context.as_ref();
    let provider_state = m
        .provider_state
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    Ok([
        Value::Text(m.id.to_string()),
        Value::Text(m.session_id.to_string()),
        Value::Integer(int(m.seq)),
        Value::Text(role_name(m.role).to_owned()),
        Value::Text(m.content.clone()),
        Value::Integer(millis(m.created_at)),
        text(m.model.as_deref()),
        text(m.finish_reason.map(FinishReason::as_str)),
        number(usage.map(|u| u.prompt_tokens)),
        number(usage.map(|u| u.completion_tokens)),
        number(usage.map(|u| u.total_tokens)),
        number(usage.and_then(|u| u.thoughts_tokens)),
        number(usage.and_then(|u| u.cached_tokens)),
        number(context.map(|c| c.first_seq)),
        number(context.map(|c| c.last_seq)),
        number(context.map(|c| c.messages)),
        text(provider_state.as_deref()),
        Value::Text(serde_json::to_string(&m.tool_calls)?),
        text(m.tool_call_id.as_deref()),
        text(m.tool_name.as_deref()),
        Value::Integer(i64::from(m.is_error)),
    ])
}

/// A nullable end-user column (`sessions.end_user`).
fn end_user(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<EndUser>> {
    let Some(text) = row.get_ref(idx)?.as_str_or_null()? else {
        return Ok(None);
    };
    EndUser::parse(text)
        .map(Some)
        .map_err(|_| corrupt(idx, "end user"))
}

/// An optional time column.
fn optional_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    match row.get::<_, Option<i64>>(idx)? {
        None => Ok(None),
        Some(_) => time(row, idx).map(Some),
    }
}

/// `api_keys` columns, in [`api_key`]'s order (and the insert's).
pub(super) const API_KEY_COLUMNS: &str = "id, project_id, owner, name, scope, prefix, \
    secret_hash, created_at, expires_at, last_used_at, rate_limit_per_minute, \
    end_user_monthly_token_budget";

/// A key's scope as stored.
pub(super) fn scope_name(scope: KeyScope) -> &'static str {
    scope.as_str()
}

/// An `api_keys` row.
pub(super) fn api_key(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let scope = match row.get_ref(4)?.as_str()? {
        "admin" => KeyScope::Admin,
        "chat" => KeyScope::Chat,
        _ => return Err(corrupt(4, "key scope")),
    };
    Ok(ApiKey {
        id: parsed(row, 0, "key id")?,
        project_id: parsed(row, 1, "project id")?,
        owner: parsed(row, 2, "owner id")?,
        name: row.get(3)?,
        scope,
        prefix: row.get(5)?,
        secret_hash: row.get(6)?,
        created_at: time(row, 7)?,
        expires_at: optional_time(row, 8)?,
        last_used_at: optional_time(row, 9)?,
        rate_limit_per_minute: small(row, 10)?,
        end_user_monthly_token_budget: row.get::<_, Option<i64>>(11)?.map(uint),
    })
}
