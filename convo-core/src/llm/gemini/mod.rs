//! [`GeminiProvider`]: Google's Generative Language API (`v1beta`) over reqwest.
//!
//! - `wire`: the JSON shapes and their pure mapping to Convo's types;
//! - `decode`: what the `alt=sse` stream's events mean.
//!
//! The HTTP machinery (client, retries, timeouts, SSE reading, TLS) is shared
//! with the other providers in `llm::http`.
//!
//! One shared `reqwest::Client` (connection pooling). The API key travels
//! only in the `x-goog-api-key` header: never in a URL, never in a log line.

mod decode;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::Instant;

use super::http::{chunk_stream, Transport};
use super::{
    finish_with_calls, new_call_id, ChunkStream, LlmError, LlmProvider, LlmReply, LlmRequest,
    ReasoningSupport,
};
use crate::domain::{FinishReason, ProviderState, ToolCall};

pub use super::http::{tls_client_config, RetryPolicy};

/// Google's endpoint.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// How to reach Gemini, and how patiently.
#[derive(Clone)]
pub struct GeminiConfig {
    /// The API key (sent as `x-goog-api-key`).
    pub api_key: String,
    /// Base URL, without the `/v1beta` part.
    pub base_url: String,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time from sending a request to the response's first byte (its headers).
    pub first_byte_timeout: Duration,
    /// Longest silence between two chunks of a streamed answer.
    pub idle_timeout: Duration,
    /// The whole turn's budget, retries included.
    pub deadline: Duration,
    /// Retries of failures before the answer started.
    pub retry: RetryPolicy,
}

impl GeminiConfig {
    /// Defaults for `api_key`: Google's endpoint, 10 s to connect, 30 s to the
    /// first byte, 30 s between chunks, 60 s per turn, 3 attempts.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

impl std::fmt::Debug for GeminiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiConfig")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("deadline", &self.deadline)
            .field("retry", &self.retry)
            .finish()
    }
}

/// The Gemini model provider.
#[derive(Debug, Clone)]
pub struct GeminiProvider {
    http: Transport,
    config: GeminiConfig,
}

impl GeminiProvider {
    /// A provider with its own connection pool.
    pub fn new(mut config: GeminiConfig) -> Result<Self, LlmError> {
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        let http = Transport::new(
            "Gemini",
            config.connect_timeout,
            config.first_byte_timeout,
            config.retry.clone(),
        )?;
        Ok(Self { http, config })
    }

    /// A provider on the embedder's own `reqwest` (0.13) client, e.g. to
    /// share its connection pool, proxy or TLS set-up. The client's own
    /// settings apply, so `config.connect_timeout` is not used; the first-byte
    /// timeout, idle timeout, deadline and retries still are.
    pub fn with_client(mut config: GeminiConfig, client: reqwest::Client) -> Self {
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        let http = Transport::with_client(
            "Gemini",
            client,
            config.first_byte_timeout,
            config.retry.clone(),
        );
        Self { http, config }
    }

    fn url(&self, model: &str, method: Method) -> String {
        let base = &self.config.base_url;
        match method {
            Method::Stream => format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse"),
            Method::Generate => format!("{base}/v1beta/models/{model}:generateContent"),
            Method::CountTokens => format!("{base}/v1beta/models/{model}:countTokens"),
        }
    }

    /// Sends the request, retrying failures that happen before the answer
    /// starts, and returns the successful response (status 2xx).
    async fn start(
        &self,
        request: &LlmRequest,
        stream: bool,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError> {
        let method = if stream {
            Method::Stream
        } else {
            Method::Generate
        };
        let body = serde_json::to_vec(&wire::build_request(request))
            .map_err(|e| LlmError::Provider(format!("could not encode the request: {e}")))?;
        self.post(&request.model, method, Bytes::from(body), deadline)
            .await
    }

    /// POSTs `body` to one of the model's methods, with retries.
    async fn post(
        &self,
        model: &str,
        method: Method,
        body: Bytes,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError> {
        let url = self.url(model, method);
        let build = |client: &reqwest::Client| {
            client
                .post(&url)
                .header("x-goog-api-key", &self.config.api_key)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        };
        let classify = |status: u16, _: &reqwest::header::HeaderMap, body: &[u8]| {
            wire::error_for_status(status, body, model)
        };
        self.http.start(build, classify, deadline).await
    }
}

/// The model methods Convo calls.
#[derive(Debug, Clone, Copy)]
enum Method {
    Generate,
    Stream,
    CountTokens,
}

/// How long the startup model check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// The state to keep with a reply: its thought signature, tied to the model
/// that was asked for.
fn provider_state(requested: &str, signature: Option<String>) -> Option<ProviderState> {
    signature.map(|s| ProviderState {
        provider: wire::PROVIDER.to_owned(),
        model: requested.to_owned(),
        thought_signature: Some(s),
    })
}

/// A safety-class finish that produced no output (no text, no call): the
/// provider refused.
fn refused(finish: &(FinishReason, String), output_seen: bool) -> Option<LlmError> {
    (finish.0 == FinishReason::Safety && !output_seen)
        .then(|| LlmError::Blocked(format!("finish reason {}", finish.1)))
}

/// Convo's call for a `functionCall` of `requested`: Gemini's id or one
/// made here (Gemini may give none), the arguments (an empty object when
/// there are none), and the call's signature, which must go back on it.
fn tool_call(requested: &str, call: wire::FunctionCall, signature: Option<String>) -> ToolCall {
    ToolCall {
        id: call
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(new_call_id),
        name: call.name,
        arguments: call
            .args
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
        provider_state: provider_state(requested, signature),
    }
}

#[async_trait]
impl LlmProvider for GeminiProvider {
    fn name(&self) -> &str {
        wire::PROVIDER
    }

    fn reasoning_efforts(&self, model: &str) -> ReasoningSupport {
        super::models::gemini_reasoning(model)
    }

    /// Asks `countTokens` of the model, which costs nothing and answers the
    /// same 404 as `generateContent` for a retired or unknown model.
    async fn check_model(&self, model: &str) -> Result<(), LlmError> {
        let deadline = Instant::now() + CHECK_TIMEOUT.min(self.config.deadline);
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"ping"}]}]}"#;
        self.post(
            model,
            Method::CountTokens,
            Bytes::from_static(body),
            deadline,
        )
        .await
        .map(drop)
    }

    async fn generate(&self, request: LlmRequest) -> Result<LlmReply, LlmError> {
        let deadline = Instant::now() + self.config.deadline;
        let response = self.start(&request, false, deadline).await?;
        let parsed: wire::GenerateResponse = self.http.json(response, deadline).await?;
        let chunk = parsed.into_chunk()?;
        let finish = chunk.finish.unwrap_or((FinishReason::Other, String::new()));
        let calls_seen = !chunk.calls.is_empty();
        if let Some(err) = refused(&finish, !chunk.text.is_empty() || calls_seen) {
            return Err(err);
        }
        Ok(LlmReply {
            text: chunk.text,
            finish_reason: finish_with_calls(finish.0, calls_seen),
            usage: chunk.usage,
            model: chunk.model,
            provider_state: provider_state(&request.model, chunk.signature),
            tool_calls: chunk
                .calls
                .into_iter()
                .map(|(call, signature)| tool_call(&request.model, call, signature))
                .collect(),
        })
    }

    async fn stream(&self, request: LlmRequest) -> Result<ChunkStream, LlmError> {
        let deadline = Instant::now() + self.config.deadline;
        let response = self.start(&request, true, deadline).await?;
        Ok(chunk_stream(
            response,
            decode::GeminiDecoder::new(&request.model),
            self.http.label(),
            self.config.idle_timeout,
            deadline,
        ))
    }
}
