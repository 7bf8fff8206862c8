#![cfg(feature = "gemini")]
//! `GeminiProvider` against wiremock: the exact request it sends, how each
//! response shape maps, the retry policy (count, honoured `retryDelay`, no
//! retry once a stream has started) and the SSE reader.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_core::llm::gemini::{GeminiConfig, GeminiProvider, RetryPolicy};
use convo_core::llm::{ChatMessage, LlmChunk, LlmError, LlmProvider, LlmRequest};
use convo_core::{FinishReason, ProviderState, ReasoningEffort, Role, Usage};
use futures::StreamExt;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const GENERATE: &str = "/v1beta/models/gemini-3.8-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent";

fn provider(server: &MockServer) -> GeminiProvider {
    GeminiProvider::new(GeminiConfig {
        base_url: server.uri(),
        connect_timeout: Duration::from_secs(1),
        first_byte_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(500),
        deadline: Duration::from_secs(8),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(2),
        },
        ..GeminiConfig::new("test-key")
    })
    .expect("provider builds")
}

fn msg(role: Role, content: &str) -> ChatMessage {
    ChatMessage::new(role, content)
}

/// A thought signature Gemini returned with an earlier answer of `model`.
fn signed(model: &str, signature: &str) -> Option<ProviderState> {
    Some(ProviderState {
        provider: "gemini".into(),
        model: model.into(),
        thought_signature: Some(signature.into()),
    })
}

/// A window of three messages (the model's answer signed), a system prompt
/// and every setting.
fn request() -> LlmRequest {
    LlmRequest {
        model: "gemini-3.8-flash".into(),
        system_prompt: "Be brief.".into(),
        messages: vec![
            msg(Role::User, "hi"),
            ChatMessage {
                provider_state: signed("gemini-3.8-flash", "c2lnLWhlbGxv"),
                ..msg(Role::Assistant, "hello")
            },
            msg(Role::User, "again"),
        ],
        temperature: Some(0.5),
        max_output_tokens: Some(64),
        reasoning_effort: Some(ReasoningEffort::Low),
    }
}

fn expected_body() -> Value {
    json!({
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello", "thoughtSignature": "c2lnLWhlbGxv"}]},
            {"role": "user", "parts": [{"text": "again"}]}
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 64,
                             "thinkingConfig": {"thinkingLevel": "LOW"}}
    })
}

fn answer(text: &str, finish: &str) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        "modelVersion": "gemini-3.8-flash"
    })
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn status(code: u16, grpc: &str) -> ResponseTemplate {
    let body = json!({"error": {"code": code, "message": "nope", "status": grpc}});
    ResponseTemplate::new(code).set_body_json(body)
}

fn quota(retry_delay: &str) -> ResponseTemplate {
    let body = json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}]}});
    ResponseTemplate::new(429).set_body_json(body)
}

/// An SSE body: each value as one `data:` event, then `tail` verbatim.
fn sse(chunks: &[Value], tail: &str) -> ResponseTemplate {
    let mut body: String = chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect();
    body.push_str(tail);
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

fn chunk(text: &str, finish: Option<&str>, completion: u64) -> Value {
    let mut c = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": completion, "totalTokenCount": 5 + completion},
        "modelVersion": "gemini-3.8-flash"
    });
    if let Some(f) = finish {
        c["candidates"][0]["finishReason"] = json!(f);
    }
    c
}

async fn mount(server: &MockServer, route: &str, response: impl wiremock::Respond + 'static) {
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

async fn generate(server: &MockServer) -> Result<convo_core::LlmReply, LlmError> {
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

fn assert_sent_exactly(req: &Request, route: &str, query: Option<&str>) {
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), route);
    assert_eq!(req.url.query(), query);
    assert!(
        !req.url.as_str().contains("test-key"),
        "the key is not in the URL: {}",
        req.url
    );
    let key = req
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok());
    assert_eq!(key, Some("test-key"));
    let content_type = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/json"));
    assert_eq!(
        req.body_json::<Value>().expect("a JSON body"),
        expected_body()
    );
}

// ---- the request ----

#[tokio::test]
async fn a_reply_request_sends_roles_system_instruction_settings_and_the_key_in_a_header() {
    let server = MockServer::start().await;
    mount(&server, GENERATE, ok(answer("fine", "STOP"))).await;

    generate(&server).await.expect("reply");

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], GENERATE, None);
}

#[tokio::test]
async fn a_stream_request_uses_stream_generate_content_with_alt_sse_and_the_same_body() {
    let server = MockServer::start().await;
    mount(&server, STREAM, sse(&[chunk("fine", Some("STOP"), 1)], "")).await;

    stream_items(&server).await;

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], STREAM, Some("alt=sse"));
}

// ---- response mapping ----

#[tokio::test]
async fn text_is_joined_from_several_parts_and_thought_parts_are_skipped() {
    let server = MockServer::start().await;
    let body = json!({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "**Considering**", "thought": true}, {"text": "Hel"}, {"inlineData": {"mimeType": "x"}},
        {"text": "lo", "thought": false}, {"text": "secret plan", "thought": true}, {"text": "!"}
    ]}, "finishReason": "STOP"}]});
    mount(&server, GENERATE, ok(body)).await;

    let reply = generate(&server).await.expect("reply");

    assert_eq!(reply.text, "Hello!");
}

#[tokio::test]
async fn finish_reasons_map_and_an_unknown_one_becomes_other() {
    let server = MockServer::start().await;
    let cases = [
        ("STOP", FinishReason::Stop),
        ("MAX_TOKENS", FinishReason::MaxTokens),
        ("SAFETY", FinishReason::Safety),
        ("RECITATION", FinishReason::Safety),
        ("OTHER", FinishReason::Other),
        ("SOMETHING_NEW_IN_2030", FinishReason::Other),
    ];
    for (gemini, convo) in cases {
        server.reset().await;
        mount(&server, GENERATE, ok(answer("some text", gemini))).await;

        let reply = generate(&server)
            .await
            .unwrap_or_else(|e| panic!("{gemini}: {e}"));

        assert_eq!(reply.finish_reason, convo, "{gemini}");
        assert_eq!(reply.text, "some text", "{gemini}");
    }
}

#[tokio::test]
async fn usage_metadata_and_the_model_version_are_reported() {
    let server = MockServer::start().await;
    let mut body = answer("ok", "STOP");
    body["usageMetadata"] = json!({"promptTokenCount": 11, "candidatesTokenCount": 3,
        "totalTokenCount": 40, "thoughtsTokenCount": 26, "cachedContentTokenCount": 4});
    body["modelVersion"] = json!("gemini-3.8-flash-001");
    mount(&server, GENERATE, ok(body)).await;

    let reply = generate(&server).await.expect("reply");

    let expected = Usage {
        prompt_tokens: 11,
        completion_tokens: 3,
        total_tokens: 40,
        thoughts_tokens: Some(26),
        cached_tokens: Some(4),
    };
    assert_eq!(reply.usage, Some(expected));
    assert_eq!(reply.model.as_deref(), Some("gemini-3.8-flash-001"));
}

#[tokio::test]
async fn unknown_fields_anywhere_in_the_response_are_ignored() {
    let server = MockServer::start().await;
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "ok", "thoughtSignature": "abc"}],
            "newContentField": 1}, "finishReason": "STOP", "safetyRatings": [], "citationMetadata": {}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 2, "promptTokensDetails": [{"modality": "TEXT"}]},
        "responseId": "r1", "brandNewTopLevel": {"x": [1, 2]}
    });
    mount(&server, GENERATE, ok(body)).await;

    let reply = generate(&server).await.expect("reply");

    assert_eq!(
        (reply.text.as_str(), reply.finish_reason),
        ("ok", FinishReason::Stop)
    );
}

#[tokio::test]
async fn refusals_are_blocked_errors() {
    let cases = [
        (
            "promptFeedback.blockReason",
            json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}),
        ),
        ("no candidates", json!({"modelVersion": "gemini-3.8-flash"})),
        (
            "SAFETY with no text",
            json!({"candidates": [{"finishReason": "SAFETY",
            "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]}]}),
        ),
    ];
    for (case, body) in cases {
        let server = MockServer::start().await;
        mount(&server, GENERATE, ok(body)).await;

        let result = generate(&server).await;

        assert!(
            matches!(result, Err(LlmError::Blocked(_))),
            "{case}: {result:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            1,
            "{case}: a refusal is not retried"
        );
    }
}

#[tokio::test]
async fn a_200_whose_body_is_not_json_is_a_provider_error() {
    let server = MockServer::start().await;
    let garbage =
        ResponseTemplate::new(200).set_body_raw("{\"candidates\": [<<not json", "application/json");
    mount(&server, GENERATE, garbage).await;

    let result = generate(&server).await;

    assert!(matches!(result, Err(LlmError::Provider(_))), "{result:?}");
    assert_eq!(received(&server).await.len(), 1);
}

// ---- retries ----

#[tokio::test]
async fn client_errors_are_provider_errors_and_are_not_retried() {
    let cases = [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
    ];
    for (code, grpc) in cases {
        let server = MockServer::start().await;
        mount(&server, GENERATE, status(code, grpc)).await;

        let result = generate(&server).await;

        assert!(
            matches!(result, Err(LlmError::Provider(_))),
            "{code}: {result:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            1,
            "{code}: exactly one request"
        );
    }
}

#[tokio::test]
async fn retryable_statuses_give_up_as_unavailable_after_three_attempts() {
    let cases = [
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
    ];
    for (code, grpc) in cases {
        let server = MockServer::start().await;
        mount(&server, GENERATE, status(code, grpc)).await;

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
async fn the_last_429s_retry_delay_is_reported_when_retries_run_out() {
    let server = MockServer::start().await;
    mount(&server, GENERATE, quota("0.05s")).await;

    let result = generate(&server).await;

    let expected = Some(Duration::from_millis(50));
    assert!(
        matches!(&result, Err(LlmError::Unavailable { retry_after, .. }) if *retry_after == expected),
        "{result:?}"
    );
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_its_retry_delay() {
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let log = Arc::clone(&arrivals);
    mount(&server, GENERATE, move |_: &Request| {
        let mut seen = log.lock().expect("lock");
        seen.push(Instant::now());
        if seen.len() == 1 {
            quota("1s")
        } else {
            ok(answer("at last", "STOP"))
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
    // base_delay is 10 ms, so only an honoured retryDelay explains a 1 s gap.
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, asked for 1s"
    );
}

#[tokio::test]
async fn a_503_then_a_200_succeeds_on_the_second_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GENERATE))
        .respond_with(status(503, "UNAVAILABLE"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount(&server, GENERATE, ok(answer("recovered", "STOP"))).await;

    let reply = generate(&server).await.expect("reply");

    assert_eq!(reply.text, "recovered");
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn no_first_byte_within_the_timeout_is_a_timeout_and_is_not_retried() {
    let server = MockServer::start().await;
    mount(
        &server,
        GENERATE,
        ok(answer("late", "STOP")).set_delay(Duration::from_secs(3)),
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

// ---- streams ----

#[tokio::test]
async fn a_stream_yields_text_deltas_then_a_finish_with_the_last_usage() {
    let server = MockServer::start().await;
    let thought = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": true}]}}]});
    // Gemini 3 ends a stream with an empty text part carrying the signature.
    let mut last = chunk("", Some("STOP"), 4);
    last["candidates"][0]["content"]["parts"][0]["thoughtSignature"] = json!("c2lnLXN0cmVhbQ==");
    last["usageMetadata"]["thoughtsTokenCount"] = json!(9);
    last["usageMetadata"]["totalTokenCount"] = json!(18);
    let chunks = [
        thought,
        chunk("Hel", None, 1),
        chunk("lo, ", None, 2),
        chunk("world", None, 4),
        last,
    ];
    mount(&server, STREAM, sse(&chunks, "")).await;

    let items = stream_items(&server).await;

    let expected_usage = Usage {
        prompt_tokens: 5,
        completion_tokens: 4,
        total_tokens: 18,
        thoughts_tokens: Some(9),
        cached_tokens: None,
    };
    let expected = vec![
        Ok(LlmChunk::Text("Hel".into())),
        Ok(LlmChunk::Text("lo, ".into())),
        Ok(LlmChunk::Text("world".into())),
        Ok(LlmChunk::Finish {
            finish_reason: FinishReason::Stop,
            usage: Some(expected_usage),
            model: Some("gemini-3.8-flash".into()),
            provider_state: signed("gemini-3.8-flash", "c2lnLXN0cmVhbQ=="),
        }),
    ];
    assert_eq!(items, expected);
}

#[tokio::test]
async fn an_error_in_a_started_stream_is_an_unavailable_item_and_is_not_retried() {
    let error = json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
    let pretty = serde_json::to_string_pretty(&error).expect("json") + "\n";
    let cases = [
        ("as a data: event", format!("data: {error}\r\n\r\n")),
        ("as raw pretty JSON lines", pretty + "\n"),
    ];
    let after = format!("data: {}\r\n\r\n", chunk("never seen", Some("STOP"), 3));
    for (case, tail) in cases {
        let server = MockServer::start().await;
        mount(
            &server,
            STREAM,
            sse(
                &[chunk("Hel", None, 1), chunk("lo", None, 2)],
                &(tail + &after),
            ),
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
async fn a_stream_that_ends_without_a_finish_reason_has_no_finish_item() {
    let server = MockServer::start().await;
    mount(
        &server,
        STREAM,
        sse(&[chunk("Hel", None, 1), chunk("lo", None, 2)], ""),
    )
    .await;

    let items = stream_items(&server).await;

    assert_eq!(
        items,
        vec![
            Ok(LlmChunk::Text("Hel".into())),
            Ok(LlmChunk::Text("lo".into()))
        ]
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_stream_whose_first_response_is_503_is_retried_before_it_starts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(status(503, "UNAVAILABLE"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount(
        &server,
        STREAM,
        sse(&[chunk("ok", None, 1), chunk("", Some("STOP"), 1)], ""),
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
    mount(&server, STREAM, status(503, "UNAVAILABLE")).await;

    let result = provider(&server).stream(request()).await;

    assert!(
        matches!(result, Err(LlmError::Unavailable { .. })),
        "the request never started"
    );
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn a_stream_refused_for_safety_before_any_text_is_a_blocked_item() {
    let server = MockServer::start().await;
    let stop = json!({"candidates": [{"finishReason": "SAFETY"}], "usageMetadata": {"promptTokenCount": 5}});
    mount(&server, STREAM, sse(&[stop], "")).await;

    let items = stream_items(&server).await;

    assert_eq!(items.len(), 1, "{items:?}");
    assert!(matches!(items[0], Err(LlmError::Blocked(_))), "{items:?}");
}

#[tokio::test]
async fn a_signature_goes_back_only_to_the_model_that_made_it() {
    let server = MockServer::start().await;
    mount(&server, GENERATE, ok(answer("fine", "STOP"))).await;
    let mut req = request();
    req.messages[1].provider_state = signed("gemini-3.6-flash", "c2lnLW90aGVy");
    req.reasoning_effort = None;
    provider(&server).generate(req).await.expect("reply");
    let body: Value = received(&server).await[0].body_json().expect("json");
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [{"text": "hello"}]}),
        "another model's signature is left out"
    );
    assert!(body["generationConfig"].get("thinkingConfig").is_none());
}

#[tokio::test]
async fn a_signed_answer_is_returned_with_its_provider_state() {
    let server = MockServer::start().await;
    let mut body = answer("Hello", "STOP");
    body["candidates"][0]["content"]["parts"] =
        json!([{"text": "Hel"}, {"text": "lo", "thoughtSignature": "c2lnLWFuc3dlcg=="}]);
    mount(&server, GENERATE, ok(body)).await;
    let reply = generate(&server).await.expect("reply");
    assert_eq!(reply.text, "Hello");
    assert_eq!(
        reply.provider_state,
        signed("gemini-3.8-flash", "c2lnLWFuc3dlcg==")
    );
}

#[tokio::test]
async fn a_retired_model_is_a_provider_error_naming_the_model_and_the_fix() {
    let server = MockServer::start().await;
    let retired = json!({"error": {"code": 404, "status": "NOT_FOUND",
        "message": "This model models/gemini-3.8-flash is no longer available to new users. Please update your code to use a newer model for the latest features and improvements."}});
    mount(
        &server,
        GENERATE,
        ResponseTemplate::new(404).set_body_json(retired),
    )
    .await;
    let err = generate(&server).await.expect_err("refused");
    assert!(
        matches!(&err, LlmError::Provider(m)
            if m.contains("`gemini-3.8-flash`") && m.contains("GEMINI_MODEL")),
        "{err:?}"
    );
    assert_eq!(received(&server).await.len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn check_model_asks_count_tokens_and_reports_an_unknown_model() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-3.8-flash:countTokens"))
        .respond_with(ok(json!({"totalTokens": 1})))
        .mount(&server)
        .await;
    let missing = json!({"error": {"code": 404, "status": "NOT_FOUND",
        "message": "models/gemini-9-flash is not found for API version v1beta, or is not supported for countTokens."}});
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-9-flash:countTokens"))
        .respond_with(ResponseTemplate::new(404).set_body_json(missing))
        .mount(&server)
        .await;
    let p = provider(&server);
    assert_eq!(p.check_model("gemini-3.8-flash").await, Ok(()));
    let err = p.check_model("gemini-9-flash").await.expect_err("unknown");
    assert!(
        matches!(&err, LlmError::Provider(m) if m.contains("`gemini-9-flash`")),
        "{err:?}"
    );
    let sent = received(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0]
            .headers
            .get("x-goog-api-key")
            .and_then(|v| v.to_str().ok()),
        Some("test-key")
    );
}
