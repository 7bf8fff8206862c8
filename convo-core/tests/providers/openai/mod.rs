//! `OpenAiCompatProvider`: its wire format for the conformance suite, the
//! suite itself, and the tests of what only the Chat Completions wire has
//! (`request`, `response`).

mod request;
mod response;

use std::time::Duration;

use convo_core::llm::openai::{OpenAiCompatProvider, OpenAiConfig};
use convo_core::llm::{ChatMessage, LlmProvider, LlmRequest, ToolChoice, ToolSpec};
use convo_core::{FinishReason, Role};
use serde_json::{json, Value};
use wiremock::{MockServer, ResponseTemplate};

use crate::conformance::{conformance_tests, ok, Call, Patience, Unfinished, WireFormat};

const COMPLETIONS: &str = "/v1/chat/completions";
const DONE: &str = "data: [DONE]\n\n";

/// The OpenAI Chat Completions wire format.
struct OpenAi;

conformance_tests!(OpenAi);

impl WireFormat for OpenAi {
    fn provider(&self, origin: &str, patience: &Patience) -> Box<dyn LlmProvider> {
        Box::new(OpenAiCompatProvider::new(config(origin, patience)).expect("provider builds"))
    }

    fn request(&self) -> LlmRequest {
        request()
    }

    fn route(&self, _stream: bool) -> &'static str {
        COMPLETIONS
    }

    fn reply(&self, text: &str, finish: &str) -> Value {
        answer(text, finish)
    }

    fn finish_reasons(&self) -> Vec<(&'static str, FinishReason)> {
        vec![
            ("stop", FinishReason::Stop),
            ("length", FinishReason::MaxTokens),
            ("content_filter", FinishReason::Safety),
            ("tool_calls", FinishReason::ToolCalls),
            ("something_new_in_2030", FinishReason::Other),
        ]
    }

    fn reply_with_unknown_fields(&self) -> Value {
        json!({
            "id": "x", "object": "chat.completion", "system_fingerprint": "fp_1", "service_tier": "default",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok", "annotations": [],
                "reasoning_content": "let me think", "tool_calls": null}, "finish_reason": "stop", "stop_reason": null}],
            "usage": {"prompt_tokens": 1, "total_tokens": 2, "prompt_tokens_details": null},
            "timings": {"predicted_ms": 3.5}, "brand_new_top_level": {"x": [1, 2]}
        })
    }

    fn refusals(&self) -> Vec<(&'static str, ResponseTemplate)> {
        let refusal = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "refusal": "I can't help with that."}, "finish_reason": "stop"}]});
        let filtered = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
            "finish_reason": "content_filter"}]});
        vec![
            ("a refusal message", ok(refusal)),
            ("content_filter with no text", ok(filtered)),
            (
                "a prompt filtered with a 400",
                status(400, "invalid_request_error", "content_filter"),
            ),
        ]
    }

    fn error(&self, code: u16) -> ResponseTemplate {
        match code {
            400 => status(400, "invalid_request_error", "context_length_exceeded"),
            401 => status(401, "invalid_request_error", "invalid_api_key"),
            403 => status(
                403,
                "invalid_request_error",
                "unsupported_country_region_territory",
            ),
            404 => status(404, "invalid_request_error", "model_not_found"),
            429 => status(429, "requests", "rate_limit_exceeded"),
            503 => status(503, "server_error", "overloaded"),
            _ => status(code, "server_error", ""),
        }
    }

    fn rate_limited(&self, after: Duration) -> ResponseTemplate {
        // Whole seconds in the standard `Retry-After`, finer waits in OpenAI's
        // `retry-after-ms`: the provider must read both.
        let (name, value) = if after.subsec_nanos() == 0 {
            ("retry-after", after.as_secs().to_string())
        } else {
            ("retry-after-ms", after.as_millis().to_string())
        };
        status(429, "requests", "rate_limit_exceeded").insert_header(name, value.as_str())
    }

    fn event(&self, text: &str, finish: Option<&str>) -> String {
        event(&chunk(text, finish))
    }

    fn end(&self) -> &'static str {
        DONE
    }

    fn mid_stream_errors(&self) -> Vec<(&'static str, String)> {
        let error = json!({"error": {"message": "The server had an error while processing your request.",
            "type": "server_error", "param": null, "code": null}});
        vec![
            ("as a data: event", event(&error)),
            ("as an error: line", format!("error: {error}\n\n")),
        ]
    }

    fn refused_stream(&self) -> String {
        let filtered =
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}]});
        event(&filtered) + DONE
    }

    fn unfinished(&self) -> Unfinished {
        Unfinished::ProviderError { marker: "[DONE]" }
    }

    fn tool_fields(&self, tools: &[ToolSpec], choice: &ToolChoice) -> Value {
        if tools.is_empty() {
            return json!({"tools": null, "tool_choice": null});
        }
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if !t.description.is_empty() {
                    f["description"] = json!(t.description);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
        };
        json!({"tools": tools, "tool_choice": choice})
    }

    fn reply_with_calls(&self, calls: &[Call]) -> Value {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| {
                json!({"id": id, "type": "function",
                "function": {"name": name, "arguments": args.to_string()}})
            })
            .collect();
        calls_answer(json!(calls))
    }

    fn stream_with_calls(&self, calls: &[Call]) -> String {
        let mut body = event(&delta(json!({"role": "assistant", "content": null}), None));
        for (i, (id, name, args)) in calls.iter().enumerate() {
            body += &event(&delta(
                json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            // The arguments in three pieces, cut anywhere (even mid-token).
            let text: Vec<char> = args.to_string().chars().collect();
            for piece in text.chunks(text.len().div_ceil(3)) {
                let piece: String = piece.iter().collect();
                body += &event(&delta(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
        body += &event(&delta(json!({}), Some("tool_calls")));
        body + DONE
    }

    fn tool_history_sent(&self, _signature_kept: bool) -> (&'static str, Value) {
        // No signatures on this wire: the same either way.
        let messages = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "weather and time in Paris?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_w1", "type": "function",
                 "function": {"name": "weather", "arguments": r#"{"city":"Paris","days":[1,2]}"#}},
                {"id": "call_t2", "type": "function",
                 "function": {"name": "time", "arguments": r#"{"zone":"Europe/Paris"}"#}}
            ]},
            {"role": "tool", "tool_call_id": "call_w1", "content": r#"{"temp":21}"#},
            {"role": "tool", "tool_call_id": "call_t2", "content": "clock broken"}
        ]);
        ("messages", messages)
    }

    fn unusual_arguments(&self) -> Vec<(&'static str, Value, Value)> {
        let with = |arguments: &str| {
            calls_answer(json!([{"id": "x", "type": "function",
                "function": {"name": "time", "arguments": arguments}}]))
        };
        vec![
            (
                "not JSON",
                with(r#"{"zone": Eur"#),
                json!(r#"{"zone": Eur"#),
            ),
            ("JSON but not an object", with("[1, 2]"), json!("[1, 2]")),
            (
                "empty (some servers, for no arguments)",
                with(""),
                json!({}),
            ),
        ]
    }
}

/// A `chat.completion` whose message makes `tool_calls`.
fn calls_answer(tool_calls: Value) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
            "tool_calls": tool_calls}, "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

/// A `chat.completion.chunk` with `delta`.
fn delta(delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    })
}

/// The configuration for the server at `origin` (`/v1` appended), with the
/// key `sk-test-key`.
fn config(origin: &str, patience: &Patience) -> OpenAiConfig {
    OpenAiConfig {
        connect_timeout: patience.connect,
        first_byte_timeout: patience.first_byte,
        idle_timeout: patience.idle,
        deadline: patience.deadline,
        retry: patience.retry.clone(),
        ..OpenAiConfig::new(format!("{origin}/v1")).with_api_key("sk-test-key")
    }
}

/// The configuration for `server`, with the suite's patience.
fn server_config(server: &MockServer) -> OpenAiConfig {
    config(&server.uri(), &Patience::default())
}

/// A window of three messages, a system prompt and every setting.
fn request() -> LlmRequest {
    LlmRequest {
        model: "gpt-4o-mini".into(),
        system_prompt: "Be brief.".into(),
        messages: vec![
            ChatMessage::new(Role::User, "hi"),
            ChatMessage::new(Role::Assistant, "hello"),
            ChatMessage::new(Role::User, "again"),
        ],
        temperature: Some(0.5),
        max_output_tokens: Some(64),
        reasoning_effort: Some(convo_core::ReasoningEffort::Medium),
        ..LlmRequest::default()
    }
}

/// A `chat.completion` answering `text`.
fn answer(text: &str, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

/// An error response in OpenAI's shape.
fn status(code: u16, kind: &str, error_code: &str) -> ResponseTemplate {
    let body =
        json!({"error": {"message": "nope", "type": kind, "param": null, "code": error_code}});
    ResponseTemplate::new(code).set_body_json(body)
}

/// One SSE event as OpenAI frames it.
fn event(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// A `chat.completion.chunk` with `text` as its delta.
fn chunk(text: &str, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": finish}],
        "usage": null
    })
}
