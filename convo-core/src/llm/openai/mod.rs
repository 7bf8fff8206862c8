//! [`OpenAiCompatProvider`]: any OpenAI-compatible Chat Completions API
//! (OpenAI, Ollama, vLLM, llama.cpp's server, gateways) over reqwest.
//!
//! - `config`: [`OpenAiConfig`], where the API is and how patiently to wait;
//! - `wire`: the request and response JSON and their pure mapping;
//! - `error`: error bodies and statuses in the contract's classes;
//! - `tools`: tool declarations, calls and results, JSON answers;
//! - `decode`: what the events of a streamed answer mean.
//!
//! Client, retries, timeouts, SSE reading and TLS are shared with the Gemini
//! provider (`llm::http`), so both fail in the same classes for the same
//! reasons. Requests go to `{base_url}/chat/completions`; the model is
//! [`LlmRequest::model`] as given (a routing prefix such as `openai:` is the
//! caller's to strip). The API key travels only in the `Authorization`
//! header, marked sensitive: never in a URL, never in a log line.

mod config;
mod decode;
mod error;
mod tools;
mod wire;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use tokio::time::Instant;

use super::http::{chunk_stream, Transport};
use super::{finish_with_calls, ChunkStream, LlmError, LlmProvider, LlmReply, LlmRequest};
use crate::domain::FinishReason;

pub use super::http::{tls_client_config, RetryPolicy};
pub use config::{OpenAiConfig, TokenLimitField, DEFAULT_BASE_URL};

/// A model provider speaking the Chat Completions API.
#[derive(Debug, Clone)]
pub struct OpenAiCompatProvider {
    http: Transport,
    /// `{base_url}/chat/completions`.
    url: String,
    /// `Bearer <key>`, marked sensitive; `None` without a key.
    authorization: Option<HeaderValue>,
    config: OpenAiConfig,
}

impl OpenAiCompatProvider {
    /// A provider with its own connection pool. Fails if the base URL is not
    /// an absolute `http(s)` URL or the key cannot be sent in a header.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let http = Transport::new(
            "the model API",
            config.connect_timeout,
            config.first_byte_timeout,
            config.retry.clone(),
        )?;
        Self::on(http, config)
    }

    /// A provider on the embedder's own `reqwest` (0.13) client, e.g. to
    /// share its connection pool, proxy or TLS set-up. The client's own
    /// settings apply, so `config.connect_timeout` is not used; the first-byte
    /// timeout, idle timeout, deadline and retries still are. Fails as
    /// [`new`](Self::new) does.
    pub fn with_client(config: OpenAiConfig, client: reqwest::Client) -> Result<Self, LlmError> {
        let http = Transport::with_client(
            "the model API",
            client,
            config.first_byte_timeout,
            config.retry.clone(),
        );
        Self::on(http, config)
    }

    /// Checks the URL and the key, and puts the provider together.
    fn on(http: Transport, mut config: OpenAiConfig) -> Result<Self, LlmError> {
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        let url = format!("{}/chat/completions", config.base_url);
        match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            _ => {
                return Err(LlmError::Provider(format!(
                    "the model API's base URL is not an http(s) URL: {:?}",
                    config.base_url
                )))
            }
        }
        let authorization = match config.api_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                    LlmError::Provider(
                        "the model API key has characters a header cannot carry".into(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            http,
            url,
            authorization,
            config,
        })
    }

    /// Sends the request, retrying failures that happen before the answer
    /// starts, and returns the successful response (status 2xx).
    async fn start(
        &self,
        request: &LlmRequest,
        stream: bool,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError> {
        let body = wire::build_request(request, stream, self.config.token_limit_field);
        let body = Bytes::from(
            serde_json::to_vec(&body)
                .map_err(|e| LlmError::Provider(format!("could not encode the request: {e}")))?,
        );
        let build = |client: &reqwest::Client| {
            let builder = client
                .post(&self.url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
            match &self.authorization {
                Some(value) => builder.header(AUTHORIZATION, value.clone()),
                None => builder,
            }
        };
        self.http
            .start(build, error::error_for_status, deadline)
            .await
    }
}

#[async_trait]
impl LlmProvider for OpenAiCompatProvider {
    fn name(&self) -> &str {
        "openai"
    }

    async fn generate(&self, request: LlmRequest) -> Result<LlmReply, LlmError> {
        let deadline = Instant::now() + self.config.deadline;
        let response = self.start(&request, false, deadline).await?;
        let parsed: wire::Completion = self.http.json(response, deadline).await?;
        let part = parsed.into_part()?;
        if !part.has_choice {
            return Err(LlmError::Provider(
                "the model API answered with no choices".into(),
            ));
        }
        let finish = part.finish.unwrap_or((FinishReason::Other, String::new()));
        let mut calls = tools::CallAssembler::default();
        calls.push(part.tool_calls);
        let output_seen = !part.text.is_empty() || !calls.is_empty();
        if let Some(err) = wire::refused(&finish, output_seen, &part.refusal) {
            return Err(err);
        }
        Ok(LlmReply {
            text: part.text,
            finish_reason: finish_with_calls(finish.0, !calls.is_empty()),
            usage: part.usage,
            model: part.model,
            provider_state: None,
            tool_calls: calls.finish(),
        })
    }

    async fn stream(&self, request: LlmRequest) -> Result<ChunkStream, LlmError> {
        let deadline = Instant::now() + self.config.deadline;
        let response = self.start(&request, true, deadline).await?;
        Ok(chunk_stream(
            response,
            decode::OpenAiDecoder::default(),
            self.http.label(),
            self.config.idle_timeout,
            deadline,
        ))
    }
}
