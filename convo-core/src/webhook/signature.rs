//! Standard Webhooks signatures.
//!
//! The Standard Webhooks specification (standardwebhooks.com; its reference
//! libraries, the Rust one being the `standardwebhooks` crate): a delivery
//! carries `webhook-id` (unique per delivery), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 of HMAC-SHA256(key,
//! id + "." + timestamp + "." + body)>`. The secret is written `whsec_` +
//! base64, and the HMAC key is the decoded bytes, not the text.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::WebhookError;

/// The secret's prefix, as the specification writes it.
const PREFIX: &str = "whsec_";

/// A parsed signing secret: a keyed HMAC, cloned for each signature.
#[derive(Clone)]
pub(crate) struct WebhookSecret {
    mac: Hmac<Sha256>,
}

// The key never reaches a log.
impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>`; the decoded key must not be empty.
    pub(crate) fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or(WebhookError::InvalidSecret("it does not start with whsec_"))?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret("the part after whsec_ is not base64"))?;
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret("the key is empty"));
        }
        let mac = Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|_| WebhookError::InvalidSecret("the key is not usable for HMAC"))?;
        Ok(Self { mac })
    }

    /// The `webhook-signature` value for one delivery.
    pub(crate) fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The three headers of one signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedHeaders {
    /// `webhook-id`: `msg_` + a random UUID, new for every delivery.
    pub(crate) id: String,
    /// `webhook-timestamp`: when it was signed, in Unix seconds.
    pub(crate) timestamp: i64,
    /// `webhook-signature`.
    pub(crate) signature: String,
}

impl SignedHeaders {
    /// Signs `body` for a delivery made now.
    pub(crate) fn new(secret: &WebhookSecret, body: &[u8]) -> Self {
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = chrono::Utc::now().timestamp();
        let signature = secret.sign(&id, timestamp, body);
        Self {
            id,
            timestamp,
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_reference_librarys_test_vector() {
        // The `standardwebhooks` crate's own `test_sign` case.
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("valid");
        let signature = secret.sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn secrets_that_do_not_parse_are_errors() {
        let cases = [
            ("", "no prefix"),
            ("C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "no prefix"),
            (
                "WHSEC_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "prefix in capitals",
            ),
            ("whsec_", "empty key"),
            ("whsec_not base64!", "not base64"),
            ("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7o", "bad padding"),
            ("whsec_\u{e9}t\u{e9}", "non-ASCII"),
        ];
        for (text, why) in cases {
            let error = WebhookSecret::parse(text).expect_err(why);
            assert!(
                matches!(error, WebhookError::InvalidSecret(_)),
                "{why}: {error:?}"
            );
        }
    }

    #[test]
    fn each_delivery_has_its_own_id_and_a_current_timestamp() {
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("valid");
        let before = chrono::Utc::now().timestamp();
        let first = SignedHeaders::new(&secret, b"{}");
        let second = SignedHeaders::new(&secret, b"{}");
        let after = chrono::Utc::now().timestamp();
        assert_ne!(first.id, second.id);
        assert!(first.id.starts_with("msg_"), "{}", first.id);
        assert!((before..=after).contains(&first.timestamp));
        assert_eq!(
            first.signature,
            secret.sign(&first.id, first.timestamp, b"{}")
        );
    }

    #[test]
    fn the_debug_form_shows_no_key() {
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("valid");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }
}
