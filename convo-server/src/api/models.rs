//! The API's JSON shapes (`docs/api.md`). Doc comments here are the
//! descriptions Swagger UI shows; the examples (`examples.rs`) fill its
//! "Try it out" forms.

use chrono::{DateTime, Utc};
use convo_core as core;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object};

use crate::http::pattern::{ContentRule, EmailRule, Matching, ModelRule, NameRule};

pub use crate::http::text::Text;

/// A registered user.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct User {
    /// Unique id.
    pub id: String,
    /// E-mail address, lower-cased.
    pub email: String,
    /// Display name, if one was given.
    #[oai(nullable)]
    pub name: Option<String>,
    /// When the user registered (RFC 3339, UTC).
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<core::User> for User {
    fn from(u: core::User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: u.name,
            created_at: u.created_at,
        }
    }
}

/// `{"user": …}`: the body of register, login and me.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct UserEnvelope {
    /// The user.
    pub user: User,
}

/// Registration.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct RegisterRequest {
    /// E-mail address; trimmed and compared case-insensitively.
    #[oai(validator(max_length = 254))]
    pub email: Matching<EmailRule>,
    /// 8 to 128 characters.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub password: Text,
    /// Optional display name (at most 200 characters).
    #[oai(nullable)]
    #[oai(validator(max_length = 200))]
    pub name: Option<Text>,
}

/// Credentials for login and for a token.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct LoginRequest {
    /// E-mail address.
    pub email: Text,
    /// Password.
    pub password: Text,
}

/// A bearer token for programmatic clients.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// When the token stops working (RFC 3339, UTC).
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// A project: a user's container of agents.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct Project {
    /// Unique id.
    pub id: String,
    /// Name (1–200 characters).
    pub name: String,
    /// Free-form description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// When it was created.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<core::Project> for Project {
    fn from(p: core::Project) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A new project.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateProject {
    /// Name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Matching<NameRule>,
    /// Description (at most 10,000 characters).
    #[oai(nullable)]
    #[oai(validator(max_length = 10000))]
    pub description: Option<Text>,
}

/// Changes to a project; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UpdateProject {
    /// New name (1–200 characters).
    #[oai(nullable)]
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<Matching<NameRule>>,
    /// New description.
    #[oai(nullable)]
    #[oai(validator(max_length = 10000))]
    pub description: Option<Text>,
}

/// A chat agent: a system prompt plus model settings.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct Agent {
    /// Unique id.
    pub id: String,
    /// The project it belongs to.
    pub project_id: String,
    /// Name (1–200 characters).
    pub name: String,
    /// Instructions sent to the model before every conversation.
    pub system_prompt: String,
    /// Model id.
    pub model: String,
    /// Sampling temperature (0–2); null leaves it to the model.
    #[oai(nullable)]
    pub temperature: Option<f64>,
    /// Cap on generated tokens; null leaves it to the model.
    #[oai(nullable)]
    pub max_output_tokens: Option<u32>,
    /// How many stored messages (the new one included) are sent to the model.
    pub context_messages: u32,
    /// Context window as a budget of estimated tokens (about 4 characters a token plus 4 a
    /// message): the newest messages that fit, the new one always. `null`: no budget.
    #[oai(nullable)]
    pub context_tokens: Option<u32>,
    /// How hard the model thinks before answering (`minimal`, `low`, `medium`, `high`);
    /// `null` leaves it to the model's own default.
    #[oai(nullable)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// When it was created.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<core::Agent> for Agent {
    fn from(a: core::Agent) -> Self {
        Self {
            id: a.id.to_string(),
            project_id: a.project_id.to_string(),
            name: a.name,
            system_prompt: a.system_prompt,
            model: a.model,
            temperature: a.temperature,
            max_output_tokens: a.max_output_tokens,
            context_messages: a.context_messages,
            context_tokens: a.context_tokens,
            reasoning_effort: a.reasoning_effort.map(Into::into),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A new agent.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateAgent {
    /// Name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Matching<NameRule>,
    /// System prompt (at most 100,000 characters).
    #[oai(validator(max_length = 100000))]
    pub system_prompt: Text,
    /// Model id; the server's default Flash model when absent.
    #[oai(nullable)]
    pub model: Option<Matching<ModelRule>>,
    /// Sampling temperature, 0–2.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "2")))]
    pub temperature: Option<f64>,
    /// Cap on generated tokens (at least 1).
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub max_output_tokens: Option<u32>,
    /// Context window in messages (1–1000); the server's default when absent.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub context_messages: Option<u32>,
    /// Context window as a budget of estimated tokens (1–10,000,000), instead of or besides
    /// `context_messages` (which, when absent, is then the server's maximum).
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub context_tokens: Option<u32>,
    /// How hard the model thinks before answering. When absent: `low` if the model takes it
    /// (quick conversational replies), else the model's own default. A level the model does
    /// not take is a 422 (Gemini 3.8 Flash, the default model, takes `low`, `medium` and
    /// `high`, not `minimal`).
    #[oai(nullable)]
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UpdateAgent {
    /// New name.
    #[oai(nullable)]
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<Matching<NameRule>>,
    /// New system prompt.
    #[oai(nullable)]
    #[oai(validator(max_length = 100000))]
    pub system_prompt: Option<Text>,
    /// New model id.
    #[oai(nullable)]
    pub model: Option<Matching<ModelRule>>,
    /// New temperature, 0–2.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "2")))]
    pub temperature: Option<f64>,
    /// New output cap.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub max_output_tokens: Option<u32>,
    /// New context window.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub context_messages: Option<u32>,
    /// New token budget; `null` removes it.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub context_tokens: MaybeUndefined<u32>,
    /// New reasoning effort; `null` leaves it to the model's default. Checked against the
    /// agent's (new) model: a level it does not take is a 422.
    #[oai(nullable)]
    pub reasoning_effort: MaybeUndefined<ReasoningEffort>,
}

/// A conversation with an agent.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct ChatSession {
    /// Unique id.
    pub id: String,
    /// The agent that answers.
    pub agent_id: String,
    /// The agent's project.
    pub project_id: String,
    /// Optional title.
    #[oai(nullable)]
    pub title: Option<String>,
    /// How many messages it holds.
    pub message_count: u64,
    /// When it was created.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was last changed (a new message counts).
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Where a fork came from (`null` for a session started afresh).
    #[oai(nullable)]
    pub forked_from: Option<ForkOrigin>,
}

/// The session and message a fork was copied from.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ForkOrigin {
    /// The session it was copied from.
    pub session_id: String,
    /// The last message copied: the fork began with messages 1..=`seq`.
    pub seq: u64,
}

/// A fork of a chat session.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ForkChat {
    /// Copy messages 1..=`up_to_seq` (0 for none; at most the session's `message_count`).
    /// To edit message N, fork at N-1 and send the new text to the fork.
    #[oai(validator(minimum(value = "0")))]
    pub up_to_seq: u64,
    /// Title of the fork (at most 200 characters); the source's title when absent.
    #[oai(nullable)]
    #[oai(validator(max_length = 200))]
    pub title: Option<Text>,
}

impl From<core::ChatSession> for ChatSession {
    fn from(s: core::ChatSession) -> Self {
        Self {
            id: s.id.to_string(),
            agent_id: s.agent_id.to_string(),
            project_id: s.project_id.to_string(),
            title: s.title,
            message_count: s.message_count,
            created_at: s.created_at,
            updated_at: s.updated_at,
            forked_from: s.forked_from.map(|f| ForkOrigin {
                session_id: f.session_id.to_string(),
                seq: f.seq,
            }),
        }
    }
}

/// Options for a new chat session.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct StartChat {
    /// Optional title (at most 200 characters).
    #[oai(nullable)]
    #[oai(validator(max_length = 200))]
    pub title: Option<Text>,
}

/// Changes to a chat session.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UpdateChat {
    /// New title; null or blank clears it.
    #[oai(nullable)]
    #[oai(validator(max_length = 200))]
    pub title: Option<Text>,
}

/// A message to send.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct SendMessageRequest {
    /// The text; stored exactly as sent (not blank; at most the server's size limit).
    #[oai(validator(min_length = 1))]
    pub content: Matching<ContentRule>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person (or program) chatting.
    User,
    /// The model.
    Assistant,
}

impl From<core::Role> for Role {
    fn from(role: core::Role) -> Self {
        match role {
            core::Role::User => Role::User,
            core::Role::Assistant => Role::Assistant,
        }
    }
}

/// How hard the model thinks before it answers: sent to Gemini 3 as its
/// thinking level and to OpenAI-compatible models as `reasoning_effort`.
/// More effort: better answers to hard questions, more latency and thinking
/// tokens. Not every model takes every level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// As little thinking as the model allows (not every model has it).
    Minimal,
    /// Little thinking: quick conversational replies.
    Low,
    /// Balanced.
    Medium,
    /// Deep reasoning, slower.
    High,
}

impl From<core::ReasoningEffort> for ReasoningEffort {
    fn from(e: core::ReasoningEffort) -> Self {
        match e {
            core::ReasoningEffort::Minimal => Self::Minimal,
            core::ReasoningEffort::Low => Self::Low,
            core::ReasoningEffort::Medium => Self::Medium,
            core::ReasoningEffort::High => Self::High,
        }
    }
}

impl From<ReasoningEffort> for core::ReasoningEffort {
    fn from(e: ReasoningEffort) -> Self {
        match e {
            ReasoningEffort::Minimal => Self::Minimal,
            ReasoningEffort::Low => Self::Low,
            ReasoningEffort::Medium => Self::Medium,
            ReasoningEffort::High => Self::High,
        }
    }
}

/// Why the model stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end.
    Stop,
    /// The output cap was reached.
    MaxTokens,
    /// Stopped for safety reasons.
    Safety,
    /// The client went away or asked to stop; the text is what arrived until then.
    Cancelled,
    /// Anything else the provider reported.
    Other,
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Usage {
    /// Tokens in the prompt (system prompt plus context).
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Total billed tokens.
    pub total_tokens: u64,
    /// Tokens spent thinking, when reported.
    #[oai(nullable)]
    pub thoughts_tokens: Option<u64>,
    /// Prompt tokens served from cache, when reported.
    #[oai(nullable)]
    pub cached_tokens: Option<u64>,
}

/// Which stored messages were sent to the model with a turn.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct MessageContext {
    /// `seq` of the first message sent.
    pub first_seq: u64,
    /// `seq` of the last message sent (the one answered).
    pub last_seq: u64,
    /// How many messages were sent.
    pub messages: u64,
}

/// A stored message.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct Message {
    /// Unique id.
    pub id: String,
    /// Its chat session.
    pub session_id: String,
    /// Position in the session: 1, 2, 3… with no gaps.
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// When it was stored.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Model that wrote it (assistant messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why generation stopped (assistant messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token usage (assistant messages, when reported).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The context window of the reply (assistant messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<MessageContext>,
}

impl From<core::Message> for Message {
    fn from(m: core::Message) -> Self {
        Self {
            id: m.id.to_string(),
            session_id: m.session_id.to_string(),
            seq: m.seq,
            role: m.role.into(),
            content: m.content,
            created_at: m.created_at,
            model: m.model,
            finish_reason: m.finish_reason.map(|f| match f {
                core::FinishReason::Stop => FinishReason::Stop,
                core::FinishReason::MaxTokens => FinishReason::MaxTokens,
                core::FinishReason::Safety => FinishReason::Safety,
                core::FinishReason::Cancelled => FinishReason::Cancelled,
                core::FinishReason::Other => FinishReason::Other,
            }),
            usage: m.usage.map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
                thoughts_tokens: u.thoughts_tokens,
                cached_tokens: u.cached_tokens,
            }),
            context: m.context.map(|c| MessageContext {
                first_seq: c.first_seq,
                last_seq: c.last_seq,
                messages: c.messages,
            }),
        }
    }
}

/// Both messages of a turn.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct TurnResponse {
    /// The stored user message.
    pub user_message: Message,
    /// The stored reply.
    pub assistant_message: Message,
}

/// Sort order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SortOrder {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl From<SortOrder> for core::Order {
    fn from(o: SortOrder) -> Self {
        match o {
            SortOrder::Asc => core::Order::Asc,
            SortOrder::Desc => core::Order::Desc,
        }
    }
}

/// Declares a list envelope `{object: "list", data, first_id, last_id, has_more}`.
macro_rules! list_type {
    ($(#[$meta:meta])* $name:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Object, serde::Serialize)]
        pub struct $name {
            /// Always `list`.
            pub object: String,
            /// The items, in the requested order.
            pub data: Vec<$item>,
            /// Id of the first item (null when empty).
            #[oai(nullable)]
            pub first_id: Option<String>,
            /// Id of the last item (null when empty); pass it as `after` for the next page.
            #[oai(nullable)]
            pub last_id: Option<String>,
            /// Whether more items lie beyond this page.
            pub has_more: bool,
        }

        impl $name {
            /// Wraps a page of engine objects.
            pub fn from_page<T: Into<$item>>(page: core::Page<T>) -> Self {
                let data: Vec<$item> = page.data.into_iter().map(Into::into).collect();
                Self {
                    object: "list".to_owned(),
                    first_id: data.first().map(|i| i.id.clone()),
                    last_id: data.last().map(|i| i.id.clone()),
                    data,
                    has_more: page.has_more,
                }
            }
        }
    };
}

list_type!(
    /// A page of projects.
    ProjectList, Project
);
list_type!(
    /// A page of agents.
    AgentList, Agent
);
list_type!(
    /// A page of chat sessions.
    ChatSessionList, ChatSession
);
list_type!(
    /// A page of messages.
    MessageList, Message
);

/// Health and readiness.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::{Example, ToJSON};

    /// The body written with serde (`JsonOut`) must be what the OpenAPI
    /// document describes (the poem-openapi view of the same type).
    fn same_json<T: Example + ToJSON + serde::Serialize>() {
        let value = T::example();
        let serde = serde_json::to_value(&value).expect("serialises");
        assert_eq!(
            Some(serde),
            value.to_json(),
            "{}",
            std::any::type_name::<T>()
        );
    }

    #[test]
    fn serde_and_openapi_agree_on_every_response_shape() {
        same_json::<User>();
        same_json::<TokenResponse>();
        same_json::<Project>();
        same_json::<Agent>();
        same_json::<ChatSession>();
        same_json::<Message>();
        same_json::<TurnResponse>();
        let user_message = TurnResponse::example().user_message;
        assert_eq!(
            Some(serde_json::to_value(&user_message).expect("json")),
            user_message.to_json(),
            "absent fields are left out alike"
        );
        let list = MessageList::from_page(convo_core::Page {
            data: vec![Message::example()],
            has_more: true,
        });
        assert_eq!(
            Some(serde_json::to_value(&list).expect("json")),
            list.to_json()
        );
        let empty = ProjectList::from_page(convo_core::Page::<Project> {
            data: vec![],
            has_more: false,
        });
        assert_eq!(
            Some(serde_json::to_value(&empty).expect("json")),
            empty.to_json(),
            "null first_id/last_id"
        );
    }
}

/// What the next turn in a session would send to the model.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContextPreview {
    /// Always `chat.context`.
    pub object: String,
    /// The model that would be called.
    pub model: String,
    /// The system prompt sent first.
    pub system_prompt: String,
    /// Sampling temperature sent (`null`: the provider's default).
    #[oai(nullable)]
    pub temperature: Option<f64>,
    /// Output cap sent (`null`: the provider's default).
    #[oai(nullable)]
    pub max_output_tokens: Option<u32>,
    /// Reasoning effort sent (`null`: the model's default).
    #[oai(nullable)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The messages sent after the system prompt, oldest first.
    pub messages: Vec<ContextMessage>,
    /// Estimated tokens of the system prompt and the messages (about 4 characters a token
    /// plus 4 a message; the provider's own count may differ).
    pub estimated_prompt_tokens: u32,
    /// Earlier messages left out of the window (`null`: none).
    #[oai(nullable)]
    pub left_out: Option<SeqRange>,
    /// The agent's window in messages.
    pub context_messages: u32,
    /// The agent's token budget (`null`: none).
    #[oai(nullable)]
    pub context_tokens: Option<u32>,
}

/// A message in a context preview.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContextMessage {
    /// Its seq (for the previewed message, the one it would get).
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Its estimated tokens.
    pub estimated_tokens: u32,
    /// `true` for the previewed `content`, which is not stored.
    pub pending: bool,
}

/// Messages `first_seq..=last_seq`.
#[derive(Debug, Clone, Copy, Object, serde::Serialize)]
pub struct SeqRange {
    /// The first.
    pub first_seq: u64,
    /// The last.
    pub last_seq: u64,
}

impl From<core::ContextPreview> for ContextPreview {
    fn from(p: core::ContextPreview) -> Self {
        Self {
            object: "chat.context".into(),
            model: p.request.model,
            system_prompt: p.request.system_prompt,
            temperature: p.request.temperature,
            max_output_tokens: p.request.max_output_tokens,
            reasoning_effort: p.request.reasoning_effort.map(Into::into),
            messages: p
                .messages
                .into_iter()
                .map(|m| ContextMessage {
                    seq: m.seq,
                    role: m.role.into(),
                    content: m.content,
                    estimated_tokens: m.estimated_tokens,
                    pending: m.pending,
                })
                .collect(),
            estimated_prompt_tokens: p.estimated_prompt_tokens,
            left_out: p.left_out.map(|r| SeqRange {
                first_seq: r.first_seq,
                last_seq: r.last_seq,
            }),
            context_messages: p.context_messages,
            context_tokens: p.context_tokens,
        }
    }
}
