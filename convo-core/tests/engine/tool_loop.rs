//! The tool loop: a reply that calls tools runs them, stores the results
//! and calls the model again, until it answers in text.

use std::sync::Arc;
use std::time::Duration;

use convo_core::llm::MockReply;
use convo_core::llm::ToolChoice;
use convo_core::{
    tool_fn, ChatSession, FinishReason, MockProvider, NewAgent, Role, SendMessage, Settings,
    ToolCall, ToolDefinition, ToolError, ToolExecution, TurnEvent, WebhookTarget,
};
use serde_json::json;

use crate::support::*;

fn server_tool(name: &str) -> ToolDefinition {
    ToolDefinition {
        name: name.into(),
        description: format!("The {name} tool."),
        parameters: json!({"type": "object", "properties": {"order_id": {"type": "string"}}}),
        execution: ToolExecution::Server,
    }
}

fn call(id: &str, name: &str, arguments: serde_json::Value) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments,
        provider_state: None,
    }
}

fn tools_agent(tools: Vec<ToolDefinition>, max_tool_rounds: Option<u32>) -> NewAgent {
    NewAgent {
        tools: Some(tools),
        max_tool_rounds,
        ..agent("Use tools.")
    }
}

#[derive(serde::Deserialize)]
struct LookupOrder {
    order_id: String,
}

/// A world whose engine has `lookup_order`, and a session of an agent with it.
async fn order_world(settings: Settings) -> (World, ChatSession) {
    let w = registered_world(MockProvider::new(), settings).await;
    w.convo.register_tool(
        "lookup_order",
        tool_fn(|args: LookupOrder| async move {
            Ok(json!({"order_id": args.order_id, "status": "shipped"}))
        }),
    );
    let session = w
        .session_with(tools_agent(vec![server_tool("lookup_order")], None))
        .await;
    (w, session)
}

#[tokio::test]
async fn a_server_tools_result_is_stored_and_sent_back_to_the_model() {
    let (w, session) = order_world(Settings::default()).await;
    w.mock.push(MockReply::ToolCalls(vec![call(
        "call_1",
        "lookup_order",
        json!({"order_id": "A-17"}),
    )]));
    w.mock.push(MockReply::Text("It has shipped.".into()));

    let turn = w.send(&session, "Where is A-17?").await.expect("turn");

    let roles: Vec<Role> = turn.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Assistant, Role::Tool, Role::Assistant]);
    assert_eq!(
        turn.messages[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    assert_eq!(turn.messages[0].tool_calls[0].id, "call_1");
    let result = &turn.messages[1];
    assert_eq!(result.tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(result.tool_name.as_deref(), Some("lookup_order"));
    assert!(!result.is_error);
    let output: serde_json::Value = serde_json::from_str(&result.content).expect("JSON");
    assert_eq!(output, json!({"order_id": "A-17", "status": "shipped"}));
    assert_eq!(turn.assistant_message.content, "It has shipped.");
    assert_eq!(turn.assistant_message, turn.messages[2]);
    assert_eq!(w.history(&session).await.len(), 4, "all stored");

    let requests = w.mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].tools.len(), 1, "the agent's tool is declared");
    assert_eq!(requests[0].tools[0].name, "lookup_order");
    let sent = &requests[1].messages;
    let n = sent.len();
    assert_eq!(sent[n - 2].tool_calls.len(), 1, "the call goes back");
    assert_eq!(sent[n - 1].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(sent[n - 1].content, result.content);
}

#[tokio::test]
async fn the_calls_of_a_round_run_concurrently() {
    // Each tool waits for the other: run one after the other, both would
    // time out (and report it) instead of answering.
    let settings = Settings {
        tool_timeout: Duration::from_secs(20),
        ..Settings::default()
    };
    let w = registered_world(MockProvider::new(), settings).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    for name in ["left", "right"] {
        let barrier = Arc::clone(&barrier);
        w.convo.register_tool(
            name,
            tool_fn(move |_: serde_json::Value| {
                let barrier = Arc::clone(&barrier);
                async move {
                    barrier.wait().await;
                    Ok(json!("met"))
                }
            }),
        );
    }
    let session = w
        .session_with(tools_agent(
            vec![server_tool("left"), server_tool("right")],
            None,
        ))
        .await;
    w.mock.push(MockReply::ToolCalls(vec![
        call("c1", "left", json!({})),
        call("c2", "right", json!({})),
    ]));

    let turn = w.send(&session, "go").await.expect("turn");

    let results: Vec<(&str, bool)> = turn
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| (m.content.as_str(), m.is_error))
        .collect();
    assert_eq!(results, [("met", false), ("met", false)], "in call order");
}

#[tokio::test]
async fn unknown_tools_bad_arguments_and_failing_tools_are_errors_the_model_sees() {
    let (w, session) = order_world(Settings::default()).await;
    w.convo.register_tool(
        "broken",
        tool_fn(|_: serde_json::Value| async move {
            Err::<serde_json::Value, _>(ToolError::Failed("the database is down".into()))
        }),
    );
    let mut agent_tools = vec![server_tool("lookup_order"), server_tool("broken")];
    agent_tools.push(server_tool("unregistered"));
    let session2 = w.session_with(tools_agent(agent_tools, None)).await;
    drop(session);
    w.mock.push(MockReply::ToolCalls(vec![
        call("c1", "no_such_tool", json!({})),
        call("c2", "lookup_order", json!("not an object")),
        call("c3", "lookup_order", json!({"order_id": 17})),
        call("c4", "broken", json!({})),
        call("c5", "unregistered", json!({})),
    ]));

    let turn = w.send(&session2, "go").await.expect("the turn goes on");

    let results: Vec<&convo_core::Message> = turn
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .collect();
    let expected = [
        ("c1", "no tool named `no_such_tool`"),
        ("c2", "must be a JSON object"),
        ("c3", "invalid arguments"),
        ("c4", "the database is down"),
        ("c5", "not available"),
    ];
    assert_eq!(results.len(), expected.len());
    for (message, (id, says)) in results.iter().zip(expected) {
        assert_eq!(message.tool_call_id.as_deref(), Some(id));
        assert!(message.is_error, "{id} is an error");
        assert!(message.content.contains(says), "{id}: {}", message.content);
    }
    assert_eq!(
        turn.assistant_message.finish_reason,
        Some(FinishReason::Stop)
    );
    let last = w.mock.requests().pop().expect("a second call");
    assert!(last.messages.iter().filter(|m| m.is_error).count() == 5);
}

#[tokio::test]
async fn after_max_tool_rounds_the_model_is_asked_once_more_without_tools() {
    let w = registered_world(MockProvider::new(), Settings::default()).await;
    w.convo.register_tool(
        "lookup_order",
        tool_fn(|_: serde_json::Value| async move { Ok(json!("ok")) }),
    );
    let session = w
        .session_with(tools_agent(vec![server_tool("lookup_order")], Some(2)))
        .await;
    for i in 0..2 {
        w.mock.push(MockReply::ToolCalls(vec![call(
            &format!("c{i}"),
            "lookup_order",
            json!({}),
        )]));
    }
    w.mock.push(MockReply::Text("final".into()));

    let turn = w.send(&session, "go").await.expect("turn");

    let choices: Vec<ToolChoice> = w
        .mock
        .requests()
        .into_iter()
        .map(|r| r.tool_choice)
        .collect();
    assert_eq!(
        choices,
        [ToolChoice::Auto, ToolChoice::Auto, ToolChoice::None]
    );
    assert!(w.mock.requests()[2].tools.len() == 1, "tools stay declared");
    assert_eq!(turn.messages.len(), 5);
    assert_eq!(turn.assistant_message.content, "final");
}

#[tokio::test]
async fn cancelling_during_a_slow_tool_stops_the_turn_and_answers_the_call() {
    let w = registered_world(MockProvider::new(), Settings::default()).await;
    let started = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&started);
    w.convo.register_tool(
        "slow",
        tool_fn(move |_: serde_json::Value| {
            let signal = Arc::clone(&signal);
            async move {
                signal.notify_one();
                std::future::pending::<()>().await;
                Ok(json!("never"))
            }
        }),
    );
    let session = w
        .session_with(tools_agent(vec![server_tool("slow")], None))
        .await;
    w.mock
        .push(MockReply::ToolCalls(vec![call("c1", "slow", json!({}))]));

    let convo = w.convo.clone();
    let (user, id) = (w.user, session.id.to_string());
    let turn =
        tokio::spawn(async move { convo.send_message(&user, &id, SendMessage::new("go")).await });
    started.notified().await;
    let cancelled = w
        .convo
        .cancel_turn(&w.user, &session.id.to_string())
        .await
        .expect("cancel");
    let turn = turn.await.expect("task").expect("turn");

    assert!(cancelled);
    let roles: Vec<Role> = turn.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Assistant, Role::Tool, Role::Assistant]);
    assert!(
        turn.messages[1].is_error,
        "the call is answered, as an error"
    );
    assert_eq!(
        turn.assistant_message.finish_reason,
        Some(FinishReason::Cancelled)
    );
    assert_eq!(w.mock.request_count(), 1, "the model is not called again");
    w.send(&session, "next")
        .await
        .expect("the lock is released");
}

#[tokio::test]
async fn an_idempotent_resend_returns_the_whole_turn() {
    let (w, session) = order_world(Settings::default()).await;
    w.mock.push(MockReply::ToolCalls(vec![call(
        "c1",
        "lookup_order",
        json!({"order_id": "A"}),
    )]));
    let id = session.id.to_string();
    let send = || {
        w.convo.send_message(
            &w.user,
            &id,
            SendMessage::new("go").with_idempotency_key("k1"),
        )
    };

    let first = send().await.expect("first");
    let again = send().await.expect("again");

    assert_eq!(first.messages.len(), 3);
    assert_eq!(again, first);
    assert_eq!(w.mock.request_count(), 2, "the resend calls nothing");
}

#[tokio::test]
async fn every_model_call_of_a_turn_is_in_the_usage_ledger() {
    let (w, session) = order_world(Settings::default()).await;
    w.mock.push(MockReply::ToolCalls(vec![call(
        "c1",
        "lookup_order",
        json!({"order_id": "A"}),
    )]));

    let turn = w.send(&session, "go").await.expect("turn");

    let report = w
        .convo
        .usage(&w.user, convo_core::UsageGroupBy::Agent, None, None)
        .await
        .expect("usage");
    let calls: Vec<_> = [&turn.messages[0], &turn.messages[2]]
        .iter()
        .map(|m| m.usage.expect("usage"))
        .collect();
    assert_eq!(report.totals.turns, 2, "one record per model call");
    assert_eq!(
        report.totals.total_tokens,
        calls.iter().map(|u| u.total_tokens).sum::<u64>()
    );
}

#[tokio::test]
async fn a_streamed_turn_reports_the_round_in_order() {
    let (w, session) = order_world(Settings::default()).await;
    w.mock.push(MockReply::ToolCalls(vec![call(
        "c1",
        "lookup_order",
        json!({"order_id": "A"}),
    )]));
    w.mock.push(MockReply::Text("shipped".into()));

    let stream = w
        .convo
        .stream_message(&w.user, &session.id.to_string(), SendMessage::new("go"))
        .await
        .expect("stream");
    let events = collect(stream).await;

    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            TurnEvent::Created { .. } => "created",
            TurnEvent::Delta { .. } => "delta",
            TurnEvent::MessageCompleted { .. } => "message_completed",
            TurnEvent::ToolCallCreated { .. } => "tool_call_created",
            TurnEvent::ToolCallCompleted { .. } => "tool_call_completed",
            TurnEvent::Completed { .. } => "completed",
            TurnEvent::Failed { .. } => "failed",
        })
        .collect();
    let mut expected = vec![
        "created",
        "message_completed",
        "tool_call_created",
        "tool_call_completed",
    ];
    expected.extend(kinds.iter().filter(|k| **k == "delta").map(|_| "delta"));
    expected.push("completed");
    assert_eq!(kinds, expected);
    let Some(TurnEvent::Completed { message }) = events.last() else {
        panic!("completed last");
    };
    assert_eq!(message.content, "shipped");
}

#[cfg(feature = "webhooks")]
#[tokio::test]
async fn a_webhook_tool_is_called_signed_and_its_answer_sent_to_the_model() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"temp_c": 21})))
        .mount(&receiver)
        .await;
    let settings = Settings {
        tools_allow_private_networks: true,
        ..Settings::default()
    };
    let w = registered_world(MockProvider::new(), settings).await;
    let tool = ToolDefinition {
        execution: ToolExecution::Webhook(WebhookTarget {
            url: format!("{}/weather", receiver.uri()),
            timeout_ms: 10_000,
        }),
        ..server_tool("weather")
    };
    let session = w.session_with(tools_agent(vec![tool], None)).await;
    let agent = w
        .convo
        .agent(&w.user, &session.agent_id.to_string())
        .await
        .expect("agent");
    let secret = agent.webhook_secret.clone().expect("a webhook secret");
    w.mock.push(MockReply::ToolCalls(vec![call(
        "c1",
        "weather",
        json!({"city": "Paris"}),
    )]));

    let turn = w.send(&session, "weather?").await.expect("turn");

    assert!(!turn.messages[1].is_error, "{}", turn.messages[1].content);
    assert_eq!(turn.messages[1].content, r#"{"temp_c":21}"#);
    let deliveries = receiver.received_requests().await.expect("recorded");
    assert_eq!(deliveries.len(), 1);
    let verifier = standardwebhooks::Webhook::new(&secret).expect("the secret parses");
    let delivery = &deliveries[0];
    verifier
        .verify(&delivery.body, &delivery.headers)
        .expect("a valid signature");
    let body: serde_json::Value = serde_json::from_slice(&delivery.body).expect("JSON");
    assert_eq!(body["arguments"], json!({"city": "Paris"}));
    assert_eq!(body["session_id"], json!(session.id.to_string()));
}

#[tokio::test]
async fn a_rust_tool_past_its_timeout_is_an_error_the_model_sees() {
    let settings = Settings {
        tool_timeout: Duration::from_millis(50),
        ..Settings::default()
    };
    let w = registered_world(MockProvider::new(), settings).await;
    w.convo.register_tool(
        "hangs",
        tool_fn(|_: serde_json::Value| async move {
            std::future::pending::<()>().await;
            Ok(json!("never"))
        }),
    );
    let session = w
        .session_with(tools_agent(vec![server_tool("hangs")], None))
        .await;
    w.mock
        .push(MockReply::ToolCalls(vec![call("c1", "hangs", json!({}))]));

    let turn = w.send(&session, "go").await.expect("the turn goes on");

    let result = &turn.messages[1];
    assert!(result.is_error);
    assert!(
        result.content.contains("did not answer within 50 ms"),
        "{}",
        result.content
    );
    assert_eq!(
        turn.assistant_message.finish_reason,
        Some(FinishReason::Stop)
    );
}

#[cfg(feature = "webhooks")]
#[tokio::test]
async fn a_webhook_answering_500_is_an_error_the_model_sees() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    let settings = Settings {
        tools_allow_private_networks: true,
        ..Settings::default()
    };
    let w = registered_world(MockProvider::new(), settings).await;
    let tool = ToolDefinition {
        execution: ToolExecution::Webhook(WebhookTarget {
            url: receiver.uri(),
            timeout_ms: 10_000,
        }),
        ..server_tool("weather")
    };
    let session = w.session_with(tools_agent(vec![tool], None)).await;
    w.mock
        .push(MockReply::ToolCalls(vec![call("c1", "weather", json!({}))]));

    let turn = w
        .send(&session, "weather?")
        .await
        .expect("the turn goes on");

    assert!(turn.messages[1].is_error);
    assert!(
        turn.messages[1].content.contains("500"),
        "{}",
        turn.messages[1].content
    );
    assert_eq!(turn.messages.len(), 3);
}
