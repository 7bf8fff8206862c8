//! Tool calling: declarations and the choice sent in the wire's shape, calls
//! read from replies and streams, calls and results sent back, and
//! arguments that are not a JSON object.

use convo_core::llm::{ChatMessage, LlmChunk, LlmRequest, ToolChoice, ToolSpec};
use convo_core::{FinishReason, ProviderState, Role, ToolCall};
use serde_json::{json, Value};
use wiremock::MockServer;

use super::{generate, mount, ok, provider, received, sse, stream_items, WireFormat};

/// A call as the suite scripts it: id, name, arguments.
pub type Call = (&'static str, &'static str, Value);

/// The two parallel calls the suite's replies make.
pub fn two_calls() -> Vec<Call> {
    vec![
        (
            "call_w1",
            "weather",
            json!({"city": "Paris", "days": [1, 2]}),
        ),
        ("call_t2", "time", json!({"zone": "Europe/Paris"})),
    ]
}

/// The two tools the suite declares.
pub fn two_tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "weather".into(),
            description: "The weather in a city.".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]}),
        },
        ToolSpec {
            name: "time".into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        },
    ]
}

/// The signature of the suite's first call, as its provider state names it.
pub const CALL_SIGNATURE: &str = "c2lnLWNhbGw=";

/// The wire's typical request, with the two tools, after a round of calls:
/// the model wrote some text and called both tools (the first call signed
/// by `signer`), the first tool answered, the second failed.
pub fn tool_history(wire: &dyn WireFormat, signer: &str) -> LlmRequest {
    let base = wire.request();
    let signed = ProviderState {
        provider: "gemini".into(),
        model: signer.into(),
        thought_signature: Some(CALL_SIGNATURE.into()),
    };
    let calls = two_calls()
        .into_iter()
        .enumerate()
        .map(|(i, (id, name, arguments))| ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
            provider_state: (i == 0).then(|| signed.clone()),
        })
        .collect();
    LlmRequest {
        messages: vec![
            ChatMessage::new(Role::User, "weather and time in Paris?"),
            ChatMessage::assistant_tool_calls("Let me check.", calls),
            ChatMessage::tool_result("call_w1", "weather", r#"{"temp":21}"#, false),
            ChatMessage::tool_result("call_t2", "time", "clock broken", true),
        ],
        tools: two_tools(),
        ..base
    }
}

fn with_tools(wire: &dyn WireFormat, choice: ToolChoice) -> LlmRequest {
    LlmRequest {
        tools: two_tools(),
        tool_choice: choice,
        ..wire.request()
    }
}

fn summary(calls: &[ToolCall]) -> Vec<(&str, &str, &Value)> {
    calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), &c.arguments))
        .collect()
}

fn expected(calls: &[Call]) -> Vec<(&str, &str, &Value)> {
    calls
        .iter()
        .map(|(id, name, args)| (*id, *name, args))
        .collect()
}

/// Declared tools and each tool choice reach the model in the wire's own
/// fields; a request without tools has none of them.
pub async fn tool_declarations_and_the_choice_are_sent_in_the_wires_shape(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    let cases = [
        ToolChoice::Auto,
        ToolChoice::None,
        ToolChoice::Required,
        ToolChoice::Function("time".into()),
    ];
    let mut requests: Vec<(String, LlmRequest, Value)> = cases
        .into_iter()
        .map(|choice| {
            let fields = wire.tool_fields(&two_tools(), &choice);
            (format!("{choice:?}"), with_tools(wire, choice), fields)
        })
        .collect();
    requests.push((
        "no tools".into(),
        wire.request(),
        wire.tool_fields(&[], &ToolChoice::Auto),
    ));

    for (case, request, fields) in requests {
        server.reset().await;
        mount(
            wire,
            &server,
            false,
            ok(wire.reply("fine", super::stop(wire))),
        )
        .await;

        provider(wire, &server)
            .generate(request)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));

        let body: Value = received(&server).await[0].body_json().expect("json");
        let Value::Object(fields) = fields else {
            panic!("tool_fields is an object")
        };
        for (name, value) in fields {
            if value.is_null() {
                assert!(body.get(&name).is_none(), "{case}: no {name}: {body}");
            } else {
                assert_eq!(body[&name], value, "{case}: {name}");
            }
        }
    }
}

/// Two parallel calls in a reply are two calls, ids, names and arguments
/// (objects) as the model wrote them, with no text and finish `ToolCalls`.
pub async fn a_reply_with_two_parallel_calls_is_read_whole(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    mount(
        wire,
        &server,
        false,
        ok(wire.reply_with_calls(&two_calls())),
    )
    .await;

    let reply = generate(wire, &server).await.expect("reply");

    assert_eq!(summary(&reply.tool_calls), expected(&two_calls()));
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    assert_eq!(reply.text, "");
}

/// A streamed reply's calls are items, each whole and in order, before the
/// finish (`ToolCalls`), however the wire cut them up.
pub async fn a_streamed_reply_yields_each_call_whole_before_the_finish(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    mount(
        wire,
        &server,
        true,
        sse(wire.stream_with_calls(&two_calls())),
    )
    .await;

    let items = stream_items(wire, &server).await;

    let calls: Vec<ToolCall> = items
        .iter()
        .filter_map(|i| match i {
            Ok(LlmChunk::ToolCall(c)) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(summary(&calls), expected(&two_calls()), "{items:?}");
    assert_eq!(items.len(), 3, "two calls and a finish: {items:?}");
    assert!(
        matches!(
            items[2],
            Ok(LlmChunk::Finish {
                finish_reason: FinishReason::ToolCalls,
                ..
            })
        ),
        "{items:?}"
    );
}

/// A round of calls and their results goes back in the wire's shape; a
/// call's signature goes back only to the model that made it.
pub async fn calls_and_results_are_sent_back_in_the_wires_shape(wire: &dyn WireFormat) {
    let model = wire.request().model;
    let cases = [
        ("signed by the same model", model.as_str(), true),
        ("signed by another model", "gemini-0-other", false),
    ];
    for (case, signer, kept) in cases {
        let server = MockServer::start().await;
        mount(
            wire,
            &server,
            false,
            ok(wire.reply("fine", super::stop(wire))),
        )
        .await;

        provider(wire, &server)
            .generate(tool_history(wire, signer))
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));

        let body: Value = received(&server).await[0].body_json().expect("json");
        let (field, sent) = wire.tool_history_sent(kept);
        assert_eq!(body[field], sent, "{case}");
    }
}

/// Arguments that are not a JSON object are kept as they came (raw text as
/// a JSON string), so the engine can tell the model what was wrong.
pub async fn arguments_that_are_not_an_object_are_kept_as_they_came(wire: &dyn WireFormat) {
    for (case, body, arguments) in wire.unusual_arguments() {
        let server = MockServer::start().await;
        mount(wire, &server, false, ok(body)).await;

        let reply = generate(wire, &server)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));

        assert_eq!(reply.tool_calls.len(), 1, "{case}");
        assert_eq!(reply.tool_calls[0].arguments, arguments, "{case}");
        assert_eq!(reply.finish_reason, FinishReason::ToolCalls, "{case}");
    }
}
