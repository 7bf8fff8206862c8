//! [`MockProvider`]: a deterministic, scriptable, recording model.
//!
//! It can be scripted to call tools ([`MockReply::ToolCalls`], or a
//! [`MockReply::Reply`] with calls and text), and records every request,
//! so a test can read the tools and tool messages the engine sent.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};

use super::{ChunkStream, LlmChunk, LlmError, LlmProvider, LlmReply, LlmRequest, ReasoningSupport};
use crate::domain::{FinishReason, Role, ToolCall, Usage};

/// One scripted answer of a [`MockProvider`].
#[derive(Debug, Clone, PartialEq)]
pub enum MockReply {
    /// Answer with this text (finish `stop`, usage estimated).
    Text(String),
    /// Answer with exactly this reply (text and tool calls; streamed as
    /// its text chunks, then one item per call, then the finish).
    Reply(LlmReply),
    /// Call these tools, with no text (finish `tool_calls`, usage estimated).
    ToolCalls(Vec<ToolCall>),
    /// Fail before any output.
    Fail(LlmError),
    /// Stream `chunks` chunks of the echo reply, then fail (a broken stream).
    /// For `generate`, the same as [`MockReply::Fail`].
    FailMidStream {
        /// How many text chunks arrive before the error.
        chunks: usize,
        /// The error that breaks the stream.
        error: LlmError,
    },
}

/// A model for tests and the embedded default.
///
/// Unless scripted, it answers `echo: <text of the last user message>`,
/// cut to `max_output_tokens * 4` characters with finish `max_tokens` when
/// that is set and exceeded. Usage is estimated as one token per four
/// characters. Scripted answers ([`push`](Self::push)) are used first, in
/// order. Every request is recorded ([`requests`](Self::requests)).
#[derive(Debug)]
pub struct MockProvider {
    latency: Duration,
    chunk_delay: Duration,
    chunks: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<MockReply>,
    requests: Vec<LlmRequest>,
    record: bool,
}

impl Default for MockProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl MockProvider {
    /// No latency, replies streamed in up to 4 chunks, requests recorded.
    pub fn new() -> Self {
        Self {
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 4,
            state: Mutex::new(State {
                record: true,
                ..State::default()
            }),
        }
    }

    /// Waits this long before answering (before the first chunk when streaming).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Waits this long between streamed chunks.
    pub fn with_chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Streams replies in this many text chunks (at least 1; fewer when the text is shorter).
    pub fn with_chunks(mut self, chunks: usize) -> Self {
        self.chunks = chunks.max(1);
        self
    }

    /// Stops recording requests (for benchmarks and long-running servers,
    /// where the record would only grow).
    pub fn without_recording(self) -> Self {
        self.lock().record = false;
        self
    }

    /// Queues a scripted answer for a later request.
    pub fn push(&self, reply: MockReply) {
        self.lock().script.push_back(reply);
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<LlmRequest> {
        self.lock().requests.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the request and decides the answer.
    fn answer(&self, request: &LlmRequest) -> MockReply {
        let mut state = self.lock();
        if state.record {
            state.requests.push(request.clone());
        }
        state
            .script
            .pop_front()
            .unwrap_or_else(|| MockReply::Reply(echo(request)))
    }
}

/// The default answer: an echo of the last user message.
fn echo(request: &LlmRequest) -> LlmReply {
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str());
    let mut text = format!("echo: {last_user}");
    let mut finish_reason = FinishReason::Stop;
    if let Some(max) = request.max_output_tokens {
        let budget = (max as usize).saturating_mul(4);
        if text.chars().count() > budget {
            text = text.chars().take(budget).collect();
            finish_reason = FinishReason::MaxTokens;
        }
    }
    reply(request, text, finish_reason)
}

fn reply(request: &LlmRequest, text: String, finish_reason: FinishReason) -> LlmReply {
    let usage = estimate_usage(request, &text);
    LlmReply {
        text,
        finish_reason,
        usage: Some(usage),
        model: Some(request.model.clone()),
        ..LlmReply::default()
    }
}

/// A reply calling `calls`; their arguments count as the output.
fn calls_reply(request: &LlmRequest, calls: Vec<ToolCall>) -> LlmReply {
    let written: String = calls.iter().map(|c| c.arguments.to_string()).collect();
    LlmReply {
        usage: Some(estimate_usage(request, &written)),
        tool_calls: calls,
        ..reply(request, String::new(), FinishReason::ToolCalls)
    }
}

/// One token per four characters, rounded up.
fn estimate_usage(request: &LlmRequest, reply: &str) -> Usage {
    let tokens = |chars: usize| chars.div_ceil(4) as u64;
    let prompt_chars = request.system_prompt.chars().count()
        + request
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum::<usize>();
    let prompt_tokens = tokens(prompt_chars);
    let completion_tokens = tokens(reply.chars().count());
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        thoughts_tokens: None,
        cached_tokens: None,
    }
}

/// Splits text into at most `n` pieces on character boundaries.
fn split_chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(n.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[async_trait]
impl LlmProvider for MockProvider {
    fn name(&self) -> &str {
        "mock"
    }

    /// The mock stands in for Gemini, so it takes what Gemini's models take:
    /// an agent that works against the mock works against Gemini.
    fn reasoning_efforts(&self, model: &str) -> ReasoningSupport {
        super::models::gemini_reasoning(model)
    }

    async fn generate(&self, request: LlmRequest) -> Result<LlmReply, LlmError> {
        let answer = self.answer(&request);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        match answer {
            MockReply::Text(text) => Ok(reply(&request, text, FinishReason::Stop)),
            MockReply::Reply(r) => Ok(r),
            MockReply::ToolCalls(calls) => Ok(calls_reply(&request, calls)),
            MockReply::Fail(e) | MockReply::FailMidStream { error: e, .. } => Err(e),
        }
    }

    async fn stream(&self, request: LlmRequest) -> Result<ChunkStream, LlmError> {
        let answer = self.answer(&request);
        let (reply, failure) = match answer {
            MockReply::Text(text) => (reply(&request, text, FinishReason::Stop), None),
            MockReply::Reply(r) => (r, None),
            MockReply::ToolCalls(calls) => (calls_reply(&request, calls), None),
            MockReply::Fail(e) => return Err(e),
            MockReply::FailMidStream { chunks, error } => (echo(&request), Some((chunks, error))),
        };
        let mut items: Vec<Result<LlmChunk, LlmError>> = split_chunks(&reply.text, self.chunks)
            .into_iter()
            .map(|t| Ok(LlmChunk::Text(t)))
            .chain(
                reply
                    .tool_calls
                    .into_iter()
                    .map(|c| Ok(LlmChunk::ToolCall(c))),
            )
            .collect();
        match failure {
            Some((keep, error)) => {
                items.truncate(keep);
                items.push(Err(error));
            }
            None => items.push(Ok(LlmChunk::Finish {
                finish_reason: reply.finish_reason,
                usage: reply.usage,
                model: reply.model,
                provider_state: reply.provider_state,
            })),
        }
        let (latency, chunk_delay) = (self.latency, self.chunk_delay);
        let paced = stream::iter(items.into_iter().enumerate()).then(move |(i, item)| async move {
            let wait = if i == 0 { latency } else { chunk_delay };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            item
        });
        Ok(paced.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;

    fn request(text: &str) -> LlmRequest {
        LlmRequest {
            model: "mock-model".into(),
            system_prompt: "be brief".into(),
            messages: vec![ChatMessage::new(Role::User, text)],
            ..LlmRequest::default()
        }
    }

    #[tokio::test]
    async fn echoes_the_last_user_message_with_estimated_usage() {
        let mock = MockProvider::new();
        let reply = mock.generate(request("hello")).await.expect("mock answers");
        assert_eq!(reply.text, "echo: hello");
        assert_eq!(reply.finish_reason, FinishReason::Stop);
        let usage = reply.usage.expect("usage");
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (4, 3, 7)
        );
        assert_eq!(mock.requests(), vec![request("hello")]);
    }

    #[tokio::test]
    async fn truncates_to_max_output_tokens() {
        let mock = MockProvider::new();
        let mut req = request("a long message indeed");
        req.max_output_tokens = Some(2);
        let reply = mock.generate(req).await.expect("mock answers");
        assert_eq!(reply.text, "echo: a ");
        assert_eq!(reply.finish_reason, FinishReason::MaxTokens);
    }

    #[tokio::test]
    async fn scripted_answers_come_first_in_order() {
        let mock = MockProvider::new();
        mock.push(MockReply::Text("one".into()));
        mock.push(MockReply::Fail(LlmError::Timeout));
        assert_eq!(
            mock.generate(request("x")).await.map(|r| r.text),
            Ok("one".to_string())
        );
        assert_eq!(mock.generate(request("x")).await, Err(LlmError::Timeout));
        assert_eq!(
            mock.generate(request("x")).await.map(|r| r.text),
            Ok("echo: x".to_string())
        );
    }

    #[tokio::test]
    async fn streams_chunks_that_concatenate_to_the_reply_then_a_finish() {
        let mock = MockProvider::new().with_chunks(3);
        let items: Vec<_> = mock
            .stream(request("streaming"))
            .await
            .expect("starts")
            .collect()
            .await;
        let text: String = items
            .iter()
            .filter_map(|i| match i {
                Ok(LlmChunk::Text(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "echo: streaming");
        assert_eq!(items.len(), 4, "3 text chunks and a finish");
        assert!(matches!(
            items.last(),
            Some(Ok(LlmChunk::Finish {
                finish_reason: FinishReason::Stop,
                ..
            }))
        ));
    }

    #[tokio::test]
    async fn a_mid_stream_failure_ends_the_stream_with_the_error() {
        let mock = MockProvider::new().with_chunks(4);
        mock.push(MockReply::FailMidStream {
            chunks: 2,
            error: LlmError::Provider("cut".into()),
        });
        let items: Vec<_> = mock
            .stream(request("streaming"))
            .await
            .expect("starts")
            .collect()
            .await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], Err(LlmError::Provider("cut".into())));
    }

    #[test]
    fn chunks_split_on_character_boundaries() {
        assert_eq!(split_chunks("héllo😀", 3), vec!["hé", "ll", "o😀"]);
        assert!(split_chunks("", 3).is_empty());
    }

    fn call(id: &str, name: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: serde_json::json!({"city": "Paris"}),
            provider_state: None,
        }
    }

    #[tokio::test]
    async fn scripted_tool_calls_answer_with_the_calls_and_finish_tool_calls() {
        let mock = MockProvider::new();
        mock.push(MockReply::ToolCalls(vec![
            call("a", "weather"),
            call("b", "time"),
        ]));

        let reply = mock.generate(request("x")).await.expect("mock answers");

        assert_eq!(
            reply.tool_calls,
            vec![call("a", "weather"), call("b", "time")]
        );
        assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
        assert_eq!(reply.text, "");
        assert!(reply.usage.is_some_and(|u| u.completion_tokens > 0));
    }

    #[tokio::test]
    async fn a_streamed_reply_with_calls_sends_its_text_then_each_call_then_the_finish() {
        let mock = MockProvider::new().with_chunks(2);
        mock.push(MockReply::Reply(LlmReply {
            text: "let me see".into(),
            finish_reason: FinishReason::ToolCalls,
            tool_calls: vec![call("a", "weather"), call("b", "time")],
            ..LlmReply::default()
        }));

        let items: Vec<_> = mock
            .stream(request("x"))
            .await
            .expect("starts")
            .collect()
            .await;

        assert_eq!(
            items[..4],
            [
                Ok(LlmChunk::Text("let m".into())),
                Ok(LlmChunk::Text("e see".into())),
                Ok(LlmChunk::ToolCall(call("a", "weather"))),
                Ok(LlmChunk::ToolCall(call("b", "time"))),
            ]
        );
        assert!(
            matches!(
                items[4..],
                [Ok(LlmChunk::Finish {
                    finish_reason: FinishReason::ToolCalls,
                    ..
                })]
            ),
            "{items:?}"
        );
    }

    #[tokio::test]
    async fn the_tools_and_tool_messages_sent_are_recorded() {
        let mock = MockProvider::new();
        let mut req = request("weather?");
        req.tools = vec![crate::llm::ToolSpec {
            name: "weather".into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
        }];
        req.messages.push(ChatMessage::assistant_tool_calls(
            "",
            vec![call("a", "weather")],
        ));
        req.messages
            .push(ChatMessage::tool_result("a", "weather", "sunny", false));

        mock.generate(req.clone()).await.expect("mock answers");

        assert_eq!(mock.requests(), vec![req]);
    }
}
