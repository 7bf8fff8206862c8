//! The documents Convo keeps in MongoDB, and their mapping to the domain.
//!
//! Ids are stored as their canonical strings (UUIDv7, hyphenated, lower
//! case), which sort lexicographically in creation order, so `_id` indexes
//! serve every "newest first" list. Times are BSON dates (milliseconds).

use chrono::{TimeZone, Utc};
use mongodb::bson::DateTime;
use serde::{Deserialize, Serialize};

use crate::domain::{
    Agent, AgentId, ChatSession, ContextRef, Email, EndUser, ExternalIdentity, FinishReason,
    ForkOrigin, IdParseError, Message, MessageId, Project, ProjectId, ProviderState,
    ReasoningEffort, Role, SessionId, Timestamp, Usage, User, UserId,
};
use crate::store::{IdempotencyRecord, StoreError};

use super::tools::{calls_from_docs, calls_to_docs, tools_to_docs, ToolCallDoc, ToolDoc};

pub(super) fn to_bson(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.timestamp_millis())
}

pub(super) fn from_bson(t: DateTime) -> Timestamp {
    Utc.timestamp_millis_opt(t.timestamp_millis())
        .single()
        .unwrap_or_default()
}

/// A stored end-user id.
pub(super) fn end_user(text: &str) -> Result<EndUser, StoreError> {
    EndUser::parse(text).map_err(|_| StoreError::Internal("stored end user is malformed".into()))
}

pub(super) fn corrupt(what: &str) -> impl Fn(IdParseError) -> StoreError + '_ {
    move |_| StoreError::Internal(format!("stored {what} id is not a valid id"))
}

/// `users`. `external` is absent for password users, which keeps them out
/// of the sparse unique index on it; `password_hash` is absent for users
/// created for an external identity.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UserDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalIdentity>,
    pub created_at: DateTime,
}

impl UserDoc {
    pub fn from_domain(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            external: u.external.clone(),
            created_at: to_bson(u.created_at),
        }
    }

    pub fn into_domain(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::parse(&self.id).map_err(corrupt("user"))?,
            email: Email::parse(&self.email)
                .map_err(|_| StoreError::Internal("stored email is malformed".into()))?,
            name: self.name,
            password_hash: self.password_hash,
            external: self.external,
            created_at: from_bson(self.created_at),
        })
    }
}

/// `projects`. `deleted` is the tombstone of a cascade in progress.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ProjectDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub owner: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    #[serde(default)]
    pub deleted: bool,
}

impl ProjectDoc {
    pub fn from_domain(p: &Project) -> Self {
        Self {
            id: p.id.to_string(),
            owner: p.owner.to_string(),
            name: p.name.clone(),
            description: p.description.clone(),
            created_at: to_bson(p.created_at),
            updated_at: to_bson(p.updated_at),
            deleted: false,
        }
    }

    pub fn into_domain(self) -> Result<Project, StoreError> {
        Ok(Project {
            id: ProjectId::parse(&self.id).map_err(corrupt("project"))?,
            owner: UserId::parse(&self.owner).map_err(corrupt("owner"))?,
            name: self.name,
            description: self.description,
            created_at: from_bson(self.created_at),
            updated_at: from_bson(self.updated_at),
        })
    }
}

/// A session's fork origin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ForkDoc {
    pub session_id: String,
    pub seq: i64,
}

/// `agents`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AgentDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub project_id: String,
    pub owner: String,
    pub name: String,
    pub system_prompt: String,
    pub model: String,
    pub temperature: Option<f64>,
    pub max_output_tokens: Option<i64>,
    pub context_messages: i64,
    #[serde(default)]
    pub context_tokens: Option<i64>,
    /// Absent in agents stored before the setting existed.
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Absent (none) in agents stored before tools existed.
    #[serde(default)]
    pub tools: Vec<ToolDoc>,
    /// Absent (the default, 8) in agents stored before tools existed.
    #[serde(default)]
    pub max_tool_rounds: Option<i64>,
    #[serde(default)]
    pub webhook_secret: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    #[serde(default)]
    pub deleted: bool,
}

impl AgentDoc {
    pub fn from_domain(a: &Agent) -> Self {
        Self {
            id: a.id.to_string(),
            project_id: a.project_id.to_string(),
            owner: a.owner.to_string(),
            name: a.name.clone(),
            system_prompt: a.system_prompt.clone(),
            model: a.model.clone(),
            temperature: a.temperature,
            max_output_tokens: a.max_output_tokens.map(i64::from),
            context_messages: i64::from(a.context_messages),
            context_tokens: a.context_tokens.map(i64::from),
            reasoning_effort: a.reasoning_effort,
            tools: tools_to_docs(&a.tools),
            max_tool_rounds: Some(i64::from(a.max_tool_rounds)),
            webhook_secret: a.webhook_secret.clone(),
            created_at: to_bson(a.created_at),
            updated_at: to_bson(a.updated_at),
            deleted: false,
        }
    }

    pub fn into_domain(self) -> Result<Agent, StoreError> {
        let small = |v: i64| {
            u32::try_from(v)
                .map_err(|_| StoreError::Internal("stored agent setting out of range".into()))
        };
        Ok(Agent {
            id: AgentId::parse(&self.id).map_err(corrupt("agent"))?,
            project_id: ProjectId::parse(&self.project_id).map_err(corrupt("project"))?,
            owner: UserId::parse(&self.owner).map_err(corrupt("owner"))?,
            name: self.name,
            system_prompt: self.system_prompt,
            model: self.model,
            temperature: self.temperature,
            max_output_tokens: self.max_output_tokens.map(small).transpose()?,
            context_messages: small(self.context_messages)?,
            context_tokens: self.context_tokens.map(small).transpose()?,
            reasoning_effort: self.reasoning_effort,
            tools: self
                .tools
                .into_iter()
                .map(ToolDoc::into_domain)
                .collect::<Result<_, _>>()?,
            max_tool_rounds: self
                .max_tool_rounds
                .map(small)
                .transpose()?
                .unwrap_or(crate::domain::DEFAULT_MAX_TOOL_ROUNDS),
            webhook_secret: self.webhook_secret,
            created_at: from_bson(self.created_at),
            updated_at: from_bson(self.updated_at),
        })
    }
}

/// `sessions`. Also holds the turn lock (`lock_holder` until `lock_until`).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SessionDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub agent_id: String,
    pub project_id: String,
    pub owner: String,
    pub title: Option<String>,
    pub message_count: i64,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    #[serde(default)]
    pub lock_holder: Option<String>,
    #[serde(default)]
    pub lock_until: Option<DateTime>,
    /// `{session_id, seq}` of the session it was forked from.
    #[serde(default)]
    pub forked_from: Option<ForkDoc>,
    /// The lock's holder was asked to stop (`cancel_turn`).
    #[serde(default)]
    pub lock_cancel: bool,
    /// The client-tool calls a paused turn waits for; absent in sessions
    /// stored before tools existed.
    #[serde(default)]
    pub pending_tool_calls: Vec<ToolCallDoc>,
    /// The end user a key started it for; absent when none (and in
    /// sessions stored before keys existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

impl SessionDoc {
    pub fn from_domain(s: &ChatSession) -> Self {
        Self {
            id: s.id.to_string(),
            agent_id: s.agent_id.to_string(),
            project_id: s.project_id.to_string(),
            owner: s.owner.to_string(),
            title: s.title.clone(),
            message_count: i64::try_from(s.message_count).unwrap_or(i64::MAX),
            created_at: to_bson(s.created_at),
            updated_at: to_bson(s.updated_at),
            forked_from: s.forked_from.map(|f| ForkDoc {
                session_id: f.session_id.to_string(),
                seq: i(f.seq),
            }),
            lock_holder: None,
            lock_until: None,
            lock_cancel: false,
            pending_tool_calls: calls_to_docs(&s.pending_tool_calls),
            end_user: s.end_user.as_ref().map(|u| u.as_str().to_owned()),
            deleted: false,
        }
    }

    pub fn into_domain(self) -> Result<ChatSession, StoreError> {
        Ok(ChatSession {
            id: SessionId::parse(&self.id).map_err(corrupt("session"))?,
            agent_id: AgentId::parse(&self.agent_id).map_err(corrupt("agent"))?,
            project_id: ProjectId::parse(&self.project_id).map_err(corrupt("project"))?,
            owner: UserId::parse(&self.owner).map_err(corrupt("owner"))?,
            title: self.title,
            message_count: u64::try_from(self.message_count).unwrap_or(0),
            created_at: from_bson(self.created_at),
            updated_at: from_bson(self.updated_at),
            forked_from: self
                .forked_from
                .map(|f| -> Result<ForkOrigin, StoreError> {
                    Ok(ForkOrigin {
                        session_id: SessionId::parse(&f.session_id).map_err(corrupt("session"))?,
                        seq: u(f.seq),
                    })
                })
                .transpose()?,
            pending_tool_calls: calls_from_docs(self.pending_tool_calls)?,
            end_user: self.end_user.as_deref().map(end_user).transpose()?,
        })
    }
}

/// Token usage inside a message.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct UsageDoc {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub thoughts_tokens: Option<i64>,
    pub cached_tokens: Option<i64>,
}

/// The context window inside a message.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct ContextDoc {
    pub first_seq: i64,
    pub last_seq: i64,
    pub messages: i64,
}

/// `messages`, unique on `(session_id, seq)`.
/// A message document read for its `owner` too (ownership-checked pages).
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct OwnedMessageDoc(pub MessageDoc);

impl OwnedMessageDoc {
    pub fn into_domain(self) -> Result<(Option<String>, Message), StoreError> {
        self.0.into_owned()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct MessageDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub session_id: String,
    /// The session's owner, so a page of messages proves whose it is;
    /// absent in messages stored before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub seq: i64,
    pub role: Role,
    pub content: String,
    pub created_at: DateTime,
    pub model: Option<String>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Option<UsageDoc>,
    pub context: Option<ContextDoc>,
    /// What the provider needs back (a thought signature); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<ProviderState>,
    /// The calls of an assistant message; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallDoc>,
    /// The call a tool message answers; absent on other messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The tool that answered; absent on other messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// A tool message reporting a failure; absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl MessageDoc {
    pub fn from_domain(m: &Message) -> Self {
        Self {
            id: m.id.to_string(),
            session_id: m.session_id.to_string(),
            owner: None,
            seq: i(m.seq),
            role: m.role,
            content: m.content.clone(),
            created_at: to_bson(m.created_at),
            model: m.model.clone(),
            finish_reason: m.finish_reason,
            usage: m.usage.map(|x| UsageDoc {
                prompt_tokens: i(x.prompt_tokens),
                completion_tokens: i(x.completion_tokens),
                total_tokens: i(x.total_tokens),
                thoughts_tokens: x.thoughts_tokens.map(i),
                cached_tokens: x.cached_tokens.map(i),
            }),
            context: m.context.map(|c| ContextDoc {
                first_seq: i(c.first_seq),
                last_seq: i(c.last_seq),
                messages: i(c.messages),
            }),
            provider_state: m.provider_state.clone(),
            tool_calls: calls_to_docs(&m.tool_calls),
            tool_call_id: m.tool_call_id.clone(),
            tool_name: m.tool_name.clone(),
            is_error: m.is_error,
        }
    }

    /// The owner it carries (if any), with the message.
    pub fn into_owned(self) -> Result<(Option<String>, Message), StoreError> {
        let owner = self.owner.clone();
        Ok((owner, self.into_domain()?))
    }

    /// The document of a message of `owner`'s session.
    pub fn owned_by(m: &Message, owner: &str) -> Self {
        Self {
            owner: Some(owner.to_owned()),
            ..Self::from_domain(m)
        }
    }

    pub fn into_domain(self) -> Result<Message, StoreError> {
        Ok(Message {
            id: MessageId::parse(&self.id).map_err(corrupt("message"))?,
            session_id: SessionId::parse(&self.session_id).map_err(corrupt("session"))?,
            seq: u(self.seq),
            role: self.role,
            content: self.content,
            created_at: from_bson(self.created_at),
            model: self.model,
            finish_reason: self.finish_reason,
            usage: self.usage.map(|x| Usage {
                prompt_tokens: u(x.prompt_tokens),
                completion_tokens: u(x.completion_tokens),
                total_tokens: u(x.total_tokens),
                thoughts_tokens: x.thoughts_tokens.map(u),
                cached_tokens: x.cached_tokens.map(u),
            }),
            context: self.context.map(|c| ContextRef {
                first_seq: u(c.first_seq),
                last_seq: u(c.last_seq),
                messages: u(c.messages),
            }),
            provider_state: self.provider_state,
            tool_calls: calls_from_docs(self.tool_calls)?,
            tool_call_id: self.tool_call_id,
            tool_name: self.tool_name,
            is_error: self.is_error,
        })
    }
}

/// `idempotency`, keyed `<session>:<key>`, expired by a TTL index.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IdempotencyDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub session_id: String,
    pub user_message: MessageDoc,
    pub assistant_message: Option<MessageDoc>,
    /// Absent in records written before tools.
    #[serde(default)]
    pub messages: Vec<MessageDoc>,
    pub expires_at: DateTime,
}

impl IdempotencyDoc {
    pub fn key(session: &SessionId, key: &str) -> String {
        format!("{session}:{key}")
    }

    pub fn from_domain(session: &SessionId, key: &str, r: &IdempotencyRecord) -> Self {
        Self {
            id: Self::key(session, key),
            session_id: session.to_string(),
            user_message: MessageDoc::from_domain(&r.user_message),
            assistant_message: r.assistant_message.as_ref().map(MessageDoc::from_domain),
            messages: r.messages.iter().map(MessageDoc::from_domain).collect(),
            expires_at: to_bson(r.expires_at),
        }
    }

    pub fn into_domain(self) -> Result<IdempotencyRecord, StoreError> {
        Ok(IdempotencyRecord {
            user_message: self.user_message.into_domain()?,
            assistant_message: self
                .assistant_message
                .map(MessageDoc::into_domain)
                .transpose()?,
            messages: self
                .messages
                .into_iter()
                .map(MessageDoc::into_domain)
                .collect::<Result<_, _>>()?,
            expires_at: from_bson(self.expires_at),
        })
    }
}
