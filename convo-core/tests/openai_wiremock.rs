#![cfg(feature = "openai")]
//! `OpenAiCompatProvider` against wiremock: the exact request it sends, how
//! each response shape maps, the retry policy (count, honoured `Retry-After`,
//! no retry once a stream has started) and the SSE reader. A few transport
//! failures wiremock cannot stage (a refused connection, a body that stalls
//! or is cut mid-stream) use a one-shot raw TCP server.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_core::llm::openai::{OpenAiCompatProvider, OpenAiConfig, RetryPolicy, TokenLimitField};
use convo_core::llm::{ChatMessage, LlmChunk, LlmError, LlmProvider, LlmRequest};
use convo_core::{FinishReason, LlmReply, Role, Usage};
use futures::StreamExt;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const COMPLETIONS: &str = "/v1/chat/completions";

fn config(base_url: String) -> OpenAiConfig {
    OpenAiConfig {
        connect_timeout: Duration::from_secs(1),
        first_byte_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(500),
        deadline: Duration::from_secs(8),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(2),
        },
        ..OpenAiConfig::new(base_url).with_api_key("sk-test-key")
    }
}

fn provider(server: &MockServer) -> OpenAiCompatProvider {
    OpenAiCompatProvider::new(config(format!("{}/v1", server.uri()))).expect("provider builds")
}

fn msg(role: Role, content: &str) -> ChatMessage {
    ChatMessage::new(role, content)
}

/// A window of three messages, a system prompt and both settings.
fn request() -> LlmRequest {
    LlmRequest {
        model: "gpt-4o-mini".into(),
        system_prompt: "Be brief.".into(),
        messages: vec![
            msg(Role::User, "hi"),
            msg(Role::Assistant, "hello"),
            msg(Role::User, "again"),
        ],
        temperature: Some(0.5),
        max_output_tokens: Some(64),
        reasoning_effort: Some(convo_core::ReasoningEffort::Medium),
    }
}

fn expected_body(stream: bool) -> Value {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"}
        ],
        "temperature": 0.5,
        "max_tokens": 64,
        "reasoning_effort": "medium",
        "stream": stream
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn answer(text: &str, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn status(code: u16, kind: &str, error_code: &str) -> ResponseTemplate {
    let body =
        json!({"error": {"message": "nope", "type": kind, "param": null, "code": error_code}});
    ResponseTemplate::new(code).set_body_json(body)
}

fn rate_limited(retry_after: &str) -> ResponseTemplate {
    status(429, "requests", "rate_limit_exceeded").insert_header("retry-after", retry_after)
}

/// An SSE body: each value as one `data:` event, then `tail` verbatim.
fn sse(chunks: &[Value], tail: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(sse_text(chunks, tail), "text/event-stream")
}

fn sse_text(chunks: &[Value], tail: &str) -> String {
    let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    body.push_str(tail);
    body
}

const DONE: &str = "data: [DONE]\n\n";

/// A `chat.completion.chunk` with `text` as its delta.
fn chunk(text: &str, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": finish}],
        "usage": null
    })
}

/// The last chunk `include_usage` asks for: no choices, the usage.
fn usage_chunk(usage: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
        "choices": [], "usage": usage})
}

async fn mount(server: &MockServer, response: impl wiremock::Respond + 'static) {
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

async fn generate(server: &MockServer) -> Result<LlmReply, LlmError> {
    provider(server).generate(request()).await
}

/// Every item of a stream that started.
async fn stream_items(server: &MockServer) -> Vec<Result<LlmChunk, LlmError>> {
    let stream = provider(server)
        .stream(request())
        .await
        .expect("the stream starts");
    stream.collect().await
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn assert_sent_exactly(req: &Request, stream: bool) {
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), COMPLETIONS);
    assert_eq!(req.url.query(), None);
    assert!(
        !req.url.as_str().contains("sk-test-key"),
        "the key is not in the URL: {}",
        req.url
    );
    assert_eq!(header(req, "authorization"), Some("Bearer sk-test-key"));
    assert_eq!(header(req, "content-type"), Some("application/json"));
    assert_eq!(
        req.body_json::<Value>().expect("a JSON body"),
        expected_body(stream)
    );
}

// ---- the request ----

#[tokio::test]
async fn a_reply_request_posts_the_system_prompt_first_then_the_window_settings_and_a_bearer_key() {
    let server = MockServer::start().await;
    mount(&server, ok(answer("fine", "stop"))).await;

    generate(&server).await.expect("reply");

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], false);
}

#[tokio::test]
async fn a_stream_request_sets_stream_and_asks_for_usage_in_the_same_body() {
    let server = MockServer::start().await;
    mount(&server, sse(&[chunk("fine", Some("stop"))], DONE)).await;

    stream_items(&server).await;

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], true);
}

#[tokio::test]
async fn without_a_key_no_authorization_header_is_sent() {
    let server = MockServer::start().await;
    mount(&server, ok(answer("fine", "stop"))).await;
    for key in [None, Some(String::new())] {
        let config = OpenAiConfig {
            api_key: key.clone(),
            ..config(format!("{}/v1", server.uri()))
        };

        OpenAiCompatProvider::new(config)
            .expect("provider builds")
            .generate(request())
            .await
            .expect("reply");

        let requests = received(&server).await;
        let last = requests.last().expect("a request");
        assert_eq!(header(last, "authorization"), None, "key {key:?}");
    }
}

#[tokio::test]
async fn a_trailing_slash_on_the_base_url_and_max_completion_tokens_are_honoured() {
    let server = MockServer::start().await;
    mount(&server, ok(answer("fine", "stop"))).await;
    let config = OpenAiConfig {
        token_limit_field: TokenLimitField::MaxCompletionTokens,
        ..config(format!("{}/v1/", server.uri()))
    };

    OpenAiCompatProvider::new(config)
        .expect("provider builds")
        .generate(request())
        .await
        .expect("reply");

    let requests = received(&server).await;
    assert_eq!(requests[0].url.path(), COMPLETIONS);
    let body: Value = requests[0].body_json().expect("json");
    assert_eq!(body["max_completion_tokens"], json!(64));
    assert!(body.get("max_tokens").is_none(), "{body}");
}

#[tokio::test]
async fn a_base_url_that_is_not_http_is_refused_at_construction() {
    for base in ["", "localhost:11434/v1", "ftp://example.com/v1"] {
        let result = OpenAiCompatProvider::new(OpenAiConfig::new(base));

        assert!(
            matches!(result, Err(LlmError::Provider(_))),
            "{base:?}: {result:?}"
        );
    }
}

// ---- response mapping ----

#[tokio::test]
async fn a_reply_reports_its_text_finish_reason_usage_and_model() {
    let server = MockServer::start().await;
    let mut body = answer("Hello!", "stop");
    body["usage"] = json!({"prompt_tokens": 11, "completion_tokens": 30, "total_tokens": 41,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 26, "audio_tokens": 0}});
    mount(&server, ok(body)).await;

    let reply = generate(&server).await.expect("reply");

    let expected = LlmReply {
        text: "Hello!".into(),
        finish_reason: FinishReason::Stop,
        usage: Some(Usage {
            prompt_tokens: 11,
            completion_tokens: 30,
            total_tokens: 41,
            thoughts_tokens: Some(26),
            cached_tokens: Some(4),
        }),
        model: Some("gpt-4o-mini-2024-07-18".into()),
        provider_state: None,
    };
    assert_eq!(reply, expected);
}

#[tokio::test]
async fn finish_reasons_map_and_an_unknown_one_becomes_other() {
    let server = MockServer::start().await;
    let cases = [
        ("stop", FinishReason::Stop),
        ("length", FinishReason::MaxTokens),
        ("content_filter", FinishReason::Safety),
        ("tool_calls", FinishReason::Other),
        ("something_new_in_2030", FinishReason::Other),
    ];
    for (openai, convo) in cases {
        server.reset().await;
        mount(&server, ok(answer("some text", openai))).await;

        let reply = generate(&server)
            .await
            .unwrap_or_else(|e| panic!("{openai}: {e}"));

        assert_eq!(reply.finish_reason, convo, "{openai}");
        assert_eq!(reply.text, "some text", "{openai}");
    }
}

#[tokio::test]
async fn finish_reasons_map_the_same_in_a_stream() {
    let server = MockServer::start().await;
    let cases = [
        ("stop", FinishReason::Stop),
        ("length", FinishReason::MaxTokens),
        ("content_filter", FinishReason::Safety),
        ("tool_calls", FinishReason::Other),
    ];
    for (openai, convo) in cases {
        server.reset().await;
        mount(
            &server,
            sse(&[chunk("some", None), chunk(" text", Some(openai))], DONE),
        )
        .await;

        let items = stream_items(&server).await;

        assert!(
            matches!(items.last(), Some(Ok(LlmChunk::Finish { finish_reason, .. })) if *finish_reason == convo),
            "{openai}: {items:?}"
        );
    }
}

#[tokio::test]
async fn unknown_fields_anywhere_in_the_response_are_ignored() {
    let server = MockServer::start().await;
    let body = json!({
        "id": "x", "object": "chat.completion", "system_fingerprint": "fp_1", "service_tier": "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok", "annotations": [],
            "reasoning_content": "let me think", "tool_calls": null}, "finish_reason": "stop", "stop_reason": null}],
        "usage": {"prompt_tokens": 1, "total_tokens": 2, "prompt_tokens_details": null},
        "timings": {"predicted_ms": 3.5}, "brand_new_top_level": {"x": [1, 2]}
    });
    mount(&server, ok(body)).await;

    let reply = generate(&server).await.expect("reply");

    assert_eq!(
        (reply.text.as_str(), reply.finish_reason),
        ("ok", FinishReason::Stop)
    );
}

#[tokio::test]
async fn refusals_are_blocked_errors_and_are_not_retried() {
    let refusal = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
        "refusal": "I can't help with that."}, "finish_reason": "stop"}]});
    let filtered = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
        "finish_reason": "content_filter"}]});
    let azure = status(400, "invalid_request_error", "content_filter");
    let cases = [
        ("a refusal message", ok(refusal)),
        ("content_filter with no text", ok(filtered)),
        ("a prompt filtered with a 400", azure),
    ];
    for (case, response) in cases {
        let server = MockServer::start().await;
        mount(&server, response).await;

        let result = generate(&server).await;

        assert!(
            matches!(result, Err(LlmError::Blocked(_))),
            "{case}: {result:?}"
        );
        assert_eq!(received(&server).await.len(), 1, "{case}: not retried");
    }
}

#[tokio::test]
async fn a_200_whose_body_is_not_json_is_a_provider_error() {
    let server = MockServer::start().await;
    let garbage =
        ResponseTemplate::new(200).set_body_raw("{\"choices\": [<<not json", "application/json");
    mount(&server, garbage).await;

    let result = generate(&server).await;

    assert!(matches!(result, Err(LlmError::Provider(_))), "{result:?}");
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_200_with_no_choices_is_a_provider_error() {
    let server = MockServer::start().await;
    mount(
        &server,
        ok(json!({"object": "chat.completion", "choices": []})),
    )
    .await;

    let result = generate(&server).await;

    assert!(matches!(result, Err(LlmError::Provider(_))), "{result:?}");
}

#[tokio::test]
async fn an_error_object_in_a_200_body_is_that_error() {
    let server = MockServer::start().await;
    mount(
        &server,
        ok(json!({"error": {"message": "upstream overloaded", "type": "server_error", "code": null}})),
    )
    .await;

    let result = generate(&server).await;

    assert!(
        matches!(&result, Err(LlmError::Unavailable { message, .. }) if message.contains("upstream overloaded")),
        "{result:?}"
    );
}

// ---- retries and timeouts ----

#[tokio::test]
async fn client_errors_are_provider_errors_and_are_not_retried() {
    let cases = [
        (400, "invalid_request_error", "context_length_exceeded"),
        (401, "invalid_request_error", "invalid_api_key"),
        (
            403,
            "invalid_request_error",
            "unsupported_country_region_territory",
        ),
        (404, "invalid_request_error", "model_not_found"),
        (429, "insufficient_quota", "insufficient_quota"),
    ];
    for (code, kind, error_code) in cases {
        let server = MockServer::start().await;
        mount(&server, status(code, kind, error_code)).await;

        let result = generate(&server).await;

        assert!(
            matches!(result, Err(LlmError::Provider(_))),
            "{code} {error_code}: {result:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            1,
            "{code} {error_code}: exactly one request"
        );
    }
}

#[tokio::test]
async fn retryable_statuses_give_up_as_unavailable_after_three_attempts() {
    let cases = [
        (429, "requests", "rate_limit_exceeded"),
        (500, "server_error", ""),
        (502, "server_error", ""),
        (503, "server_error", "overloaded"),
    ];
    for (code, kind, error_code) in cases {
        let server = MockServer::start().await;
        mount(&server, status(code, kind, error_code)).await;

        let result = generate(&server).await;

        assert!(
            matches!(result, Err(LlmError::Unavailable { .. })),
            "{code}: {result:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            3,
            "{code}: max_attempts requests"
        );
    }
}

#[tokio::test]
async fn the_last_429s_retry_after_is_reported_when_retries_run_out() {
    let server = MockServer::start().await;
    mount(
        &server,
        status(429, "requests", "rate_limit_exceeded").insert_header("retry-after-ms", "50"),
    )
    .await;

    let result = generate(&server).await;

    let expected = Some(Duration::from_millis(50));
    assert!(
        matches!(&result, Err(LlmError::Unavailable { retry_after, .. }) if *retry_after == expected),
        "{result:?}"
    );
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_its_retry_after() {
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let log = Arc::clone(&arrivals);
    mount(&server, move |_: &Request| {
        let mut seen = log.lock().expect("lock");
        seen.push(Instant::now());
        if seen.len() == 1 {
            rate_limited("1")
        } else {
            ok(answer("at last", "stop"))
        }
    })
    .await;

    let reply = generate(&server)
        .await
        .expect("the second attempt succeeds");

    assert_eq!(reply.text, "at last");
    let seen = arrivals.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "one retry");
    let gap = seen[1] - seen[0];
    // base_delay is 10 ms, so only an honoured Retry-After explains a 1 s gap.
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, asked for 1s"
    );
}

#[tokio::test]
async fn a_503_then_a_200_succeeds_on_the_second_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(status(503, "server_error", ""))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount(&server, ok(answer("recovered", "stop"))).await;

    let reply = generate(&server).await.expect("reply");

    assert_eq!(reply.text, "recovered");
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn no_first_byte_within_the_timeout_is_a_timeout_and_is_not_retried() {
    let server = MockServer::start().await;
    mount(
        &server,
        ok(answer("late", "stop")).set_delay(Duration::from_secs(3)),
    )
    .await;

    let started = Instant::now();
    let result = generate(&server).await;

    assert_eq!(result, Err(LlmError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up at the first-byte timeout"
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_after_the_retries() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let provider =
        OpenAiCompatProvider::new(config(format!("http://127.0.0.1:{port}/v1"))).expect("builds");

    let result = provider.generate(request()).await;

    assert!(
        matches!(&result, Err(LlmError::Unavailable { message, .. }) if message.contains("connect")),
        "{result:?}"
    );
}

// ---- streams ----

#[tokio::test]
async fn a_stream_yields_text_deltas_then_a_finish_with_the_usage_of_the_last_chunk() {
    let server = MockServer::start().await;
    let role_only = json!({"object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 13, "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 9}});
    let chunks = [
        role_only,
        chunk("Hel", None),
        chunk("lo, ", None),
        chunk("world", None),
        chunk("", Some("stop")),
        usage_chunk(usage),
    ];
    mount(&server, sse(&chunks, &format!(": keep-alive\n\n{DONE}"))).await;

    let items = stream_items(&server).await;

    let expected_usage = Usage {
        prompt_tokens: 5,
        completion_tokens: 13,
        total_tokens: 18,
        thoughts_tokens: Some(9),
        cached_tokens: Some(0),
    };
    let expected = vec![
        Ok(LlmChunk::Text("Hel".into())),
        Ok(LlmChunk::Text("lo, ".into())),
        Ok(LlmChunk::Text("world".into())),
        Ok(LlmChunk::Finish {
            finish_reason: FinishReason::Stop,
            usage: Some(expected_usage),
            model: Some("gpt-4o-mini-2024-07-18".into()),
            provider_state: None,
        }),
    ];
    assert_eq!(items, expected);
}

#[tokio::test]
async fn a_stream_that_ends_before_done_and_its_finish_reason_is_a_provider_error_item() {
    let server = MockServer::start().await;
    mount(&server, sse(&[chunk("Hel", None), chunk("lo", None)], "")).await;

    let items = stream_items(&server).await;

    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        items[..2],
        [
            Ok(LlmChunk::Text("Hel".into())),
            Ok(LlmChunk::Text("lo".into()))
        ]
    );
    assert!(
        matches!(&items[2], Err(LlmError::Provider(m)) if m.contains("[DONE]")),
        "{items:?}"
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn an_error_object_in_a_200_stream_is_an_unavailable_item_and_is_not_retried() {
    let error = json!({"error": {"message": "The server had an error while processing your request.",
        "type": "server_error", "param": null, "code": null}});
    let cases = [
        ("as a data: event", format!("data: {error}\n\n")),
        ("as an error: line", format!("error: {error}\n\n")),
    ];
    let after = format!("data: {}\n\n{DONE}", chunk("never seen", Some("stop")));
    for (case, tail) in cases {
        let server = MockServer::start().await;
        mount(
            &server,
            sse(&[chunk("Hel", None), chunk("lo", None)], &(tail + &after)),
        )
        .await;

        let items = stream_items(&server).await;

        assert_eq!(items.len(), 3, "{case}: nothing after the error: {items:?}");
        assert_eq!(
            items[..2],
            [
                Ok(LlmChunk::Text("Hel".into())),
                Ok(LlmChunk::Text("lo".into()))
            ],
            "{case}"
        );
        assert!(
            matches!(items[2], Err(LlmError::Unavailable { .. })),
            "{case}: {items:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            1,
            "{case}: no retry after the stream started"
        );
    }
}

#[tokio::test]
async fn a_chunk_that_is_not_json_is_a_provider_error_item() {
    let server = MockServer::start().await;
    mount(
        &server,
        sse(
            &[chunk("Hel", None)],
            &format!("data: {{\"choices\": [<<\n\n{DONE}"),
        ),
    )
    .await;

    let items = stream_items(&server).await;

    assert_eq!(items.len(), 2, "{items:?}");
    assert!(matches!(items[1], Err(LlmError::Provider(_))), "{items:?}");
}

#[tokio::test]
async fn a_stream_whose_first_response_is_503_is_retried_before_it_starts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(status(503, "server_error", ""))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount(
        &server,
        sse(&[chunk("ok", None), chunk("", Some("stop"))], DONE),
    )
    .await;

    let items = stream_items(&server).await;

    assert_eq!(
        items.first(),
        Some(&Ok(LlmChunk::Text("ok".into()))),
        "{items:?}"
    );
    assert!(matches!(
        items.last(),
        Some(Ok(LlmChunk::Finish {
            finish_reason: FinishReason::Stop,
            ..
        }))
    ));
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_stream_that_keeps_failing_before_it_starts_is_an_outer_unavailable_error() {
    let server = MockServer::start().await;
    mount(&server, rate_limited("0")).await;

    let result = provider(&server).stream(request()).await;

    assert!(
        matches!(result, Err(LlmError::Unavailable { .. })),
        "the request never started"
    );
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn a_stream_refused_before_any_text_is_a_blocked_item() {
    let server = MockServer::start().await;
    let filtered =
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}]});
    mount(&server, sse(&[filtered], DONE)).await;

    let items = stream_items(&server).await;

    assert_eq!(items.len(), 1, "{items:?}");
    assert!(matches!(items[0], Err(LlmError::Blocked(_))), "{items:?}");
}

// ---- a raw server for what wiremock cannot stage ----

/// What the raw server does once it has sent its first chunk.
enum Then {
    /// Keeps the connection open and silent.
    Stall,
    /// Closes the connection mid-body (no terminating chunk).
    HangUp,
}

/// A one-shot HTTP server: reads one request, answers 200 with a chunked SSE
/// body holding `first`, then does `then`. Returns the base URL.
fn raw_server(first: String, then: Then) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        read_request(&mut socket);
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let body = format!("{:x}\r\n{first}\r\n", first.len());
        let _ = socket.write_all(head.as_bytes());
        let _ = socket.write_all(body.as_bytes());
        let _ = socket.flush();
        match then {
            Then::Stall => std::thread::sleep(Duration::from_secs(5)),
            Then::HangUp => drop(socket),
        }
    });
    format!("http://{addr}/v1")
}

/// Reads the request head and its `content-length` body.
fn read_request(socket: &mut std::net::TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length = text[..end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if seen.len() >= end + 4 + length {
            return;
        }
    }
}

async fn raw_stream_items(base_url: String) -> Vec<Result<LlmChunk, LlmError>> {
    let provider = OpenAiCompatProvider::new(config(base_url)).expect("builds");
    let stream = provider.stream(request()).await.expect("the stream starts");
    stream.collect().await
}

#[tokio::test]
async fn a_stream_silent_longer_than_the_idle_timeout_is_a_timeout_item() {
    let base = raw_server(sse_text(&[chunk("Hel", None)], ""), Then::Stall);

    let started = Instant::now();
    let items = raw_stream_items(base).await;

    assert_eq!(
        items,
        vec![Ok(LlmChunk::Text("Hel".into())), Err(LlmError::Timeout)]
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up at the idle timeout"
    );
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_an_unavailable_item() {
    let base = raw_server(sse_text(&[chunk("Hel", None)], ""), Then::HangUp);

    let items = raw_stream_items(base).await;

    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], Ok(LlmChunk::Text("Hel".into())));
    assert!(
        matches!(&items[1], Err(LlmError::Unavailable { message, .. }) if message.contains("mid-answer")),
        "{items:?}"
    );
}
