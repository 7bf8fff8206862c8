//! The webhook client and one call: check, sign, send, read the answer.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::redirect;

use super::body::read_limited;
use super::destination::checked_url;
use super::resolver::GuardedResolver;
use super::signature::{SignedHeaders, WebhookSecret};
use super::{WebhookCall, WebhookError};
use crate::domain::WebhookTarget;

/// The largest answer the contract accepts from a webhook: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What a [`WebhookCaller`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Allow `http` URLs and loopback, private, link-local and other
    /// non-global destinations (tests, tools on a trusted network). Off,
    /// only `https` to global addresses is called.
    pub allow_private_networks: bool,
    /// The longest answer body read; a longer one is an error.
    pub max_response_bytes: usize,
}

impl Default for WebhookPolicy {
    /// The safe policy: global `https` destinations, answers up to 1 MiB.
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Calls webhook tools. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct WebhookCaller {
    client: reqwest::Client,
    policy: WebhookPolicy,
}

impl WebhookCaller {
    /// A client for `policy`: TLS as the model providers (rustls on the chosen provider,
    /// Mozilla's roots), redirects never followed (a redirect could point
    /// past the destination rules), no proxy from the environment (a proxy
    /// would connect on our behalf, to addresses we never see), and every
    /// host name resolved through the destination rules.
    pub fn new(policy: WebhookPolicy) -> Result<Self, WebhookError> {
        let tls = crate::llm::tls_client_config()
            .map_err(|e| WebhookError::Client(format!("TLS configuration failed: {e}")))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private_networks: policy.allow_private_networks,
            }))
            .user_agent(concat!("convo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(Self { client, policy })
    }

    /// The policy this caller applies.
    pub fn policy(&self) -> WebhookPolicy {
        self.policy
    }

    /// Sends `call` to `target`, signed with `secret` (`whsec_…`), and
    /// returns the JSON the webhook answered. `target.timeout_ms` bounds the
    /// whole call, from resolving the name to the answer's last byte.
    pub async fn call(
        &self,
        target: &WebhookTarget,
        secret: &str,
        call: &WebhookCall<'_>,
    ) -> Result<serde_json::Value, WebhookError> {
        let url = checked_url(&target.url, self.policy.allow_private_networks)?;
        let secret = WebhookSecret::parse(secret)?;
        let body = serde_json::to_vec(call).map_err(WebhookError::Encode)?;
        let limit = Duration::from_millis(u64::from(target.timeout_ms));
        tokio::time::timeout(limit, self.send(url, &secret, body))
            .await
            .unwrap_or(Err(WebhookError::Timeout(target.timeout_ms)))
    }

    async fn send(
        &self,
        url: reqwest::Url,
        secret: &WebhookSecret,
        body: Vec<u8>,
    ) -> Result<serde_json::Value, WebhookError> {
        let signed = SignedHeaders::new(secret, &body);
        let response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", signed.id)
            .header("webhook-timestamp", signed.timestamp)
            .header("webhook-signature", signed.signature)
            .body(body)
            .send()
            .await
            .map_err(|e| WebhookError::from_transport(&e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(WebhookError::Redirect(status.as_u16()));
        }
        if !status.is_success() {
            return Err(WebhookError::Status(status.as_u16()));
        }
        let answer = read_limited(response, self.policy.max_response_bytes).await?;
        serde_json::from_slice(&answer).map_err(|_| WebhookError::NotJson)
    }
}
