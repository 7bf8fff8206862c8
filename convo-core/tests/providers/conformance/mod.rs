//! The provider conformance suite: what every HTTP model provider must do,
//! written once and run against each provider's wire format.
//!
//! Each behaviour is a `pub async fn <sentence>(wire: &dyn WireFormat)` that
//! panics saying which rule broke. [`conformance_tests!`] expands into one
//! `#[tokio::test]` per behaviour for a given wire format, so nextest lists
//! `gemini::<behaviour>` and `openai::<behaviour>` apart. A new provider
//! implements [`WireFormat`] and invokes the macro once.
//!
//! The behaviours are the shared HTTP layer's promises (`llm::http`): retries
//! and their backoff, timeouts, how statuses and broken bodies map to
//! `LlmError`, and streams that fail after they started; and tool calling
//! (`tools`): declarations, calls read whole, calls and results sent back. Where the wire
//! formats genuinely differ (an end-of-stream marker or not), the format says
//! which case it is and the behaviour checks that case.

mod errors;
mod mapping;
mod raw;
mod retries;
mod streaming;
mod timeouts;
mod tools;

pub use errors::*;
pub use mapping::*;
pub use retries::*;
pub use streaming::*;
pub use timeouts::*;
pub use tools::*;

use std::time::Duration;

use convo_core::llm::{
    LlmChunk, LlmError, LlmProvider, LlmReply, LlmRequest, RetryPolicy, ToolChoice, ToolSpec,
};
use convo_core::FinishReason;
use futures::StreamExt;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The timeouts and retry policy every provider under test gets: short enough
/// for tests, with a 10 ms backoff base so that only an honoured `Retry-After`
/// explains a long gap between attempts.
#[derive(Debug, Clone)]
pub struct Patience {
    /// Time to open a connection.
    pub connect: Duration,
    /// Time from the request to the response's headers.
    pub first_byte: Duration,
    /// Longest silence between two chunks of a stream.
    pub idle: Duration,
    /// The whole call's budget, retries included.
    pub deadline: Duration,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_millis(500),
            idle: Duration::from_millis(500),
            deadline: Duration::from_secs(8),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(2),
            },
        }
    }
}

/// How a stream that ends without a finish reason (and, where the format has
/// one, without its end marker) is reported. The formats differ here, so each
/// says which it is.
// Each variant is one wire format's; built with one provider's feature, the
// other's variant goes unused.
#[cfg_attr(not(all(feature = "gemini", feature = "openai")), allow(dead_code))]
#[derive(Debug, Clone, Copy)]
pub enum Unfinished {
    /// The format has no end marker: the text so far, then nothing (the
    /// engine reports the answer as cut short).
    EndsQuietly,
    /// The format has an end marker: its absence is a provider error item
    /// whose message names the marker.
    ProviderError {
        /// The end marker, as the error message names it.
        marker: &'static str,
    },
}

/// One provider's wire format, as the conformance suite needs it: how to
/// build the provider and what its server says on the wire.
pub trait WireFormat: Sync {
    /// The provider, talking to the server at `origin` (`http://host:port`).
    fn provider(&self, origin: &str, patience: &Patience) -> Box<dyn LlmProvider>;
    /// A typical request (its model decides the Gemini path).
    fn request(&self) -> LlmRequest;
    /// The path the request goes to, for the mock's matcher.
    fn route(&self, stream: bool) -> &'static str;
    /// A successful reply body holding `text` and the wire's `finish` reason.
    fn reply(&self, text: &str, finish: &str) -> Value;
    /// Wire finish reasons and what they mean, an unknown one included.
    fn finish_reasons(&self) -> Vec<(&'static str, FinishReason)>;
    /// A reply saying `ok` (finish: stop) with unknown fields at every level.
    fn reply_with_unknown_fields(&self) -> Value;
    /// Responses refusing the prompt, each named.
    fn refusals(&self) -> Vec<(&'static str, ResponseTemplate)>;
    /// An error response with `status`, in the provider's error shape.
    fn error(&self, status: u16) -> ResponseTemplate;
    /// A 429 asking, the provider's way, for a wait of `after`.
    fn rate_limited(&self, after: Duration) -> ResponseTemplate;
    /// One SSE event carrying `text`, and the wire's `finish` reason if any.
    fn event(&self, text: &str, finish: Option<&str>) -> String;
    /// What follows the finishing event at the end of a whole stream.
    fn end(&self) -> &'static str;
    /// The ways an error can arrive in a stream that started, each named.
    fn mid_stream_errors(&self) -> Vec<(&'static str, String)>;
    /// A whole stream refusing the prompt before any text.
    fn refused_stream(&self) -> String;
    /// How a stream that ends without a finish reason is reported.
    fn unfinished(&self) -> Unfinished;
    /// The top-level fields declaring `tools` with `choice`, as the wire
    /// sends them; a field that must be absent is `null` (so without tools,
    /// every tool field is `null`).
    fn tool_fields(&self, tools: &[ToolSpec], choice: &ToolChoice) -> Value;
    /// A whole reply making `calls`, in order, with no text.
    fn reply_with_calls(&self, calls: &[Call]) -> Value;
    /// A whole stream making `calls`, cut up as the wire cuts calls up.
    fn stream_with_calls(&self, calls: &[Call]) -> String;
    /// The field holding the conversation, and its value for
    /// [`tool_history`]; `signature_kept` when the call's signature was
    /// made by the model asked.
    fn tool_history_sent(&self, signature_kept: bool) -> (&'static str, Value);
    /// Replies making one call whose arguments are not a JSON object, each
    /// named, with the arguments Convo reads from it.
    fn unusual_arguments(&self) -> Vec<(&'static str, Value, Value)>;
}

/// The wire's finish reason meaning [`FinishReason::Stop`].
pub fn stop(wire: &dyn WireFormat) -> &'static str {
    wire.finish_reasons()
        .into_iter()
        .find(|(_, reason)| *reason == FinishReason::Stop)
        .map(|(name, _)| name)
        .expect("the table has a reason meaning stop")
}

/// A 200 answer with `body` as JSON.
pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A 200 answer with a server-sent-events `body`.
pub fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// A whole stream: one event per text, `finish` on the last, then the end.
pub fn whole_stream(wire: &dyn WireFormat, texts: &[&str], finish: &str) -> String {
    let mut body = String::new();
    for (i, text) in texts.iter().enumerate() {
        let last = i + 1 == texts.len();
        body.push_str(&wire.event(text, last.then_some(finish)));
    }
    body.push_str(wire.end());
    body
}

/// Answers every request to the wire's route with `response`.
pub async fn mount(
    wire: &dyn WireFormat,
    server: &MockServer,
    stream: bool,
    response: impl wiremock::Respond + 'static,
) {
    Mock::given(method("POST"))
        .and(path(wire.route(stream)))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Answers only the first request to the wire's route with `response`
/// (mounted first, it wins over later mocks until used up).
pub async fn mount_once(
    wire: &dyn WireFormat,
    server: &MockServer,
    stream: bool,
    response: ResponseTemplate,
) {
    Mock::given(method("POST"))
        .and(path(wire.route(stream)))
        .respond_with(response)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

/// The requests the server received.
/// An embedder's own `reqwest` client, marked by a default header
/// `x-embedder: own-client`. (This crate's reqwest has no crypto provider of
/// its own, so the client gets convo-core's TLS configuration, as an
/// embedder on `rustls-no-provider` would give it one.)
pub fn embedders_client() -> reqwest::Client {
    let tls = convo_core::llm::tls_client_config().expect("TLS configuration");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-embedder",
        reqwest::header::HeaderValue::from_static("own-client"),
    );
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .default_headers(headers)
        .build()
        .expect("the embedder's client builds")
}

pub async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

/// The provider pointed at `server`.
pub fn provider(wire: &dyn WireFormat, server: &MockServer) -> Box<dyn LlmProvider> {
    wire.provider(&server.uri(), &Patience::default())
}

/// One non-streamed call against `server`.
pub async fn generate(wire: &dyn WireFormat, server: &MockServer) -> Result<LlmReply, LlmError> {
    provider(wire, server).generate(wire.request()).await
}

/// Every item of a stream from the server at `origin`, which must start.
pub async fn stream_items_from(
    wire: &dyn WireFormat,
    origin: &str,
) -> Vec<Result<LlmChunk, LlmError>> {
    let stream = wire
        .provider(origin, &Patience::default())
        .stream(wire.request())
        .await
        .expect("the stream starts");
    stream.collect().await
}

/// Every item of a stream from `server`, which must start.
pub async fn stream_items(
    wire: &dyn WireFormat,
    server: &MockServer,
) -> Vec<Result<LlmChunk, LlmError>> {
    stream_items_from(wire, &server.uri()).await
}

/// Expands into one `#[tokio::test]` per conformance behaviour, each run
/// against `$wire` (a value implementing [`WireFormat`]).
macro_rules! conformance_tests {
    ($wire:expr) => {
        $crate::conformance::conformance_tests!(@tests $wire;
            // responses
            finish_reasons_map_and_an_unknown_one_becomes_other,
            finish_reasons_map_the_same_in_a_stream,
            unknown_fields_anywhere_in_the_response_are_ignored,
            refusals_are_blocked_errors_and_are_not_retried,
            // errors
            a_200_whose_body_is_not_json_is_a_provider_error,
            client_errors_are_provider_errors_and_are_not_retried,
            a_refused_connection_is_unavailable_after_the_retries,
            // retries
            retryable_statuses_give_up_as_unavailable_after_three_attempts,
            the_last_429s_retry_after_is_reported_when_retries_run_out,
            a_429_is_retried_no_sooner_than_its_retry_after,
            a_503_then_a_200_succeeds_on_the_second_attempt,
            // timeouts
            no_first_byte_within_the_timeout_is_a_timeout_and_is_not_retried,
            a_stream_silent_longer_than_the_idle_timeout_is_a_timeout_item,
            // streams
            a_stream_yields_its_text_deltas_in_order_then_one_finish,
            an_error_in_a_started_stream_is_an_unavailable_item_and_is_not_retried,
            a_stream_that_ends_without_a_finish_reason_has_no_finish_item,
            a_chunk_that_is_not_json_is_a_provider_error_item,
            a_stream_whose_first_response_is_503_is_retried_before_it_starts,
            a_stream_that_keeps_failing_before_it_starts_is_an_outer_unavailable_error,
            a_stream_refused_before_any_text_is_a_blocked_item,
            a_connection_cut_mid_stream_is_an_unavailable_item,
            // tools
            tool_declarations_and_the_choice_are_sent_in_the_wires_shape,
            a_reply_with_two_parallel_calls_is_read_whole,
            a_streamed_reply_yields_each_call_whole_before_the_finish,
            calls_and_results_are_sent_back_in_the_wires_shape,
            arguments_that_are_not_an_object_are_kept_as_they_came,
        );
    };
    (@tests $wire:expr; $($behaviour:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                $crate::conformance::$behaviour(&$wire).await;
            }
        )+
    };
}

pub(crate) use conformance_tests;
