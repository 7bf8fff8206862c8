//! Users and their credentials: register, log in, tokens.

use chrono::{DateTime, Utc};
use convo_core as core;
use poem_openapi::Object;

use crate::http::pattern::{EmailRule, Matching};
use crate::http::text::Text;

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
