//! How Chat Completions' own response shapes map: usage details, a 200 with
//! no choices or with an error object, an exhausted quota, the usage chunk
//! that ends a stream.

use convo_core::llm::{LlmChunk, LlmError, LlmReply};
use convo_core::{FinishReason, Usage};
use serde_json::{json, Value};
use wiremock::MockServer;

use super::{answer, chunk, event, status, OpenAi, DONE};
use crate::conformance::{generate, mount, ok, received, sse, stream_items};

/// The last chunk `include_usage` asks for: no choices, the usage.
fn usage_chunk(usage: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
        "choices": [], "usage": usage})
}

#[tokio::test]
async fn a_reply_reports_its_text_finish_reason_usage_and_model() {
    let server = MockServer::start().await;
    let mut body = answer("Hello!", "stop");
    body["usage"] = json!({"prompt_tokens": 11, "completion_tokens": 30, "total_tokens": 41,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 26, "audio_tokens": 0}});
    mount(&OpenAi, &server, false, ok(body)).await;

    let reply = generate(&OpenAi, &server).await.expect("reply");

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
        tool_calls: Vec::new(),
    };
    assert_eq!(reply, expected);
}

#[tokio::test]
async fn a_200_with_no_choices_is_a_provider_error() {
    let server = MockServer::start().await;
    let empty = ok(json!({"object": "chat.completion", "choices": []}));
    mount(&OpenAi, &server, false, empty).await;

    let result = generate(&OpenAi, &server).await;

    assert!(matches!(result, Err(LlmError::Provider(_))), "{result:?}");
}

#[tokio::test]
async fn an_error_object_in_a_200_body_is_that_error() {
    let server = MockServer::start().await;
    let error =
        json!({"error": {"message": "upstream overloaded", "type": "server_error", "code": null}});
    mount(&OpenAi, &server, false, ok(error)).await;

    let result = generate(&OpenAi, &server).await;

    assert!(
        matches!(&result, Err(LlmError::Unavailable { message, .. }) if message.contains("upstream overloaded")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_429_for_an_exhausted_quota_is_a_provider_error_and_is_not_retried() {
    let server = MockServer::start().await;
    let response = status(429, "insufficient_quota", "insufficient_quota");
    mount(&OpenAi, &server, false, response).await;

    let result = generate(&OpenAi, &server).await;

    // Unlike a rate limit, waiting does not refill a quota.
    assert!(matches!(result, Err(LlmError::Provider(_))), "{result:?}");
    assert_eq!(received(&server).await.len(), 1, "exactly one request");
}

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
    let body = chunks.iter().map(event).collect::<String>() + ": keep-alive\n\n" + DONE;
    mount(&OpenAi, &server, true, sse(body)).await;

    let items = stream_items(&OpenAi, &server).await;

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
async fn calls_with_a_stop_finish_as_some_servers_send_finish_tool_calls() {
    let server = MockServer::start().await;
    let mut body = answer("", "stop");
    body["choices"][0]["message"] = json!({"role": "assistant", "content": "",
        "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]});
    mount(&OpenAi, &server, false, ok(body)).await;

    let reply = generate(&OpenAi, &server).await.expect("reply");

    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    assert_eq!(reply.tool_calls[0].arguments, json!({"city": "Paris"}));
}

#[tokio::test]
async fn a_json_answer_and_its_schema_are_asked_for_in_response_format() {
    use convo_core::llm::{LlmProvider, ResponseFormat};
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    let cases = [
        (ResponseFormat::JsonObject, json!({"type": "json_object"})),
        (
            ResponseFormat::JsonSchema {
                name: "count".into(),
                schema: schema.clone(),
                strict: Some(true),
            },
            json!({"type": "json_schema", "json_schema": {"name": "count", "schema": schema, "strict": true}}),
        ),
    ];
    for (format, sent) in cases {
        let server = MockServer::start().await;
        mount(&OpenAi, &server, false, ok(answer("{\"n\":1}", "stop"))).await;
        let mut request = super::request();
        request.response_format = Some(format.clone());

        convo_core::llm::openai::OpenAiCompatProvider::new(super::server_config(&server))
            .expect("provider builds")
            .generate(request)
            .await
            .expect("reply");

        let body: Value = received(&server).await[0].body_json().expect("json");
        assert_eq!(body["response_format"], sent, "{format:?}");
    }
}
