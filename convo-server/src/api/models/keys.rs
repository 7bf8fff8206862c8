//! Project API keys.

use chrono::{DateTime, Utc};
use convo_core as core;
use poem_openapi::{Enum, Object};

use crate::http::pattern::{Matching, NameRule};

/// What a key may do inside its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Serve end users: start chat sessions, send and stream, post tool outputs, cancel,
    /// preview the context, list and read the end user's own sessions and messages, `/v1`.
    Chat,
    /// What the project's owner may do inside the project.
    Admin,
}

impl From<KeyScope> for core::KeyScope {
    fn from(s: KeyScope) -> Self {
        match s {
            KeyScope::Chat => core::KeyScope::Chat,
            KeyScope::Admin => core::KeyScope::Admin,
        }
    }
}

impl KeyScope {
    /// `chat` or `admin` (the request's pattern has admitted nothing else).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "chat" => Some(KeyScope::Chat),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }
}

impl From<core::KeyScope> for KeyScope {
    fn from(s: core::KeyScope) -> Self {
        match s {
            core::KeyScope::Chat => KeyScope::Chat,
            core::KeyScope::Admin => KeyScope::Admin,
        }
    }
}

/// A project API key. The secret itself is only in the answer that created it.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct ApiKey {
    /// Unique id (to revoke it).
    pub id: String,
    /// Name.
    pub name: String,
    /// `chat` or `admin`.
    pub scope: KeyScope,
    /// The secret's first characters (`ck_` and 8 more), to tell keys apart.
    pub prefix: String,
    /// When it was created.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it stops working (`null`: never).
    #[oai(nullable)]
    #[serde(serialize_with = "crate::http::json::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used, to within a minute (`null`: never).
    #[oai(nullable)]
    #[serde(serialize_with = "crate::http::json::rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests per minute it may make, across every server (`null`: no limit).
    #[oai(nullable)]
    pub rate_limit_per_minute: Option<u32>,
    /// Tokens each end user may spend per calendar month, UTC (`null`: no budget).
    #[oai(nullable)]
    pub end_user_monthly_token_budget: Option<u64>,
    /// The secret, `ck_…`: only in the answer to its creation. Send it as
    /// `Authorization: Bearer ck_…`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<core::ApiKey> for ApiKey {
    fn from(k: core::ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name,
            scope: k.scope.into(),
            prefix: k.prefix,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            rate_limit_per_minute: k.rate_limit_per_minute,
            end_user_monthly_token_budget: k.end_user_monthly_token_budget,
            key: None,
        }
    }
}

impl From<core::IssuedApiKey> for ApiKey {
    fn from(issued: core::IssuedApiKey) -> Self {
        Self {
            key: Some(issued.secret),
            ..issued.key.into()
        }
    }
}

/// A new project API key.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateApiKey {
    /// Name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Matching<NameRule>,
    /// `chat` (serve end users) or `admin` (what the owner may do inside the project). A
    /// string rather than an enum in the schema so that another value is a `422` naming
    /// `scope`, as every invalid field is.
    #[oai(validator(pattern = "^(chat|admin)$"))]
    pub scope: String,
    /// When it stops working (RFC 3339, in the future); never by default.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests per minute (1–1,000,000) across every server; over it, `429 rate_limited`.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub rate_limit_per_minute: Option<u32>,
    /// Tokens each end user may spend per calendar month (UTC), at least 1; over it,
    /// `429 quota_exceeded`.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1")))]
    pub end_user_monthly_token_budget: Option<u64>,
}
