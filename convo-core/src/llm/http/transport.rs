//! The HTTP side of a provider: one pooled client, attempts bounded by a
//! first-byte timeout, the retry loop, and transport failures mapped to the
//! contract's classes.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use tokio::time::{timeout, Instant};

use super::retry::RetryPolicy;
use super::tls;
use crate::llm::LlmError;

/// A provider's HTTP client and its patience. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    /// How messages name the provider, e.g. `Gemini`.
    label: &'static str,
    first_byte_timeout: Duration,
    retry: RetryPolicy,
}

impl Transport {
    /// A client with its own connection pool, TLS by rustls on the crypto
    /// provider `tls` chooses.
    pub(crate) fn new(
        label: &'static str,
        connect_timeout: Duration,
        first_byte_timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, LlmError> {
        let tls = tls::client_config()
            .map_err(|e| LlmError::Provider(format!("TLS configuration failed: {e}")))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("convo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Provider(format!("HTTP client configuration failed: {e}")))?;
        Ok(Self::with_client(label, client, first_byte_timeout, retry))
    }

    /// The embedder's own client: its TLS, proxy, pool and connect timeout.
    pub(crate) fn with_client(
        label: &'static str,
        client: reqwest::Client,
        first_byte_timeout: Duration,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            client,
            label,
            first_byte_timeout,
            retry,
        }
    }

    /// How messages name the provider.
    pub(crate) fn label(&self) -> &'static str {
        self.label
    }

    /// Sends the request `build` makes, retrying failures that happen before
    /// the answer starts, and returns the successful (2xx) response. `classify`
    /// turns an error status, its headers and its body into the error.
    pub(crate) async fn start<B, C>(
        &self,
        build: B,
        classify: C,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError>
    where
        B: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        C: Fn(u16, &HeaderMap, &[u8]) -> LlmError,
    {
        let mut attempt = 1;
        loop {
            let error = match self.attempt(build(&self.client), &classify, deadline).await {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            match self.retry.next_delay(attempt, &error, deadline) {
                Some(wait) => {
                    tracing::info!(
                        provider = self.label,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %error,
                        "retrying the model request"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(error),
            }
        }
    }

    async fn attempt<C>(
        &self,
        request: reqwest::RequestBuilder,
        classify: &C,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError>
    where
        C: Fn(u16, &HeaderMap, &[u8]) -> LlmError,
    {
        let limit = self
            .first_byte_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let response = timeout(limit, request.send())
            .await
            .map_err(|_| LlmError::Timeout)?
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        // The error body only explains; an unreadable one still has a status.
        let body = timeout(limit, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Err(classify(status.as_u16(), &headers, &body))
    }

    /// The whole body of a successful response, read before `deadline`.
    pub(crate) async fn body(
        &self,
        response: reqwest::Response,
        deadline: Instant,
    ) -> Result<Bytes, LlmError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        timeout(remaining, response.bytes())
            .await
            .map_err(|_| LlmError::Timeout)?
            .map_err(|e| self.transport_error(e))
    }

    /// The whole body of `response`, before `deadline`, parsed as JSON; a
    /// body that is not the expected JSON is a provider error.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
        deadline: Instant,
    ) -> Result<T, LlmError> {
        let body = self.body(response, deadline).await?;
        serde_json::from_slice(&body).map_err(|e| {
            LlmError::Provider(format!(
                "{} answered with a body that is not the expected JSON: {e}",
                self.label
            ))
        })
    }

    /// A transport failure (no HTTP answer) in the contract's classes.
    pub(crate) fn transport_error(&self, err: reqwest::Error) -> LlmError {
        if err.is_timeout() {
            LlmError::Timeout
        } else {
            // Refused, reset, DNS, TLS: the provider could not be reached this time.
            let message = if err.is_connect() {
                format!("could not connect to {}", self.label)
            } else {
                format!("the connection to {} failed", self.label)
            };
            LlmError::Unavailable {
                message,
                retry_after: None,
            }
        }
    }
}
