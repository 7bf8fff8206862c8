//! [`GeminiProvider`]: Google's Generative Language API (`v1beta`) over reqwest.
//!
//! - `wire`: the JSON shapes and their pure mapping to Convo's types;
//! - `sse`: the `alt=sse` stream reader;
//! - `retry`: backoff with full jitter under a deadline;
//! - `tls`: the HTTPS configuration (rustls + ring).
//!
//! One shared `reqwest::Client` (connection pooling). The API key travels
//! only in the `x-goog-api-key` header: never in a URL, never in a log line.

mod retry;
mod sse;
mod tls;
mod wire;

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::time::{timeout, Instant};

use super::{ChunkStream, LlmChunk, LlmError, LlmProvider, LlmReply, LlmRequest};
use crate::domain::{FinishReason, Usage};

pub use retry::RetryPolicy;
pub use tls::client_config as tls_client_config;

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
    client: reqwest::Client,
    config: GeminiConfig,
}

impl GeminiProvider {
    /// A provider with its own connection pool.
    pub fn new(mut config: GeminiConfig) -> Result<Self, LlmError> {
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        let tls = tls::client_config()
            .map_err(|e| LlmError::Provider(format!("TLS configuration failed: {e}")))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("convo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Provider(format!("HTTP client configuration failed: {e}")))?;
        Ok(Self { client, config })
    }

    fn url(&self, model: &str, stream: bool) -> String {
        let base = &self.config.base_url;
        if stream {
            format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("{base}/v1beta/models/{model}:generateContent")
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
        let url = self.url(&request.model, stream);
        let body = serde_json::to_vec(&wire::build_request(request))
            .map_err(|e| LlmError::Provider(format!("could not encode the request: {e}")))?;
        let mut attempt = 1;
        loop {
            let error = match self.attempt(&url, body.clone(), deadline).await {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            match self.config.retry.next_delay(attempt, &error, deadline) {
                Some(wait) => {
                    tracing::info!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying the Gemini request");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(error),
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<reqwest::Response, LlmError> {
        let send = self
            .client
            .post(url)
            .header("x-goog-api-key", &self.config.api_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send();
        let limit = self
            .config
            .first_byte_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let response = timeout(limit, send)
            .await
            .map_err(|_| LlmError::Timeout)?
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = timeout(limit, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Err(wire::error_for_status(status.as_u16(), &body))
    }
}

/// A transport failure (no HTTP answer) in the contract's classes.
fn transport_error(err: reqwest::Error) -> LlmError {
    if err.is_timeout() {
        LlmError::Timeout
    } else {
        // Refused, reset, DNS, TLS: the provider could not be reached this time.
        let kind = if err.is_connect() {
            "could not connect to Gemini"
        } else {
            "the connection to Gemini failed"
        };
        LlmError::Unavailable {
            message: kind.to_owned(),
            retry_after: None,
        }
    }
}

/// A safety-class finish that produced no text: the provider refused.
fn refused(finish: &(FinishReason, String), text_seen: bool) -> Option<LlmError> {
    (finish.0 == FinishReason::Safety && !text_seen)
        .then(|| LlmError::Blocked(format!("finish reason {}", finish.1)))
}

#[async_trait]
impl LlmProvider for GeminiProvider {
    fn name(&self) -> &str {
        "gemini"
    }

    async fn generate(&self, request: LlmRequest) -> Result<LlmReply, LlmError> {
        let deadline = Instant::now() + self.config.deadline;
        let response = self.start(&request, false, deadline).await?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let body = timeout(remaining, response.bytes())
            .await
            .map_err(|_| LlmError::Timeout)?
            .map_err(transport_error)?;
        let parsed: wire::GenerateResponse = serde_json::from_slice(&body).map_err(|e| {
            LlmError::Provider(format!(
                "Gemini answered with a body that is not the expected JSON: {e}"
            ))
        })?;
        let chunk = parsed.into_chunk()?;
        let finish = chunk.finish.unwrap_or((FinishReason::Other, String::new()));
        if let Some(err) = refused(&finish, !chunk.text.is_empty()) {
            return Err(err);
        }
        Ok(LlmReply {
            text: chunk.text,
            finish_reason: finish.0,
            usage: chunk.usage,
            model: chunk.model,
        })
    }

    async fn stream(&self, request: LlmRequest) -> Result<ChunkStream, LlmError> {
        let deadline = Instant::now() + self.config.deadline;
        let response = self.start(&request, true, deadline).await?;
        let reader = StreamReader {
            bytes: response.bytes_stream().boxed(),
            parser: sse::SseParser::default(),
            queue: VecDeque::new(),
            done: false,
            deadline,
            idle: self.config.idle_timeout,
            usage: None,
            model: None,
            text_seen: false,
        };
        Ok(futures::stream::unfold(reader, |mut r| async move {
            r.next().await.map(|item| (item, r))
        })
        .boxed())
    }
}

/// Turns the SSE byte stream into chunks.
struct StreamReader {
    bytes: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: sse::SseParser,
    queue: VecDeque<Result<LlmChunk, LlmError>>,
    done: bool,
    deadline: Instant,
    idle: Duration,
    usage: Option<Usage>,
    model: Option<String>,
    text_seen: bool,
}

impl StreamReader {
    async fn next(&mut self) -> Option<Result<LlmChunk, LlmError>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let limit = self
                .idle
                .min(self.deadline.saturating_duration_since(Instant::now()));
            match timeout(limit, self.bytes.next()).await {
                Err(_) => self.fail(LlmError::Timeout),
                Ok(None) => {
                    for item in self.parser.finish() {
                        self.handle(item);
                    }
                    // Without a finish reason the engine reports a cut stream.
                    self.done = true;
                }
                Ok(Some(Err(_))) => self.fail(LlmError::Unavailable {
                    message: "the connection to Gemini broke mid-answer".into(),
                    retry_after: None,
                }),
                Ok(Some(Ok(bytes))) => {
                    for item in self.parser.push(&bytes) {
                        self.handle(item);
                    }
                }
            }
        }
    }

    fn fail(&mut self, err: LlmError) {
        self.queue.push_back(Err(err));
        self.done = true;
    }

    fn handle(&mut self, item: sse::SseItem) {
        if self.done {
            return;
        }
        let text = match item {
            sse::SseItem::Data(text) => text,
            sse::SseItem::Raw(text) => {
                // A bare error object; anything else raw is noise.
                if let Some(err) = embedded_error(&text) {
                    self.fail(err);
                }
                return;
            }
        };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return self.fail(LlmError::Provider(format!(
                    "Gemini sent a chunk that is not JSON: {e}"
                )))
            }
        };
        if let Some(err) = embedded_error(&text) {
            return self.fail(err);
        }
        let chunk = match serde_json::from_value::<wire::GenerateResponse>(value)
            .map(wire::GenerateResponse::into_chunk)
        {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(err)) => return self.fail(err),
            Err(e) => {
                return self.fail(LlmError::Provider(format!(
                    "Gemini sent an unexpected chunk: {e}"
                )))
            }
        };
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if chunk.model.is_some() {
            self.model = chunk.model;
        }
        if !chunk.text.is_empty() {
            self.text_seen = true;
            self.queue.push_back(Ok(LlmChunk::Text(chunk.text)));
        }
        if let Some(finish) = chunk.finish {
            if let Some(err) = refused(&finish, self.text_seen) {
                return self.fail(err);
            }
            self.queue.push_back(Ok(LlmChunk::Finish {
                finish_reason: finish.0,
                usage: self.usage,
                model: self.model.take(),
            }));
            self.done = true;
        }
    }
}

/// The error inside `{"error": {...}}`, if `text` is one.
fn embedded_error(text: &str) -> Option<LlmError> {
    let envelope: wire::ErrorEnvelope = serde_json::from_str(text).ok()?;
    let body = envelope.error?;
    Some(wire::error_from_body(body.code.unwrap_or(500), &body))
}
