//! [`OpenAiConfig`]: where the Chat Completions API is and how patiently to
//! talk to it.

use std::time::Duration;

use crate::llm::http::RetryPolicy;

/// OpenAI's endpoint (requests go to `{base_url}/chat/completions`).
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Which request field carries [`LlmRequest::max_output_tokens`](crate::llm::LlmRequest::max_output_tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenLimitField {
    /// `max_tokens`, the default: every OpenAI-compatible server knows it
    /// (Ollama, vLLM, llama.cpp's server, gateways). OpenAI has deprecated it,
    /// and its reasoning models (o-series, gpt-5) reject it.
    #[default]
    MaxTokens,
    /// `max_completion_tokens`, OpenAI's current name, which its reasoning
    /// models require. Older compatible servers ignore or reject it.
    MaxCompletionTokens,
}

/// How to reach an OpenAI-compatible Chat Completions API, and how patiently.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// Base URL up to and including the version, e.g. `https://api.openai.com/v1`
    /// or `http://localhost:11434/v1` (Ollama).
    pub base_url: String,
    /// The API key, sent as `Authorization: Bearer …`; `None` (or empty) sends
    /// no `Authorization` header, as local servers expect.
    pub api_key: Option<String>,
    /// Which field carries the output cap.
    pub token_limit_field: TokenLimitField,
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

impl OpenAiConfig {
    /// Defaults for `base_url`, no key: `max_tokens`, 10 s to connect, 30 s to
    /// the first byte, 30 s between chunks, 60 s per turn, 3 attempts (the
    /// Gemini provider's defaults).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            token_limit_field: TokenLimitField::default(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }

    /// The same configuration with `api_key` sent as a Bearer token.
    pub fn with_api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("token_limit_field", &self.token_limit_field)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("deadline", &self.deadline)
            .field("retry", &self.retry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_api_key() {
        let config = OpenAiConfig::new(DEFAULT_BASE_URL).with_api_key("sk-secret-123");

        let printed = format!("{config:?}");

        assert!(!printed.contains("sk-secret-123"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(format!("{:?}", OpenAiConfig::new("http://x/v1")).contains("api_key: None"));
    }
}
