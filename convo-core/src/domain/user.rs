//! Users and their e-mail addresses.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ExternalIdentity, Timestamp, UserId};

/// A normalised e-mail address: trimmed and lower-cased, so two spellings of
/// one address are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// Why a text is not an acceptable e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmailError(&'static str);

impl Email {
    /// The longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Trims, lower-cases and checks the shape `local@domain`.
    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let email = text.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError("must not be empty"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(EmailError("must be at most 254 bytes"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError("must not contain spaces or control characters"));
        }
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(email))
            }
            _ => Err(EmailError("must look like name@example.com")),
        }
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address a user created for an external identity gets when the
    /// identity brings no usable one: `<user id>@external.invalid`. The
    /// `.invalid` top-level domain is reserved and never delivered (RFC
    /// 2606 §2), so it cannot be someone's real address, and the id makes
    /// it unique.
    pub(crate) fn external_placeholder(id: &UserId) -> Self {
        Self(format!("{id}@external.invalid"))
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user: registered with a password, or created for an external identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Unique id.
    pub id: UserId,
    /// Normalised e-mail address, unique across users.
    pub email: Email,
    /// Display name, if one was given.
    pub name: Option<String>,
    /// Argon2id PHC string; `None` for a user created for an external
    /// identity, who cannot log in with a password. Never serialised to
    /// clients by the server.
    pub password_hash: Option<String>,
    /// The external identity this user was created for, if any (see
    /// [`Convo::user_for_external_identity`](crate::Convo::user_for_external_identity)).
    #[serde(default)]
    pub external: Option<ExternalIdentity>,
    /// When the user registered.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".to_string())
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "   ",
            "ada",
            "@example.com",
            "ada@",
            "a@b@c",
            "a b@example.com",
            "a\u{7}@x.y",
            long.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
