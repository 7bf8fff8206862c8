//! Project API keys: how an agent is served to people without accounts.
//!
//! A key belongs to one project and reaches nothing outside it. Its secret
//! (`ck_` + 43 base62 characters, 256 random bits) is shown once, when the
//! key is made; stores keep only its SHA-256 ([`ApiKey::secret_hash`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{KeyId, ProjectId, Timestamp, UserId};

/// What a key may do inside its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Whatever the project's owner may do inside the project.
    Admin,
    /// Serve end users: start sessions, send, stream, answer tool calls,
    /// cancel, preview the context, list and read the end user's own
    /// sessions and messages, and `/v1`.
    Chat,
}

impl KeyScope {
    /// `"admin"` or `"chat"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Admin => "admin",
            KeyScope::Chat => "chat",
        }
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A project API key as stored: everything but the secret itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Unique id.
    pub id: KeyId,
    /// The one project it reaches.
    pub project_id: ProjectId,
    /// The project's owner (whose data the key acts on).
    pub owner: UserId,
    /// Display name (1–200 characters).
    pub name: String,
    /// What it may do.
    pub scope: KeyScope,
    /// The secret's first characters (`ck_` and 8 more), to tell keys apart
    /// in lists; not enough to use it.
    pub prefix: String,
    /// Lowercase hex SHA-256 of the whole secret: how a presented secret
    /// finds its key.
    pub secret_hash: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working (`None`: never).
    pub expires_at: Option<Timestamp>,
    /// When it was last used, to within a minute (kept without a store
    /// write per request); `None` if never.
    pub last_used_at: Option<Timestamp>,
    /// Requests per minute it may make, across every server process
    /// (`None`: no limit).
    pub rate_limit_per_minute: Option<u32>,
    /// Tokens each of its end users may spend per calendar month (UTC),
    /// counted over the project (`None`: no budget).
    pub end_user_monthly_token_budget: Option<u64>,
}

impl ApiKey {
    /// Whether the key has expired at `at`.
    pub fn expired_at(&self, at: Timestamp) -> bool {
        self.expires_at.is_some_and(|end| end <= at)
    }
}

/// The fields a caller sets when making a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiKey {
    /// Display name (1–200 characters).
    pub name: String,
    /// What it may do.
    pub scope: KeyScope,
    /// When it stops working; must be in the future.
    pub expires_at: Option<Timestamp>,
    /// Requests per minute (1–1,000,000).
    pub rate_limit_per_minute: Option<u32>,
    /// Tokens per end user per month (at least 1).
    pub end_user_monthly_token_budget: Option<u64>,
}

/// A key just made, with its secret: the only time the secret is known.
#[derive(Clone, PartialEq)]
pub struct IssuedApiKey {
    /// The stored key.
    pub key: ApiKey,
    /// `ck_…`: what a client sends as `Authorization: Bearer`.
    pub secret: String,
}

impl fmt::Debug for IssuedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret: a debug log line must not leak it.
        f.debug_struct("IssuedApiKey")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a text is not an end-user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1–128 visible ASCII characters")]
pub struct EndUserError;

/// Who a key serves: an id the key holder's backend chooses for one of its
/// own users (1–128 visible ASCII characters, compared exactly).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndUser(String);

impl EndUser {
    /// The longest end-user id.
    pub const MAX_LEN: usize = 128;

    /// Checks `text` (not trimmed: what is sent is the id).
    pub fn parse(text: &str) -> Result<Self, EndUserError> {
        let visible = |b: &u8| b.is_ascii_graphic();
        if text.is_empty() || text.len() > Self::MAX_LEN || !text.as_bytes().iter().all(visible) {
            return Err(EndUserError);
        }
        Ok(Self(text.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EndUser {
    type Error = EndUserError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EndUser> for String {
    fn from(value: EndUser) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_users_are_one_to_128_visible_ascii_characters() {
        assert!(EndUser::parse("user-42@example.com").is_ok());
        assert!(EndUser::parse(&"x".repeat(128)).is_ok());
        for bad in ["", " ", "a b", "tab\t", "é", "new\nline"] {
            assert_eq!(EndUser::parse(bad), Err(EndUserError), "{bad:?}");
        }
        assert!(EndUser::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn an_issued_key_never_prints_its_secret() {
        let at = crate::domain::now();
        let issued = IssuedApiKey {
            key: ApiKey {
                id: KeyId::new(),
                project_id: ProjectId::new(),
                owner: UserId::new(),
                name: "k".into(),
                scope: KeyScope::Chat,
                prefix: "ck_abcdefgh".into(),
                secret_hash: "00".into(),
                created_at: at,
                expires_at: None,
                last_used_at: None,
                rate_limit_per_minute: None,
                end_user_monthly_token_budget: None,
            },
            secret: "ck_supersecretvalue".into(),
        };
        assert!(!format!("{issued:?}").contains("supersecret"));
    }
}
