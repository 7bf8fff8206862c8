//! Client tools through the API: a turn paused for them, `POST
//! …/tool_outputs` (and `/stream`) resuming it, the 409s and 422s, the
//! streamed events of a paused and a resumed turn, and cancel.

use convo::core::llm::MockReply;
use convo::core::ToolCall;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, json_with_status, names, parse_sse, spawn_app, Fixture, SseEvent, TestApp,
};

fn call(id: &str, name: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: json!({"city": "Paris"}),
        provider_state: None,
    }
}

/// A signed-up user and a session of an agent with the client tool `get_weather`.
async fn client_fixture(app: &TestApp) -> Fixture {
    app.sign_up().await;
    app.fixture_with(
        &app.client,
        json!({"name": "Weather", "system_prompt": "Use tools.", "tools": [
            {"name": "get_weather", "parameters": {"type": "object"}, "execution": "client"}]}),
    )
    .await
}

fn outputs_path(fx: &Fixture) -> String {
    format!("/api/chat/{}/tool_outputs", fx.session_id())
}

/// Sends a message the model answers by calling `get_weather` as `c1`;
/// returns the 201 body.
async fn pause(app: &TestApp, fx: &Fixture) -> Value {
    app.mock
        .push(MockReply::ToolCalls(vec![call("c1", "get_weather")]));
    json_with_status(
        app.send_message(&app.client, fx.session_id(), "Weather in Paris?")
            .await,
        201,
    )
    .await
}

async fn session(app: &TestApp, fx: &Fixture) -> Value {
    let path = format!("/api/chat/{}", fx.session_id());
    json_with_status(app.get(&app.client, &path).await, 200).await
}

#[tokio::test]
async fn a_client_tool_pauses_the_turn_and_posting_its_output_completes_it() {
    // Arrange
    let app = spawn_app().await;
    let fx = client_fixture(&app).await;
    let wire_call = json!({"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}});

    // Act
    let paused = pause(&app, &fx).await;
    let shown = session(&app, &fx).await;
    app.mock.push(MockReply::Text("18 °C in Paris.".into()));
    let resumed = app
        .post(
            &app.client,
            &outputs_path(&fx),
            &json!({"outputs": [{"tool_call_id": "c1", "output": {"temp_c": 18}}]}),
        )
        .await;
    let resumed = json_with_status(resumed, 201).await;

    // Assert
    assert_eq!(paused["pending_tool_calls"], json!([wire_call]));
    assert_eq!(paused["assistant_message"]["finish_reason"], "tool_calls");
    assert_eq!(paused["messages"], json!([paused["assistant_message"]]));
    assert_eq!(shown["pending_tool_calls"], json!([wire_call]));
    assert!(resumed.get("user_message").is_none(), "{resumed}");
    assert_eq!(resumed["pending_tool_calls"], json!([]));
    assert_eq!(resumed["assistant_message"]["content"], "18 °C in Paris.");
    let stored = resumed["messages"].as_array().expect("messages");
    assert_eq!(stored.len(), 2, "{resumed}");
    assert_eq!(
        (
            &stored[0]["role"],
            &stored[0]["tool_call_id"],
            &stored[0]["name"],
            &stored[0]["content"],
            &stored[0]["is_error"]
        ),
        (
            &json!("tool"),
            &json!("c1"),
            &json!("get_weather"),
            &json!("{\"temp_c\":18}"),
            &json!(false)
        )
    );
    assert_eq!(stored[1], resumed["assistant_message"]);
    assert_eq!(session(&app, &fx).await["pending_tool_calls"], json!([]));
    let history = app.history(&app.client, fx.session_id()).await;
    assert_eq!(history.len(), 4);
    assert_eq!(history[2..], stored[..], "the answer is what was stored");
}

#[tokio::test]
async fn a_new_message_while_calls_are_pending_is_409_tool_outputs_required() {
    // Arrange
    let app = spawn_app().await;
    let fx = client_fixture(&app).await;
    let early = app
        .post(
            &app.client,
            &outputs_path(&fx),
            &json!({"outputs": [{"tool_call_id": "c1", "output": "x"}]}),
        )
        .await;
    pause(&app, &fx).await;

    // Act
    let sent = app
        .send_message(&app.client, fx.session_id(), "never mind")
        .await;
    let streamed = app
        .stream_message(&app.client, fx.session_id(), "never mind")
        .await;

    // Assert
    let error = assert_error(early, 409, "no_pending_tool_calls").await;
    assert_eq!(error["retryable"], false);
    assert_error(sent, 409, "tool_outputs_required").await;
    assert_error(streamed, 409, "tool_outputs_required").await;
    assert_eq!(app.history(&app.client, fx.session_id()).await.len(), 2);
    assert_eq!(app.mock.request_count(), 1);
}

#[tokio::test]
async fn outputs_that_do_not_answer_each_pending_call_once_are_422_naming_outputs() {
    // Arrange
    let app = spawn_app().await;
    let fx = client_fixture(&app).await;
    app.mock.push(MockReply::ToolCalls(vec![
        call("c1", "get_weather"),
        call("c2", "get_weather"),
    ]));
    json_with_status(
        app.send_message(&app.client, fx.session_id(), "two cities")
            .await,
        201,
    )
    .await;
    let out = |id: &str| json!({"tool_call_id": id, "output": "sunny"});
    let cases = [
        (json!([out("c1")]), "one of two missing"),
        (
            json!([out("c1"), out("c2"), out("c1")]),
            "one answered twice",
        ),
        (json!([out("c1"), out("c2"), out("nope")]), "an unknown id"),
        (json!([]), "none"),
    ];

    for (outputs, case) in cases {
        // Act
        let resp = app
            .post(
                &app.client,
                &outputs_path(&fx),
                &json!({"outputs": outputs}),
            )
            .await;

        // Assert
        let error = assert_error(resp, 422, "validation_failed").await;
        assert_eq!(error["param"], "outputs", "{case}: {error}");
    }
    assert_eq!(
        session(&app, &fx).await["pending_tool_calls"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "still pending"
    );
    assert_eq!(app.history(&app.client, fx.session_id()).await.len(), 2);
}

fn event<'a>(events: &'a [SseEvent], name: &str) -> &'a SseEvent {
    events
        .iter()
        .find(|e| e.name() == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(events)))
}

#[tokio::test]
async fn a_streamed_turn_ends_with_requires_action_and_the_streamed_outputs_continue_it() {
    // Arrange: the model calls the client tool and a tool the agent does not have
    // (answered at once, as an error).
    let app = spawn_app().await;
    let fx = client_fixture(&app).await;
    app.mock.push(MockReply::ToolCalls(vec![
        call("c1", "get_weather"),
        call("c2", "no_such_tool"),
    ]));
    app.mock.push(MockReply::Text("Sunny.".into()));

    // Act
    let paused = app
        .stream_message(&app.client, fx.session_id(), "Weather?")
        .await;
    assert_eq!(paused.status(), 200);
    let paused = parse_sse(&paused.text().await.expect("body"));
    let resumed = app
        .post(
            &app.client,
            &format!("{}/stream", outputs_path(&fx)),
            &json!({"outputs": [{"tool_call_id": "c1", "output": "sunny", "is_error": false}]}),
        )
        .await;
    assert_eq!(resumed.status(), 200);
    let resumed = parse_sse(&resumed.text().await.expect("body"));

    // Assert
    assert_eq!(
        names(&paused),
        [
            "message.created",
            "message.completed",
            "tool_call.created",
            "tool_call.created",
            "tool_call.completed",
            "turn.requires_action"
        ]
    );
    for (i, e) in paused.iter().chain(&resumed).enumerate() {
        assert_eq!(e.data["type"].as_str(), e.event.as_deref(), "event {i}");
    }
    assert_eq!(
        event(&paused, "message.completed").data["message"]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(
        event(&paused, "tool_call.created").data["tool_call"]["id"],
        "c1"
    );
    let failed = &event(&paused, "tool_call.completed").data["message"];
    assert_eq!(
        (&failed["tool_call_id"], &failed["is_error"]),
        (&json!("c2"), &json!(true))
    );
    assert_eq!(
        event(&paused, "turn.requires_action").data["tool_calls"],
        json!([{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]),
        "only the client call waits"
    );
    let resumed_names = names(&resumed);
    assert_eq!(
        resumed_names[..2],
        ["message.created", "tool_call.completed"]
    );
    assert_eq!(resumed_names.last(), Some(&"message.completed"));
    assert!(
        resumed_names[2..resumed_names.len() - 1]
            .iter()
            .all(|n| *n == "message.delta"),
        "{resumed_names:?}"
    );
    assert_eq!(
        event(&resumed, "message.created").data["user_message"]["content"],
        "Weather?",
        "the turn's user message"
    );
    let created = event(&resumed, "message.created");
    let reply = &resumed.last().expect("last").data["message"];
    assert_eq!(reply["content"], "Sunny.");
    assert_eq!(reply["id"], created.data["assistant_message_id"]);
    assert_eq!(
        event(&resumed, "tool_call.completed").data["message"]["content"],
        "sunny"
    );
    assert_eq!(session(&app, &fx).await["pending_tool_calls"], json!([]));
}

#[tokio::test]
async fn cancel_drops_the_pending_calls_and_the_conversation_goes_on() {
    // Arrange
    let app = spawn_app().await;
    let fx = client_fixture(&app).await;
    pause(&app, &fx).await;

    // Act
    let cancel = app
        .post(
            &app.client,
            &format!("/api/chat/{}/cancel", fx.session_id()),
            &json!({}),
        )
        .await;
    let next = app
        .send_message(&app.client, fx.session_id(), "Something else")
        .await;

    // Assert
    assert_eq!(cancel.status(), 204);
    let next = json_with_status(next, 201).await;
    assert_eq!(next["assistant_message"]["content"], "echo: Something else");
    let history = app.history(&app.client, fx.session_id()).await;
    let roles: Vec<&Value> = history.iter().map(|m| &m["role"]).collect();
    assert_eq!(
        roles,
        [
            &json!("user"),
            &json!("assistant"),
            &json!("tool"),
            &json!("user"),
            &json!("assistant")
        ]
    );
    assert_eq!(history[2]["is_error"], true);
    assert_eq!(history[2]["tool_call_id"], "c1");
    assert_eq!(session(&app, &fx).await["pending_tool_calls"], json!([]));
    let again = app
        .post(
            &app.client,
            &outputs_path(&fx),
            &json!({"outputs": [{"tool_call_id": "c1", "output": "late"}]}),
        )
        .await;
    assert_error(again, 409, "no_pending_tool_calls").await;
}
