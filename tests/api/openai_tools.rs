//! `/v1/chat/completions` with tools and JSON answers: the request's tools,
//! `tool_choice`, `parallel_tool_calls` and `response_format` reach the
//! model; calls come back in OpenAI's shapes, whole and streamed as
//! `delta.tool_calls` fragments; a round trip (the call sent back with its
//! result) reaches the model as a tool exchange, thought signature
//! included; what cannot be honoured is refused by name.

use convo::core::llm::{LlmReply, MockReply, ResponseFormat, ToolChoice};
use convo::core::{FinishReason, ProviderState, Role, ToolCall};
use serde_json::{json, Value};

use crate::helpers::{json_with_status, plain_client, spawn_app, Fixture, TestApp, TestUser};

/// `POST /v1/chat/completions` with a bearer token and optional session header.
async fn completion(
    app: &TestApp,
    user: &TestUser,
    body: &Value,
    session: Option<&str>,
) -> reqwest::Response {
    let mut req = plain_client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&user.token)
        .json(body);
    if let Some(session) = session {
        req = req.header("x-convo-session", session);
    }
    req.send().await.expect("request sent")
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

fn call(id: &str, city: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: json!({ "city": city }),
        provider_state: None,
    }
}

/// A user, and an agent that has a (client) tool of its own, which `/v1`
/// must not offer.
async fn agent_with_a_tool_of_its_own(app: &TestApp) -> (TestUser, Fixture) {
    let user = app.sign_up().await;
    let fx = app
        .fixture_with(
            &app.client,
            json!({"name": "Tooled", "system_prompt": "Be brief.", "tools": [{"name": "own_tool",
                "parameters": {"type": "object"}, "execution": "client"}]}),
        )
        .await;
    (user, fx)
}

/// The `data:` payloads of an SSE body, parsed (`[DONE]` left out).
fn chunks(body: &str) -> (Vec<Value>, bool) {
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .collect();
    let done = data.last() == Some(&"[DONE]");
    let chunks = data
        .iter()
        .filter(|d| **d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("JSON chunk"))
        .collect();
    (chunks, done)
}

#[tokio::test]
async fn the_requests_tools_reach_the_model_and_its_calls_come_back_in_openais_shape() {
    // Arrange
    let app = spawn_app().await;
    let (user, fx) = agent_with_a_tool_of_its_own(&app).await;
    app.mock
        .push(MockReply::ToolCalls(vec![call("call_a", "Paris")]));
    let body = json!({
        "model": fx.agent_id(),
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [weather_tool()],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
    });

    // Act
    let reply = json_with_status(completion(&app, &user, &body, None).await, 200).await;

    // Assert
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{reply}");
    assert_eq!(choice["message"]["content"], Value::Null, "{reply}");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "call_a", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    let sent = app.mock.requests().pop().expect("the model was called");
    let names: Vec<&str> = sent.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["get_weather"],
        "the request's tools, not the agent's"
    );
    assert_eq!(sent.tools[0].description, "The weather in a city.");
    assert_eq!(sent.tool_choice, ToolChoice::Function("get_weather".into()));
    assert_eq!(sent.parallel_tool_calls, Some(false));
    assert!(
        app.history(&app.client, fx.session_id()).await.is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_call_sent_back_with_its_result_reaches_the_model_as_a_tool_exchange_signature_included()
{
    // Arrange: the model calls with a thought signature (as Gemini 3 does).
    let app = spawn_app().await;
    let (user, fx) = agent_with_a_tool_of_its_own(&app).await;
    let model = fx.agent["model"].as_str().expect("model").to_owned();
    let signed = ToolCall {
        provider_state: Some(ProviderState {
            provider: "gemini".into(),
            model: model.clone(),
            thought_signature: Some("c2lnbmVkIGNhbGw=".into()),
        }),
        ..call("g1", "Paris")
    };
    app.mock.push(MockReply::Reply(LlmReply {
        finish_reason: FinishReason::ToolCalls,
        tool_calls: vec![signed.clone()],
        ..LlmReply::default()
    }));
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    let first = json!({"model": fx.agent_id(), "messages": [question], "tools": [weather_tool()]});

    // Act: the call, then the conversation with the call and its result.
    let first = json_with_status(completion(&app, &user, &first, None).await, 200).await;
    let asked = first["choices"][0]["message"].clone();
    let id = asked["tool_calls"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let second = json!({"model": fx.agent_id(), "tools": [weather_tool()], "messages": [
        question, asked, {"role": "tool", "tool_call_id": id, "content": "{\"sky\":\"clear\"}"}]});
    let second = json_with_status(completion(&app, &user, &second, None).await, 200).await;

    // Assert
    assert_eq!(second["choices"][0]["finish_reason"], "stop", "{second}");
    let sent = app.mock.requests().pop().expect("the model was called");
    let roles: Vec<Role> = sent.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool]);
    assert_eq!(
        sent.messages[1].tool_calls,
        [signed],
        "the call as the model made it, its signature back"
    );
    let result = &sent.messages[2];
    assert_eq!(result.tool_call_id.as_deref(), Some("g1"));
    assert_eq!(result.tool_name.as_deref(), Some("get_weather"));
    assert_eq!(result.content, "{\"sky\":\"clear\"}");
}

#[tokio::test]
async fn streamed_calls_arrive_as_delta_tool_calls_that_assemble_into_the_calls() {
    // Arrange
    let app = spawn_app().await;
    let (user, fx) = agent_with_a_tool_of_its_own(&app).await;
    app.mock.push(MockReply::ToolCalls(vec![
        call("call_p", "Paris"),
        call("call_r", "Rome"),
    ]));
    let body = json!({"model": fx.agent_id(), "stream": true, "tools": [weather_tool()],
        "messages": [{"role": "user", "content": "Paris and Rome?"}]});

    // Act
    let resp = completion(&app, &user, &body, None).await;
    assert_eq!(resp.status(), 200);
    let (chunks, done) = chunks(&resp.text().await.expect("body"));

    // Assert: assembled as OpenAI's SDKs assemble them, by `index`.
    assert!(done, "{chunks:?}");
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for fragment in chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
    {
        let index = fragment["index"].as_u64().expect("index") as usize;
        if calls.len() <= index {
            assert_eq!(fragment["type"], "function", "the first fragment names it");
            calls.push((
                fragment["id"].as_str().expect("id").to_owned(),
                fragment["function"]["name"]
                    .as_str()
                    .expect("name")
                    .to_owned(),
                String::new(),
            ));
        }
        calls[index].2 += fragment["function"]["arguments"].as_str().unwrap_or("");
    }
    assert_eq!(
        calls,
        [
            (
                "call_p".into(),
                "get_weather".into(),
                "{\"city\":\"Paris\"}".into()
            ),
            (
                "call_r".into(),
                "get_weather".into(),
                "{\"city\":\"Rome\"}".into()
            ),
        ]
    );
    let finishes: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finishes, ["tool_calls"]);
}

#[tokio::test]
async fn parallel_tool_calls_false_keeps_one_call_even_when_the_model_makes_two() {
    // Arrange: a model that has no such setting and calls twice anyway.
    let app = spawn_app().await;
    let (user, fx) = agent_with_a_tool_of_its_own(&app).await;
    for _ in 0..2 {
        app.mock.push(MockReply::ToolCalls(vec![
            call("call_p", "Paris"),
            call("call_r", "Rome"),
        ]));
    }
    let body = |stream: bool| {
        json!({"model": fx.agent_id(), "stream": stream, "tools": [weather_tool()], "parallel_tool_calls": false,
            "messages": [{"role": "user", "content": "Paris and Rome?"}]})
    };

    // Act
    let whole = json_with_status(completion(&app, &user, &body(false), None).await, 200).await;
    let streamed = completion(&app, &user, &body(true), None).await;
    let (chunks, _) = chunks(&streamed.text().await.expect("body"));

    // Assert
    let ids: Vec<&str> = whole["choices"][0]["message"]["tool_calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["call_p"]);
    let streamed_ids: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
        .collect();
    assert_eq!(streamed_ids, ["call_p"]);
}

#[tokio::test]
async fn response_formats_reach_the_model_and_text_is_the_default() {
    // Arrange
    let app = spawn_app().await;
    let (user, fx) = agent_with_a_tool_of_its_own(&app).await;
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let cases = [
        (json!({"type": "text"}), None),
        (
            json!({"type": "json_object"}),
            Some(ResponseFormat::JsonObject),
        ),
        (
            json!({"type": "json_schema", "json_schema": {"name": "count", "schema": schema, "strict": true}}),
            Some(ResponseFormat::JsonSchema {
                name: "count".into(),
                schema: schema.clone(),
                strict: Some(true),
            }),
        ),
    ];

    for (format, expected) in cases {
        // Act
        let body = json!({"model": fx.agent_id(), "response_format": format,
            "messages": [{"role": "user", "content": "Count."}]});
        let resp = completion(&app, &user, &body, None).await;

        // Assert
        json_with_status(resp, 200).await;
        let sent = app.mock.requests().pop().expect("the model was called");
        assert_eq!(sent.response_format, expected, "{format}");
        assert!(sent.tools.is_empty(), "no tools asked for, none offered");
    }
}

#[tokio::test]
async fn what_cannot_be_honoured_is_refused_by_name_before_the_model_is_called() {
    // Arrange
    let app = spawn_app().await;
    let (user, fx) = agent_with_a_tool_of_its_own(&app).await;
    let user_msg = json!({"role": "user", "content": "hi"});
    let with = |extra: Value| {
        let mut body = json!({"model": fx.agent_id(), "messages": [user_msg]});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let bad_name = json!({"type": "function", "function": {"name": "9lives", "parameters": {"type": "object"}}});
    // (body, session header, code, param)
    let cases: Vec<(Value, Option<&str>, &str, &str)> = vec![
        (
            with(json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]})),
            None,
            "unsupported_parameter",
            "tools[0].type",
        ),
        (
            with(
                json!({"tools": [{"type": "function", "function": {"name": "f", "strict": true}}]}),
            ),
            None,
            "unsupported_parameter",
            "tools[0].function.strict",
        ),
        (
            with(
                json!({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}}),
            ),
            None,
            "unsupported_parameter",
            "tool_choice",
        ),
        (
            with(json!({"response_format": {"type": "grammar", "grammar": "x"}})),
            None,
            "unsupported_parameter",
            "response_format",
        ),
        (
            with(json!({"tools": [weather_tool()]})),
            Some(fx.session_id()),
            "unsupported_parameter",
            "tools",
        ),
        (
            with(json!({"response_format": {"type": "json_object"}})),
            Some(fx.session_id()),
            "unsupported_parameter",
            "response_format",
        ),
        (
            with(json!({"tools": [bad_name]})),
            None,
            "validation_failed",
            "tools[0].function.name",
        ),
        (
            with(
                json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "other"}}}),
            ),
            None,
            "validation_failed",
            "tool_choice",
        ),
        (
            with(json!({"tool_choice": "required"})),
            None,
            "validation_failed",
            "tool_choice",
        ),
        (
            json!({"model": fx.agent_id(), "messages": [user_msg, {"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
            None,
            "validation_failed",
            "messages",
        ),
    ];

    for (body, session, code, param) in cases {
        // Act
        let resp = completion(&app, &user, &body, session).await;

        // Assert
        let error = json_with_status(resp, 400).await["error"].clone();
        assert_eq!(error["type"], "invalid_request_error", "{body} -> {error}");
        assert_eq!(error["code"], code, "{body} -> {error}");
        assert_eq!(error["param"], param, "{body} -> {error}");
    }
    assert_eq!(app.mock.request_count(), 0, "the model was never called");
}
