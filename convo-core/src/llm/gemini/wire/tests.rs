//! The request and reply shapes against Gemini's documented JSON.

use super::*;
use crate::llm::ChatMessage;
use serde_json::json;

fn chunk(value: serde_json::Value) -> Result<Chunk, LlmError> {
    serde_json::from_value::<GenerateResponse>(value)
        .expect("deserialises")
        .into_chunk()
}

#[test]
fn the_request_maps_roles_system_prompt_and_settings() {
    let request = LlmRequest {
        model: "gemini-2.5-flash".into(),
        system_prompt: "Be brief.".into(),
        messages: vec![
            ChatMessage::new(Role::User, "hi"),
            ChatMessage::new(Role::Assistant, String::new()),
            ChatMessage::new(Role::Assistant, "hello"),
            ChatMessage::new(Role::User, "again"),
        ],
        temperature: Some(0.5),
        max_output_tokens: Some(64),
        reasoning_effort: None,
    };
    let body = serde_json::to_value(build_request(&request)).expect("json");
    assert_eq!(
        body,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "hello"}]},
                {"role": "user", "parts": [{"text": "again"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"temperature": 0.5, "maxOutputTokens": 64}
        })
    );
}

#[test]
fn an_empty_system_prompt_and_no_settings_are_left_out() {
    let request = LlmRequest {
        model: "m".into(),
        system_prompt: String::new(),
        messages: vec![ChatMessage::new(Role::User, "hi")],
        temperature: None,
        max_output_tokens: None,
        reasoning_effort: None,
    };
    let body = serde_json::to_value(build_request(&request)).expect("json");
    assert_eq!(
        body,
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[test]
fn text_skips_thoughts_and_joins_parts() {
    let c = chunk(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "**Thinking**", "thought": true}, {"text": "Hel"}, {"text": "lo"}, {"inlineData": {}}
        ]}, "finishReason": "STOP", "safetyRatings": []}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 9, "thoughtsTokenCount": 4},
        "modelVersion": "gemini-2.5-flash", "responseId": "x", "somethingNew": 1
    }))
    .expect("chunk");
    assert_eq!(c.text, "Hello");
    assert_eq!(c.finish, Some((FinishReason::Stop, "STOP".into())));
    let u = c.usage.expect("usage");
    assert_eq!(
        (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.thoughts_tokens
        ),
        (3, 2, 9, Some(4))
    );
    assert_eq!(c.model.as_deref(), Some("gemini-2.5-flash"));
}

#[test]
fn finish_reasons_map_with_a_catch_all() {
    let cases = [
        ("STOP", FinishReason::Stop),
        ("MAX_TOKENS", FinishReason::MaxTokens),
        ("SAFETY", FinishReason::Safety),
        ("RECITATION", FinishReason::Safety),
        ("BLOCKLIST", FinishReason::Safety),
        ("PROHIBITED_CONTENT", FinishReason::Safety),
        ("SPII", FinishReason::Safety),
        ("LANGUAGE", FinishReason::Other),
        ("MALFORMED_FUNCTION_CALL", FinishReason::Other),
        ("SOMETHING_NEW_IN_2027", FinishReason::Other),
    ];
    for (gemini, convo) in cases {
        assert_eq!(finish_reason(gemini), convo, "{gemini}");
    }
}

#[test]
fn a_blocked_prompt_or_no_candidates_is_blocked() {
    let blocked = chunk(
        json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}),
    );
    assert!(matches!(blocked, Err(LlmError::Blocked(m)) if m.contains("SAFETY")));
    assert!(matches!(chunk(json!({})), Err(LlmError::Blocked(_))));
}

#[test]
fn a_candidate_without_content_has_empty_text() {
    let c = chunk(
        json!({"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}]}),
    )
    .expect("chunk");
    assert_eq!(
        (c.text.as_str(), c.finish.map(|f| f.0)),
        ("", Some(FinishReason::MaxTokens))
    );
    assert_eq!(c.usage, None);
}

#[test]
fn missing_usage_counts_default_sensibly() {
    let u = UsageMetadata {
        prompt_token_count: Some(5),
        ..Default::default()
    }
    .to_usage();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (5, 0, 5)
    );
}

#[test]
fn error_statuses_map_to_the_contracts_classes() {
    let retry =
        br#"{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}"#;
    assert_eq!(
        error_for_status(429, retry, "m"),
        LlmError::Unavailable {
            message: "Gemini rate limit or quota (HTTP 429 RESOURCE_EXHAUSTED: Quota exceeded)"
                .into(),
            retry_after: Some(Duration::from_secs(37))
        }
    );
    assert!(matches!(
        error_for_status(429, b"{}", "m"),
        LlmError::Unavailable {
            retry_after: None,
            ..
        }
    ));
    assert!(matches!(
        error_for_status(503, b"not json", "m"),
        LlmError::Unavailable { .. }
    ));
    assert!(matches!(
        error_for_status(500, b"", "m"),
        LlmError::Unavailable { .. }
    ));
    assert_eq!(error_for_status(504, b"", "m"), LlmError::Timeout);
    for status in [400, 401, 403, 404] {
        assert!(
            matches!(error_for_status(status, b"{}", "m"), LlmError::Provider(_)),
            "{status}"
        );
    }
    let bad_key = br#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}}"#;
    assert!(
        matches!(error_for_status(400, bad_key, "m"), LlmError::Provider(m) if m.contains("API key"))
    );
    let model = br#"{"error": {"code": 404, "message": "This model models/gemini-2.5-flash is no longer available to new users.", "status": "NOT_FOUND"}}"#;
    let err = error_for_status(404, model, "gemini-2.5-flash");
    assert!(
        matches!(&err, LlmError::Provider(m)
            if m.contains("`gemini-2.5-flash`") && m.contains("GEMINI_MODEL")
                && m.contains("agent's `model`") && m.contains("no longer available")),
        "{err:?}"
    );
}

#[test]
fn durations_parse_like_protobuf_json() {
    assert_eq!(parse_duration("37s"), Some(Duration::from_secs(37)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
    assert_eq!(parse_duration("soon"), None);
    assert_eq!(parse_duration("-1s"), None);
}
