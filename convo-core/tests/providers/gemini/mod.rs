//! `GeminiProvider`: its wire format for the conformance suite, the suite
//! itself, and the tests of what only Gemini's wire has (`request`,
//! `response`).

mod request;
mod response;

use std::time::Duration;

use convo_core::llm::gemini::{GeminiConfig, GeminiProvider};
use convo_core::llm::{ChatMessage, LlmProvider, LlmRequest, ToolChoice, ToolSpec};
use convo_core::{FinishReason, ProviderState, ReasoningEffort, Role};
use serde_json::{json, Value};
use wiremock::{MockServer, ResponseTemplate};

use crate::conformance::{
    conformance_tests, ok, Call, Patience, Unfinished, WireFormat, CALL_SIGNATURE,
};

const GENERATE: &str = "/v1beta/models/gemini-3.8-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent";

/// Gemini's wire format.
struct Gemini;

conformance_tests!(Gemini);

impl WireFormat for Gemini {
    fn provider(&self, origin: &str, patience: &Patience) -> Box<dyn LlmProvider> {
        Box::new(provider_at(origin, patience))
    }

    fn request(&self) -> LlmRequest {
        request()
    }

    fn route(&self, stream: bool) -> &'static str {
        if stream {
            STREAM
        } else {
            GENERATE
        }
    }

    fn reply(&self, text: &str, finish: &str) -> Value {
        answer(text, finish)
    }

    fn finish_reasons(&self) -> Vec<(&'static str, FinishReason)> {
        vec![
            ("STOP", FinishReason::Stop),
            ("MAX_TOKENS", FinishReason::MaxTokens),
            ("SAFETY", FinishReason::Safety),
            ("RECITATION", FinishReason::Safety),
            ("OTHER", FinishReason::Other),
            ("SOMETHING_NEW_IN_2030", FinishReason::Other),
        ]
    }

    fn reply_with_unknown_fields(&self) -> Value {
        json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "ok", "thoughtSignature": "abc"}],
                "newContentField": 1}, "finishReason": "STOP", "safetyRatings": [], "citationMetadata": {}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 2, "promptTokensDetails": [{"modality": "TEXT"}]},
            "responseId": "r1", "brandNewTopLevel": {"x": [1, 2]}
        })
    }

    fn refusals(&self) -> Vec<(&'static str, ResponseTemplate)> {
        vec![
            (
                "promptFeedback.blockReason",
                ok(
                    json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                    "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}),
                ),
            ),
            (
                "no candidates",
                ok(json!({"modelVersion": "gemini-3.8-flash"})),
            ),
            (
                "SAFETY with no text",
                ok(json!({"candidates": [{"finishReason": "SAFETY",
                    "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]}]})),
            ),
        ]
    }

    fn error(&self, status: u16) -> ResponseTemplate {
        let grpc = match status {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            500 => "INTERNAL",
            _ => "UNAVAILABLE",
        };
        let body = json!({"error": {"code": status, "message": "nope", "status": grpc}});
        ResponseTemplate::new(status).set_body_json(body)
    }

    fn rate_limited(&self, after: Duration) -> ResponseTemplate {
        // Gemini asks for a wait in the body, as a protobuf JSON duration ("0.05s").
        quota(&format!("{}s", after.as_secs_f64()))
    }

    fn event(&self, text: &str, finish: Option<&str>) -> String {
        event(&chunk(text, finish, 1))
    }

    fn end(&self) -> &'static str {
        // The stream ends with the body: no marker.
        ""
    }

    fn mid_stream_errors(&self) -> Vec<(&'static str, String)> {
        let error = json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
        let pretty = serde_json::to_string_pretty(&error).expect("json") + "\n";
        vec![
            ("as a data: event", event(&error)),
            ("as raw pretty JSON lines", pretty + "\n"),
        ]
    }

    fn refused_stream(&self) -> String {
        event(
            &json!({"candidates": [{"finishReason": "SAFETY"}], "usageMetadata": {"promptTokenCount": 5}}),
        )
    }

    fn unfinished(&self) -> Unfinished {
        Unfinished::EndsQuietly
    }

    fn tool_fields(&self, tools: &[ToolSpec], choice: &ToolChoice) -> Value {
        if tools.is_empty() {
            return json!({"tools": null, "toolConfig": null});
        }
        let declarations: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name, "parametersJsonSchema": t.parameters});
                if !t.description.is_empty() {
                    d["description"] = json!(t.description);
                }
                d
            })
            .collect();
        let config = match choice {
            ToolChoice::Auto => Value::Null,
            ToolChoice::None => json!({"functionCallingConfig": {"mode": "NONE"}}),
            ToolChoice::Required => json!({"functionCallingConfig": {"mode": "ANY"}}),
            ToolChoice::Function(name) => {
                json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}})
            }
        };
        json!({"tools": [{"functionDeclarations": declarations}], "toolConfig": config})
    }

    fn reply_with_calls(&self, calls: &[Call]) -> Value {
        let parts: Vec<Value> = calls.iter().map(call_part).collect();
        calls_answer(parts)
    }

    fn stream_with_calls(&self, calls: &[Call]) -> String {
        // Gemini sends each call whole in a part; here one chunk per call.
        calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let mut c = calls_answer(vec![call_part(call)]);
                if i + 1 < calls.len() {
                    c["candidates"][0]
                        .as_object_mut()
                        .expect("candidate")
                        .remove("finishReason");
                }
                event(&c)
            })
            .collect()
    }

    fn tool_history_sent(&self, signature_kept: bool) -> (&'static str, Value) {
        let mut first = json!({"functionCall": {"id": "call_w1", "name": "weather",
            "args": {"city": "Paris", "days": [1, 2]}}});
        if signature_kept {
            first["thoughtSignature"] = json!(CALL_SIGNATURE);
        }
        let contents = json!([
            {"role": "user", "parts": [{"text": "weather and time in Paris?"}]},
            {"role": "model", "parts": [
                {"text": "Let me check."},
                first,
                {"functionCall": {"id": "call_t2", "name": "time", "args": {"zone": "Europe/Paris"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "call_w1", "name": "weather", "response": {"temp": 21}}},
                {"functionResponse": {"id": "call_t2", "name": "time", "response": {"error": "clock broken"}}}
            ]}
        ]);
        ("contents", contents)
    }

    fn unusual_arguments(&self) -> Vec<(&'static str, Value, Value)> {
        // `args` is a Struct on Gemini's wire, so never unparsed text; what
        // can differ is its absence or a value that is not an object.
        vec![
            (
                "no args",
                calls_answer(vec![json!({"functionCall": {"id": "x", "name": "time"}})]),
                json!({}),
            ),
            (
                "args that are not an object",
                calls_answer(vec![
                    json!({"functionCall": {"id": "x", "name": "time", "args": "noon"}}),
                ]),
                json!("noon"),
            ),
        ]
    }
}

/// A `functionCall` part.
fn call_part((id, name, args): &Call) -> Value {
    json!({"functionCall": {"id": id, "name": name, "args": args}})
}

/// A reply whose parts are `parts`: Gemini says `STOP` after calls.
fn calls_answer(parts: Vec<Value>) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        "modelVersion": "gemini-3.8-flash"
    })
}

/// The provider at `origin` with the API key `test-key`.
fn provider_at(origin: &str, patience: &Patience) -> GeminiProvider {
    GeminiProvider::new(GeminiConfig {
        base_url: origin.to_owned(),
        connect_timeout: patience.connect,
        first_byte_timeout: patience.first_byte,
        idle_timeout: patience.idle,
        deadline: patience.deadline,
        retry: patience.retry.clone(),
        ..GeminiConfig::new("test-key")
    })
    .expect("provider builds")
}

/// The provider pointed at `server`, with the suite's patience.
fn provider(server: &MockServer) -> GeminiProvider {
    provider_at(&server.uri(), &Patience::default())
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
            ChatMessage::new(Role::User, "hi"),
            ChatMessage {
                provider_state: signed("gemini-3.8-flash", "c2lnLWhlbGxv"),
                ..ChatMessage::new(Role::Assistant, "hello")
            },
            ChatMessage::new(Role::User, "again"),
        ],
        temperature: Some(0.5),
        max_output_tokens: Some(64),
        reasoning_effort: Some(ReasoningEffort::Low),
        ..LlmRequest::default()
    }
}

/// A `GenerateContentResponse` answering `text`.
fn answer(text: &str, finish: &str) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        "modelVersion": "gemini-3.8-flash"
    })
}

/// A 429 whose `RetryInfo` asks for `retry_delay`.
fn quota(retry_delay: &str) -> ResponseTemplate {
    let body = json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}]}});
    ResponseTemplate::new(429).set_body_json(body)
}

/// One SSE event as Gemini frames it.
fn event(value: &Value) -> String {
    format!("data: {value}\r\n\r\n")
}

/// A streamed chunk with `text`, its usage counting `completion` tokens.
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
