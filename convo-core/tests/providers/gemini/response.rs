//! How Gemini's own response shapes map: parts and thoughts, usage metadata,
//! thought signatures, a retired model, the stream's last chunk.

use convo_core::llm::{LlmChunk, LlmError};
use convo_core::{FinishReason, Usage};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

use super::{answer, chunk, event, signed, Gemini};
use crate::conformance::{generate, mount, ok, received, sse, stream_items};

#[tokio::test]
async fn text_is_joined_from_several_parts_and_thought_parts_are_skipped() {
    let server = MockServer::start().await;
    let body = json!({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "**Considering**", "thought": true}, {"text": "Hel"}, {"inlineData": {"mimeType": "x"}},
        {"text": "lo", "thought": false}, {"text": "secret plan", "thought": true}, {"text": "!"}
    ]}, "finishReason": "STOP"}]});
    mount(&Gemini, &server, false, ok(body)).await;

    let reply = generate(&Gemini, &server).await.expect("reply");

    assert_eq!(reply.text, "Hello!");
}

#[tokio::test]
async fn usage_metadata_and_the_model_version_are_reported() {
    let server = MockServer::start().await;
    let mut body = answer("ok", "STOP");
    body["usageMetadata"] = json!({"promptTokenCount": 11, "candidatesTokenCount": 3,
        "totalTokenCount": 40, "thoughtsTokenCount": 26, "cachedContentTokenCount": 4});
    body["modelVersion"] = json!("gemini-3.8-flash-001");
    mount(&Gemini, &server, false, ok(body)).await;

    let reply = generate(&Gemini, &server).await.expect("reply");

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
async fn a_signed_answer_is_returned_with_its_provider_state() {
    let server = MockServer::start().await;
    let mut body = answer("Hello", "STOP");
    body["candidates"][0]["content"]["parts"] =
        json!([{"text": "Hel"}, {"text": "lo", "thoughtSignature": "c2lnLWFuc3dlcg=="}]);
    mount(&Gemini, &server, false, ok(body)).await;

    let reply = generate(&Gemini, &server).await.expect("reply");

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
    let response = ResponseTemplate::new(404).set_body_json(retired);
    mount(&Gemini, &server, false, response).await;

    let err = generate(&Gemini, &server).await.expect_err("refused");

    assert!(
        matches!(&err, LlmError::Provider(m)
            if m.contains("`gemini-3.8-flash`") && m.contains("GEMINI_MODEL")),
        "{err:?}"
    );
    assert_eq!(received(&server).await.len(), 1, "a 404 is not retried");
}

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
    let body: String = chunks.iter().map(event).collect();
    mount(&Gemini, &server, true, sse(body)).await;

    let items = stream_items(&Gemini, &server).await;

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
async fn a_signed_call_keeps_its_signature_for_the_model_asked_and_a_call_without_id_gets_one() {
    let server = MockServer::start().await;
    let parts = json!([
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLWNhbGw="},
        {"functionCall": {"name": "time", "args": {}}}
    ]);
    let whole = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]});
    mount(&Gemini, &server, false, ok(whole.clone())).await;
    mount(&Gemini, &server, true, sse(event(&whole))).await;

    let reply = generate(&Gemini, &server).await.expect("reply");
    let streamed: Vec<_> = stream_items(&Gemini, &server)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Ok(LlmChunk::ToolCall(call)) => Some(call),
            _ => None,
        })
        .collect();

    for calls in [reply.tool_calls, streamed] {
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(
            calls[0].provider_state,
            signed("gemini-3.8-flash", "c2lnLWNhbGw=")
        );
        assert_eq!(
            calls[1].provider_state, None,
            "only the first call is signed"
        );
        for call in &calls {
            assert!(
                call.id.starts_with("call_") && call.id.len() == 37,
                "{call:?}"
            );
        }
        assert_ne!(calls[0].id, calls[1].id);
    }
    assert_eq!(reply.provider_state, None, "the signature was the call's");
}

#[tokio::test]
async fn a_safety_stop_after_a_call_is_not_a_refusal() {
    let server = MockServer::start().await;
    let body = json!({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"id": "c1", "name": "weather", "args": {}}}
    ]}, "finishReason": "SAFETY"}]});
    mount(&Gemini, &server, false, ok(body)).await;

    let reply = generate(&Gemini, &server)
        .await
        .expect("a reply, not Blocked");

    assert_eq!(reply.finish_reason, FinishReason::Safety);
    assert_eq!(reply.tool_calls.len(), 1);
}
