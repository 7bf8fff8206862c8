//! The request and reply shapes against Gemini's documented JSON.

use super::*;
use crate::domain::ToolCall;
use crate::llm::{ChatMessage, ResponseFormat, ToolChoice, ToolSpec};
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
        ..LlmRequest::default()
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
        ..LlmRequest::default()
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

fn signed(model: &str, signature: &str) -> Option<ProviderState> {
    Some(ProviderState {
        provider: PROVIDER.into(),
        model: model.into(),
        thought_signature: Some(signature.into()),
    })
}

fn call(id: &str, name: &str, signature: Option<ProviderState>) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: json!({"city": "Paris"}),
        provider_state: signature,
    }
}

fn with_tools(choice: ToolChoice) -> LlmRequest {
    LlmRequest {
        model: "gemini-3.8-flash".into(),
        messages: vec![ChatMessage::new(Role::User, "weather?")],
        tools: vec![
            ToolSpec {
                name: "weather".into(),
                description: "The weather in a city.".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            },
            ToolSpec {
                name: "time".into(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            },
        ],
        tool_choice: choice,
        ..LlmRequest::default()
    }
}

#[test]
fn tools_are_function_declarations_with_a_json_schema_and_the_choice_a_mode() {
    let cases = [
        (ToolChoice::Auto, None),
        (
            ToolChoice::None,
            Some(json!({"functionCallingConfig": {"mode": "NONE"}})),
        ),
        (
            ToolChoice::Required,
            Some(json!({"functionCallingConfig": {"mode": "ANY"}})),
        ),
        (
            ToolChoice::Function("time".into()),
            Some(
                json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["time"]}}),
            ),
        ),
    ];
    for (choice, config) in cases {
        let body = serde_json::to_value(build_request(&with_tools(choice.clone()))).expect("json");
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [
                {"name": "weather", "description": "The weather in a city.",
                 "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "time", "parametersJsonSchema": {"type": "object"}}
            ]}]),
            "{choice:?}"
        );
        assert_eq!(body.get("toolConfig"), config.as_ref(), "{choice:?}");
    }
    let plain = with_tools(ToolChoice::Required);
    let plain = LlmRequest {
        tools: Vec::new(),
        ..plain
    };
    let body = serde_json::to_value(build_request(&plain)).expect("json");
    assert!(
        body.get("tools").is_none() && body.get("toolConfig").is_none(),
        "{body}"
    );
}

#[test]
fn a_round_of_calls_and_results_goes_back_as_a_model_content_and_one_user_content() {
    let mut request = with_tools(ToolChoice::Auto);
    request.messages.extend([
        ChatMessage::assistant_tool_calls(
            "Let me look.",
            vec![
                call("c1", "weather", signed("gemini-3.8-flash", "c2lnLTE=")),
                call("c2", "time", None),
            ],
        ),
        ChatMessage::tool_result("c1", "weather", r#"{"temp": 21}"#, false),
        ChatMessage::tool_result("c2", "time", "noon", false),
        ChatMessage::assistant_tool_calls(
            "",
            vec![call(
                "c3",
                "weather",
                signed("gemini-3.8-flash", "c2lnLTI="),
            )],
        ),
        ChatMessage::tool_result("c3", "weather", "[1, 2]", false),
        ChatMessage::new(Role::Assistant, String::new()),
        ChatMessage::tool_result("c4", "weather", "boom", true),
    ]);

    let body = serde_json::to_value(build_request(&request)).expect("json");

    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [
                {"text": "Let me look."},
                {"functionCall": {"id": "c1", "name": "weather", "args": {"city": "Paris"}},
                 "thoughtSignature": "c2lnLTE="},
                {"functionCall": {"id": "c2", "name": "time", "args": {"city": "Paris"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "c1", "name": "weather", "response": {"temp": 21}}},
                {"functionResponse": {"id": "c2", "name": "time", "response": {"result": "noon"}}}
            ]},
            {"role": "model", "parts": [
                {"functionCall": {"id": "c3", "name": "weather", "args": {"city": "Paris"}},
                 "thoughtSignature": "c2lnLTI="}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "c3", "name": "weather", "response": {"result": [1, 2]}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "c4", "name": "weather", "response": {"error": "boom"}}}
            ]}
        ])
    );
}

#[test]
fn a_calls_signature_goes_back_only_to_the_model_that_made_it() {
    let mut request = with_tools(ToolChoice::Auto);
    request.messages.extend([
        ChatMessage::assistant_tool_calls(
            "",
            vec![call(
                "c1",
                "weather",
                signed("gemini-3.6-flash", "c2lnLTE="),
            )],
        ),
        ChatMessage::tool_result("c1", "weather", "{}", false),
    ]);

    let body = serde_json::to_value(build_request(&request)).expect("json");

    assert_eq!(
        body["contents"][1]["parts"][0],
        json!({"functionCall": {"id": "c1", "name": "weather", "args": {"city": "Paris"}}})
    );
}

#[test]
fn response_formats_ask_for_json_and_its_schema() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
    let cases = [
        (
            ResponseFormat::JsonObject,
            json!({"responseMimeType": "application/json"}),
        ),
        (
            ResponseFormat::JsonSchema {
                name: "answer".into(),
                schema: schema.clone(),
                strict: Some(true),
            },
            json!({"responseMimeType": "application/json", "responseJsonSchema": schema}),
        ),
    ];
    for (format, config) in cases {
        let request = LlmRequest {
            response_format: Some(format.clone()),
            ..with_tools(ToolChoice::Auto)
        };
        let body = serde_json::to_value(build_request(&request)).expect("json");
        assert_eq!(body["generationConfig"], config, "{format:?}");
    }
}

#[test]
fn function_calls_are_read_with_their_own_signatures_apart_from_the_texts() {
    let c = chunk(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Checking.", "thoughtSignature": "dGV4dA=="},
            {"functionCall": {"id": "g1", "name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "Y2FsbA=="},
            {"functionCall": {"name": "time"}}
        ]}, "finishReason": "STOP"}]
    }))
    .expect("chunk");

    assert_eq!(c.text, "Checking.");
    assert_eq!(c.signature.as_deref(), Some("dGV4dA=="));
    assert_eq!(
        c.calls,
        vec![
            (
                FunctionCall {
                    id: Some("g1".into()),
                    name: "weather".into(),
                    args: Some(json!({"city": "Paris"}))
                },
                Some("Y2FsbA==".into())
            ),
            (
                FunctionCall {
                    id: None,
                    name: "time".into(),
                    args: None
                },
                None
            ),
        ]
    );
}
