//! Client tools: a round that calls one pauses the turn; the outputs,
//! posted to any engine over the same store, resume it; a new message
//! meanwhile is refused; a cancel answers the calls and frees the session.

use std::sync::Arc;
use std::time::Duration;

use convo_core::llm::{MockReply, ToolChoice};
use convo_core::{
    tool_fn, ChatSession, Convo, ConvoError, FinishReason, MockProvider, NewAgent, Role,
    SendMessage, Settings, ToolCall, ToolDefinition, ToolExecution, ToolOutput, Turn, TurnEvent,
};
use serde_json::json;

use crate::support::*;

fn tool(name: &str, execution: ToolExecution) -> ToolDefinition {
    ToolDefinition {
        name: name.into(),
        description: format!("The {name} tool."),
        parameters: json!({"type": "object"}),
        execution,
    }
}

fn call(id: &str, name: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: json!({"city": "Paris"}),
        provider_state: None,
    }
}

/// A world whose agent has a client tool `get_weather` and a server tool
/// `lookup_order` (registered), with `max_tool_rounds`.
async fn client_world(settings: Settings, max_tool_rounds: Option<u32>) -> (World, ChatSession) {
    let w = registered_world(MockProvider::new(), settings).await;
    w.convo.register_tool(
        "lookup_order",
        tool_fn(|_: serde_json::Value| async move { Ok(json!("shipped")) }),
    );
    let session = w
        .session_with(NewAgent {
            tools: Some(vec![
                tool("get_weather", ToolExecution::Client),
                tool("lookup_order", ToolExecution::Server),
            ]),
            max_tool_rounds,
            ..agent("Use tools.")
        })
        .await;
    (w, session)
}

/// Sends `text` with the model scripted to call `get_weather` as `c1`.
async fn paused(w: &World, session: &ChatSession) -> Turn {
    w.mock
        .push(MockReply::ToolCalls(vec![call("c1", "get_weather")]));
    w.send(session, "Weather in Paris?").await.expect("turn")
}

async fn submit(
    convo: &Convo,
    w: &World,
    session: &ChatSession,
    outputs: Vec<ToolOutput>,
) -> Result<Turn, ConvoError> {
    convo
        .submit_tool_outputs(&w.user, &session.id.to_string(), outputs)
        .await
}

async fn pending_of(w: &World, session: &ChatSession) -> Vec<String> {
    w.convo
        .session(&w.user, &session.id.to_string())
        .await
        .expect("session")
        .pending_tool_calls
        .into_iter()
        .map(|c| c.id)
        .collect()
}

#[tokio::test]
async fn a_client_tool_call_pauses_the_turn_and_the_session_shows_it() {
    let (w, session) = client_world(Settings::default(), None).await;

    let turn = paused(&w, &session).await;

    assert_eq!(turn.pending_tool_calls, [call("c1", "get_weather")]);
    assert_eq!(
        turn.assistant_message.finish_reason,
        Some(FinishReason::ToolCalls)
    );
    assert_eq!(turn.messages, std::slice::from_ref(&turn.assistant_message));
    assert_eq!(pending_of(&w, &session).await, ["c1"]);
    assert_eq!(w.mock.request_count(), 1, "the model waits for the output");
    assert_eq!(w.history(&session).await.len(), 2);
}

#[tokio::test]
async fn a_round_runs_its_server_calls_and_pauses_for_the_client_ones() {
    let (w, session) = client_world(Settings::default(), None).await;
    w.mock.push(MockReply::ToolCalls(vec![
        call("c1", "lookup_order"),
        call("c2", "get_weather"),
    ]));

    let turn = w.send(&session, "go").await.expect("turn");

    let roles: Vec<Role> = turn.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Assistant, Role::Tool]);
    assert_eq!(turn.messages[1].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(turn.messages[1].content, "shipped");
    assert_eq!(turn.assistant_message, turn.messages[0]);
    assert_eq!(turn.pending_tool_calls, [call("c2", "get_weather")]);
    assert_eq!(pending_of(&w, &session).await, ["c2"]);
}

#[tokio::test]
async fn posting_the_outputs_stores_them_and_the_turn_goes_on() {
    let (w, session) = client_world(Settings::default(), None).await;
    paused(&w, &session).await;
    w.mock.push(MockReply::Text("18 °C in Paris.".into()));

    let turn = submit(
        &w.convo,
        &w,
        &session,
        vec![ToolOutput::new("c1", json!({"temp_c": 18}))],
    )
    .await
    .expect("resumed");

    let roles: Vec<Role> = turn.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Tool, Role::Assistant]);
    let output = &turn.messages[0];
    assert_eq!(
        (output.tool_call_id.as_deref(), output.tool_name.as_deref()),
        (Some("c1"), Some("get_weather"))
    );
    assert_eq!(output.content, r#"{"temp_c":18}"#);
    assert!(!output.is_error);
    assert_eq!(turn.assistant_message.content, "18 °C in Paris.");
    assert!(turn.pending_tool_calls.is_empty());
    assert_eq!(turn.user_message.content, "Weather in Paris?");
    assert!(pending_of(&w, &session).await.is_empty());
    let sent = &w.mock.requests()[1].messages;
    let n = sent.len();
    assert_eq!(sent[n - 2].tool_calls.len(), 1, "the call goes back");
    assert_eq!(sent[n - 1].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(w.history(&session).await.len(), 4);
}

#[tokio::test]
async fn outputs_that_miss_repeat_or_invent_a_call_are_invalid_and_store_nothing() {
    let (w, session) = client_world(Settings::default(), None).await;
    w.mock.push(MockReply::ToolCalls(vec![
        call("c1", "get_weather"),
        call("c2", "get_weather"),
    ]));
    w.send(&session, "go").await.expect("paused");
    let out = |id: &str| ToolOutput::new(id, json!("sunny"));
    let cases = [
        (vec![out("c1")], "one of two"),
        (vec![out("c1"), out("c2"), out("c2")], "a repeat"),
        (vec![out("c1"), out("c2"), out("c9")], "an unknown id"),
        (vec![], "none"),
    ];

    for (outputs, case) in cases {
        let result = submit(&w.convo, &w, &session, outputs).await;

        match result {
            Err(ConvoError::Invalid { field, .. }) => assert_eq!(field, "outputs", "{case}"),
            other => panic!("{case}: expected Invalid(outputs), got {other:?}"),
        }
    }
    assert_eq!(w.history(&session).await.len(), 2, "nothing stored");
    assert_eq!(pending_of(&w, &session).await, ["c1", "c2"]);
    assert_eq!(w.mock.request_count(), 1);
}

#[tokio::test]
async fn a_new_message_while_calls_are_pending_is_refused_and_outputs_without_any_too() {
    let (w, session) = client_world(Settings::default(), None).await;
    let none_yet = submit(&w.convo, &w, &session, vec![]).await;
    paused(&w, &session).await;

    let sent = w.send(&session, "never mind").await;
    let streamed = w
        .convo
        .stream_message(&w.user, &session.id.to_string(), SendMessage::new("x"))
        .await;

    assert!(
        matches!(none_yet, Err(ConvoError::NoPendingToolCalls)),
        "{none_yet:?}"
    );
    assert!(
        matches!(sent, Err(ConvoError::ToolOutputsRequired)),
        "{sent:?}"
    );
    assert!(
        matches!(streamed, Err(ConvoError::ToolOutputsRequired)),
        "{streamed:?}"
    );
    assert_eq!(w.history(&session).await.len(), 2, "nothing stored");
    submit(
        &w.convo,
        &w,
        &session,
        vec![ToolOutput::new("c1", json!(1))],
    )
    .await
    .expect("resumed");
    let again = submit(
        &w.convo,
        &w,
        &session,
        vec![ToolOutput::new("c1", json!(1))],
    )
    .await;
    assert!(
        matches!(again, Err(ConvoError::NoPendingToolCalls)),
        "a repeat stores nothing twice: {again:?}"
    );
}

#[tokio::test]
async fn cancel_answers_the_pending_calls_and_frees_the_session() {
    let (w, session) = client_world(Settings::default(), None).await;
    paused(&w, &session).await;

    let cancelled = w
        .convo
        .cancel_turn(&w.user, &session.id.to_string())
        .await
        .expect("cancel");

    assert!(cancelled);
    assert!(pending_of(&w, &session).await.is_empty());
    let history = w.history(&session).await;
    let answer = history.last().expect("a tool message");
    assert_eq!(answer.role, Role::Tool);
    assert_eq!(answer.tool_call_id.as_deref(), Some("c1"));
    assert!(answer.is_error && answer.content.contains("cancelled"));
    let next = w.send(&session, "Something else").await.expect("free");
    assert_eq!(next.assistant_message.content, "echo: Something else");
    let sent = &w.mock.requests()[1].messages;
    let call_at = sent
        .iter()
        .position(|m| !m.tool_calls.is_empty())
        .expect("the call is in the window");
    assert_eq!(
        sent[call_at + 1].tool_call_id.as_deref(),
        Some("c1"),
        "with its result"
    );
}

#[tokio::test]
async fn rounds_before_the_pause_count_against_max_tool_rounds() {
    let (w, session) = client_world(Settings::default(), Some(2)).await;
    paused(&w, &session).await;
    w.mock
        .push(MockReply::ToolCalls(vec![call("c2", "get_weather")]));
    let second = submit(
        &w.convo,
        &w,
        &session,
        vec![ToolOutput::new("c1", json!(1))],
    )
    .await
    .expect("round 2 pauses again");
    w.mock.push(MockReply::Text("done".into()));

    let last = submit(
        &w.convo,
        &w,
        &session,
        vec![ToolOutput::new("c2", json!(2))],
    )
    .await
    .expect("done");

    assert_eq!(second.pending_tool_calls, [call("c2", "get_weather")]);
    assert_eq!(last.assistant_message.content, "done");
    let choices: Vec<ToolChoice> = w
        .mock
        .requests()
        .into_iter()
        .map(|r| r.tool_choice)
        .collect();
    assert_eq!(
        choices,
        [ToolChoice::Auto, ToolChoice::Auto, ToolChoice::None],
        "two rounds, across two pauses, then no tools"
    );
}

#[tokio::test]
async fn a_second_engine_on_the_same_store_resumes_the_turn() {
    let (w, session) = client_world(Settings::default(), None).await;
    paused(&w, &session).await;
    let other = second_engine(&w, Settings::default());
    w.mock.push(MockReply::Text("resumed elsewhere".into()));

    let turn = submit(
        &other,
        &w,
        &session,
        vec![ToolOutput::new("c1", json!("sunny"))],
    )
    .await
    .expect("resumed");

    assert_eq!(turn.assistant_message.content, "resumed elsewhere");
    assert_eq!(turn.messages[0].content, "sunny", "a string as it is");
    assert!(pending_of(&w, &session).await.is_empty());
}

#[tokio::test]
async fn an_idempotent_resend_of_a_paused_turn_returns_it_paused() {
    let (w, session) = client_world(Settings::default(), None).await;
    w.mock.push(MockReply::ToolCalls(vec![
        call("c1", "lookup_order"),
        call("c2", "get_weather"),
    ]));
    let id = session.id.to_string();
    let send = || {
        w.convo.send_message(
            &w.user,
            &id,
            SendMessage::new("go").with_idempotency_key("k"),
        )
    };
    let first = send().await.expect("paused");

    let again = send().await.expect("replayed");

    assert_eq!(again, first);
    assert_eq!(again.pending_tool_calls, [call("c2", "get_weather")]);
    assert_eq!(w.mock.request_count(), 1);
}

fn kinds(events: &[TurnEvent]) -> Vec<&'static str> {
    events
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
        .filter(|k| *k != "delta")
        .collect()
}

#[tokio::test]
async fn a_streamed_turn_pauses_and_a_streamed_resumption_goes_on() {
    let (w, session) = client_world(Settings::default(), None).await;
    w.mock.push(MockReply::ToolCalls(vec![
        call("c1", "lookup_order"),
        call("c2", "get_weather"),
    ]));
    w.mock.push(MockReply::Text("Shipped, and sunny.".into()));
    let id = session.id.to_string();

    let first = w
        .convo
        .stream_message(&w.user, &id, SendMessage::new("go"))
        .await
        .expect("stream");
    let first = collect(first).await;
    let second = w
        .convo
        .stream_tool_outputs(&w.user, &id, vec![ToolOutput::new("c2", json!("sunny"))])
        .await
        .expect("stream");
    let second = collect(second).await;

    assert_eq!(
        kinds(&first),
        [
            "created",
            "message_completed",
            "tool_call_created",
            "tool_call_created",
            "tool_call_completed",
            "completed"
        ]
    );
    let Some(TurnEvent::Completed { message }) = first.last() else {
        panic!("completed last");
    };
    assert_eq!(message.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        kinds(&second),
        ["created", "tool_call_completed", "completed"]
    );
    let Some(TurnEvent::Created { user_message, .. }) = second.first() else {
        panic!("created first");
    };
    assert_eq!(user_message.content, "go", "the turn's user message");
    let Some(TurnEvent::Completed { message }) = second.last() else {
        panic!("completed last");
    };
    assert_eq!(message.content, "Shipped, and sunny.");
}

#[tokio::test]
async fn one_deadline_covers_the_turns_model_calls_and_tool_rounds() {
    // The mock takes 100 ms a call; the tool would answer after 5 s, well
    // within its own timeout, but the turn has 400 ms in all.
    let settings = Settings {
        turn_timeout: Duration::from_millis(400),
        tool_timeout: Duration::from_secs(60),
        ..Settings::default()
    };
    let mock = MockProvider::new().with_latency(Duration::from_millis(100));
    let w = registered_world(mock, settings).await;
    w.convo.register_tool(
        "slow",
        tool_fn(|_: serde_json::Value| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(json!("late"))
        }),
    );
    let session = w
        .session_with(NewAgent {
            tools: Some(vec![tool("slow", ToolExecution::Server)]),
            ..agent("Use tools.")
        })
        .await;
    w.mock.push(MockReply::ToolCalls(vec![call("c1", "slow")]));

    let result = w.send(&session, "go").await;

    assert!(
        matches!(result, Err(ConvoError::Llm(convo_core::LlmError::Timeout))),
        "{result:?}"
    );
    let history = w.history(&session).await;
    let answer = history.last().expect("the call's answer stays stored");
    assert_eq!(answer.role, Role::Tool);
    assert!(
        answer.is_error,
        "cut to the turn's time: {}",
        answer.content
    );
    assert!(
        answer.content.contains("did not answer"),
        "{}",
        answer.content
    );
    w.send(&session, "next")
        .await
        .expect("the lock is released");
}

#[tokio::test]
async fn a_model_slower_than_the_turns_deadline_is_a_timeout() {
    let settings = Settings {
        turn_timeout: Duration::from_millis(100),
        ..Settings::default()
    };
    let mock = MockProvider::new().with_latency(Duration::from_secs(30));
    let w = registered_world(mock, settings).await;
    let session = w.session().await;

    let sent = w.send(&session, "go").await;
    let mut stream = w
        .convo
        .stream_message(&w.user, &session.id.to_string(), SendMessage::new("go"))
        .await
        .expect("stream opens");
    let (_, last) = drain(&mut stream).await;

    assert!(
        matches!(sent, Err(ConvoError::Llm(convo_core::LlmError::Timeout))),
        "{sent:?}"
    );
    assert!(
        matches!(
            last,
            Some(TurnEvent::Failed {
                error: ConvoError::Llm(convo_core::LlmError::Timeout)
            })
        ),
        "{last:?}"
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_turn_paused_by_one_engine_is_resumed_by_another_on_the_same_sqlite_file() {
    use convo_core::SqliteStore;
    let path = std::env::temp_dir().join(format!(
        "convo-client-tools-{}.db",
        uuid::Uuid::now_v7().simple()
    ));
    let mock = Arc::new(MockProvider::new());
    let engine =
        |store: SqliteStore| Convo::new(Arc::new(store), mock.clone(), Settings::default());
    let a = engine(SqliteStore::open(&path).await.expect("open"));
    let b = engine(SqliteStore::open(&path).await.expect("open again"));
    let user = a
        .register("sqlite@example.com", "password123", None)
        .await
        .expect("register")
        .id;
    let project = a
        .create_project(
            &user,
            convo_core::NewProject {
                name: "P".into(),
                description: None,
            },
        )
        .await
        .expect("project");
    let agent = a
        .create_agent(
            &user,
            &project.id.to_string(),
            NewAgent {
                tools: Some(vec![tool("get_weather", ToolExecution::Client)]),
                ..agent("Use tools.")
            },
        )
        .await
        .expect("agent");
    let session = a
        .start_session(&user, &agent.id.to_string(), None)
        .await
        .expect("session")
        .id
        .to_string();
    mock.push(MockReply::ToolCalls(vec![call("c1", "get_weather")]));
    a.send_message(&user, &session, SendMessage::new("Weather?"))
        .await
        .expect("paused on A");

    let refused = b
        .send_message(&user, &session, SendMessage::new("other"))
        .await;
    let turn = b
        .submit_tool_outputs(&user, &session, vec![ToolOutput::new("c1", json!("sunny"))])
        .await
        .expect("resumed on B");

    assert!(matches!(refused, Err(ConvoError::ToolOutputsRequired)));
    assert_eq!(turn.assistant_message.content, "echo: Weather?");
    let shown = a.session(&user, &session).await.expect("session");
    assert!(shown.pending_tool_calls.is_empty());
    assert_eq!(shown.message_count, 4);
    drop((a, b));
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
