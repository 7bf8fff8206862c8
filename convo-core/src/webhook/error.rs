//! What can go wrong calling a webhook.
//!
//! Every message is meant to be shown as it is, to the model (as an
//! `is_error` tool message) and in the logs: it says what happened without
//! echoing the URL (which may carry credentials in its query) or the secret.

use std::fmt;
use std::net::IpAddr;

use super::address::AddressClass;

/// Why a webhook call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("the webhook client could not be built: {0}")]
    Client(String),
    /// The secret is not `whsec_` followed by base64.
    #[error("the webhook secret is not valid: {0}")]
    InvalidSecret(&'static str),
    /// The URL does not parse or has no host.
    #[error("the webhook URL is not valid: {0}")]
    InvalidUrl(String),
    /// The call could not be serialised.
    #[error("the webhook call could not be encoded: {0}")]
    Encode(serde_json::Error),
    /// The destination is not allowed: nothing was sent.
    #[error("destination refused: {0}")]
    Refused(Refusal),
    /// No connection could be made, or it broke before an answer came.
    #[error("the webhook could not be reached: {0}")]
    Unreachable(String),
    /// The whole call (connection included) took longer than its `timeout_ms`.
    #[error("the webhook did not answer within {0} ms")]
    Timeout(u32),
    /// The webhook answered with a redirect, which is never followed (it
    /// could point anywhere, past the destination rules).
    #[error("redirects are not followed (the webhook answered {0})")]
    Redirect(u16),
    /// The webhook answered with a status other than 2xx or 3xx.
    #[error("the webhook answered {0}")]
    Status(u16),
    /// The answer's body broke off before its end.
    #[error("the webhook's answer broke off: {0}")]
    BrokenBody(String),
    /// The answer's body is longer than the policy allows; reading stopped there.
    #[error("the webhook's answer is over {}", Bytes(*limit))]
    TooLarge {
        /// The policy's `max_response_bytes`.
        limit: usize,
    },
    /// The answer's body is not JSON.
    #[error("the webhook's answer is not JSON")]
    NotJson,
}

impl WebhookError {
    /// True when the call was refused before any connection was attempted:
    /// the secret, the URL or the destination (its scheme, or an address the
    /// host is or resolves to) was not allowed, or the client could not be
    /// built.
    pub fn refused_before_connecting(&self) -> bool {
        matches!(
            self,
            Self::Client(_)
                | Self::InvalidSecret(_)
                | Self::InvalidUrl(_)
                | Self::Encode(_)
                | Self::Refused(_)
        )
    }
}

impl WebhookError {
    /// A failure to send the request or to receive the answer's head.
    pub(crate) fn from_transport(error: &reqwest::Error) -> Self {
        // The resolver's refusal travels inside the connect error.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                return Self::Refused(refusal.clone());
            }
            source = e.source();
        }
        Self::Unreachable(innermost_cause(error))
    }
}

/// The root cause of a transport error ("Connection refused (os error
/// 111)", "invalid peer certificate: UnknownIssuer"): the useful part, and
/// unlike reqwest's own message it does not repeat the URL.
pub(crate) fn innermost_cause(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    innermost.to_string()
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The URL's scheme is not allowed (only `https`, and `http` too when
    /// private networks are allowed).
    #[error("{scheme} URLs are not allowed, only https")]
    Scheme {
        /// The URL's scheme.
        scheme: String,
    },
    /// The URL's host is an address that is not global.
    #[error("{ip} is {class}")]
    Address {
        /// The address in the URL.
        ip: IpAddr,
        /// Why it is refused.
        class: AddressClass,
    },
    /// The URL's host name resolves to an address that is not global.
    #[error("{host} resolves to {ip}, {class}")]
    Resolved {
        /// The host name in the URL.
        host: String,
        /// The first refused address it resolved to.
        ip: IpAddr,
        /// Why it is refused.
        class: AddressClass,
    },
}

/// A byte count as people write limits: `1 MiB`, `64 KiB`, `1000 bytes`.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * KIB;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_happened_in_plain_words() {
        let ip: IpAddr = "10.0.0.1".parse().expect("an address");
        let cases = [
            (WebhookError::Status(500), "the webhook answered 500"),
            (
                WebhookError::Timeout(10_000),
                "the webhook did not answer within 10000 ms",
            ),
            (WebhookError::NotJson, "the webhook's answer is not JSON"),
            (
                WebhookError::TooLarge { limit: 1 << 20 },
                "the webhook's answer is over 1 MiB",
            ),
            (
                WebhookError::TooLarge { limit: 64 * 1024 },
                "the webhook's answer is over 64 KiB",
            ),
            (
                WebhookError::TooLarge { limit: 1000 },
                "the webhook's answer is over 1000 bytes",
            ),
            (
                WebhookError::Refused(Refusal::Address {
                    ip,
                    class: AddressClass::Private,
                }),
                "destination refused: 10.0.0.1 is a private address",
            ),
            (
                WebhookError::Refused(Refusal::Resolved {
                    host: "localhost".into(),
                    ip: "127.0.0.1".parse().expect("an address"),
                    class: AddressClass::Loopback,
                }),
                "destination refused: localhost resolves to 127.0.0.1, a loopback address",
            ),
            (
                WebhookError::Refused(Refusal::Scheme {
                    scheme: "http".into(),
                }),
                "destination refused: http URLs are not allowed, only https",
            ),
            (
                WebhookError::Redirect(302),
                "redirects are not followed (the webhook answered 302)",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn only_refusals_and_set_up_errors_happen_before_connecting() {
        assert!(WebhookError::Refused(Refusal::Scheme {
            scheme: "ftp".into()
        })
        .refused_before_connecting());
        assert!(WebhookError::InvalidSecret("no whsec_ prefix").refused_before_connecting());
        assert!(WebhookError::InvalidUrl("no host".into()).refused_before_connecting());
        assert!(!WebhookError::Status(500).refused_before_connecting());
        assert!(!WebhookError::Timeout(5).refused_before_connecting());
        assert!(!WebhookError::Unreachable("reset".into()).refused_before_connecting());
    }
}
