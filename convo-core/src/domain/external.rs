//! External identities: a user known to another system (an OpenID Connect
//! issuer, or the program embedding Convo) by that system's own id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who a user is at an external identity provider: the provider (OIDC's
/// `iss`) and the user's id there (OIDC's `sub`). Both are compared
/// exactly, as OpenID Connect Core 1.0 §5.7 says `iss` + `sub` is the only
/// stable identifier of an end user; the pair is unique across users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawIdentity", into = "RawIdentity")]
pub struct ExternalIdentity {
    issuer: String,
    subject: String,
}

/// Why an issuer or subject is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct ExternalIdentityError {
    /// `issuer` or `subject`.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ExternalIdentity {
    /// The longest issuer accepted, in bytes (a URL; generous).
    pub const MAX_ISSUER_LEN: usize = 1024;
    /// The longest subject accepted, in bytes: OpenID Connect Core 1.0 §2
    /// caps `sub` at 255 ASCII characters.
    pub const MAX_SUBJECT_LEN: usize = 255;

    /// Checks both parts: non-empty, bounded, no control characters. They
    /// are kept exactly as given (no trimming, no case folding): two
    /// spellings are two identities, as at the issuer.
    pub fn new(issuer: &str, subject: &str) -> Result<Self, ExternalIdentityError> {
        check("issuer", issuer, Self::MAX_ISSUER_LEN)?;
        check("subject", subject, Self::MAX_SUBJECT_LEN)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
        })
    }

    /// The identity provider (OIDC `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The user's id at the provider (OIDC `sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

fn check(field: &'static str, value: &str, max: usize) -> Result<(), ExternalIdentityError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > max {
        if field == "issuer" {
            "must be at most 1024 bytes"
        } else {
            "must be at most 255 bytes"
        }
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(ExternalIdentityError { field, reason })
}

impl fmt::Display for ExternalIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.subject, self.issuer)
    }
}

/// The serialised shape, checked on the way in like [`ExternalIdentity::new`].
#[derive(Serialize, Deserialize)]
struct RawIdentity {
    issuer: String,
    subject: String,
}

impl TryFrom<RawIdentity> for ExternalIdentity {
    type Error = ExternalIdentityError;

    fn try_from(raw: RawIdentity) -> Result<Self, Self::Error> {
        Self::new(&raw.issuer, &raw.subject)
    }
}

impl From<ExternalIdentity> for RawIdentity {
    fn from(id: ExternalIdentity) -> Self {
        Self {
            issuer: id.issuer,
            subject: id.subject,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_kept_exactly_as_given() {
        let id = ExternalIdentity::new("https://id.example.com", " Ada ").expect("valid");
        assert_eq!(
            (id.issuer(), id.subject()),
            ("https://id.example.com", " Ada ")
        );
    }

    #[test]
    fn empty_overlong_and_control_character_parts_are_refused() {
        let long_subject = "s".repeat(256);
        let long_issuer = "i".repeat(1025);
        let cases = [
            ("", "sub", "issuer"),
            ("iss", "", "subject"),
            ("iss", long_subject.as_str(), "subject"),
            (long_issuer.as_str(), "sub", "issuer"),
            ("iss", "a\nb", "subject"),
        ];
        for (issuer, subject, field) in cases {
            let refused = ExternalIdentity::new(issuer, subject).map_err(|e| e.field);
            assert_eq!(refused, Err(field), "{issuer:?} / {subject:?}");
        }
    }

    #[test]
    fn deserialising_checks_the_parts_too() {
        let bad = serde_json::from_str::<ExternalIdentity>(r#"{"issuer":"","subject":"x"}"#);
        assert!(bad.is_err(), "an empty issuer must not deserialise");
    }
}
