//! Tools: an agent's definitions and secret, tool calls and tool results in
//! the history, and the calls a paused turn waits for.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;

use super::fixtures::{agent, assert_not_found, assistant_draft, session, Fixture};
use crate::domain::{
    ChatSession, FinishReason, MessageDraft, Order, PageRequest, ProviderState, SessionId,
    ToolCall, ToolDefinition, ToolExecution, WebhookTarget,
};
use crate::store::Store;

/// JSON a store must keep exactly: JSON Schema's `$`-keys, dotted keys,
/// unicode, a number beyond 64 bits, deep nesting, an empty object.
fn awkward_schema() -> serde_json::Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Zürich, 東京, \"quoted\""},
            "a.b": {"$ref": "#/$defs/unit"},
            "max": {"type": "integer", "maximum": 18_446_744_073_709_551_615_u64},
            "ratio": {"type": "number", "minimum": -0.5}
        },
        "$defs": {"unit": {"enum": ["c", "f"], "default": {}}},
        "required": ["city"]
    })
}

/// Three tools, one of each execution.
pub fn sample_tools() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: "get_weather".to_owned(),
            description: "The weather in a city.".to_owned(),
            parameters: awkward_schema(),
            execution: ToolExecution::Client,
        },
        ToolDefinition {
            name: "lookup-order".to_owned(),
            description: String::new(),
            parameters: json!({"type": "object"}),
            execution: ToolExecution::Webhook(WebhookTarget {
                url: "https://tools.example.com/orders?x=1".to_owned(),
                timeout_ms: 60_000,
            }),
        },
        ToolDefinition {
            name: "Now".to_owned(),
            description: "The time.".to_owned(),
            parameters: json!({"type": "object", "properties": {}}),
            execution: ToolExecution::Server,
        },
    ]
}

/// Two calls: one with awkward arguments and a provider state, one whose
/// arguments are not an object (kept as the model wrote them).
pub fn sample_calls() -> Vec<ToolCall> {
    vec![
        ToolCall {
            id: "call_1".to_owned(),
            name: "get_weather".to_owned(),
            arguments: json!({"city": "Zürich", "$ref": "x", "a.b": [1, 2.5, null, {"big": 18_446_744_073_709_551_615_u64}]}),
            provider_state: Some(ProviderState {
                provider: "gemini".to_owned(),
                model: "mock-1".to_owned(),
                thought_signature: Some("c2ln/bmF0dXJl+=".to_owned()),
            }),
        },
        ToolCall {
            id: "call_2".to_owned(),
            name: "unknown_tool".to_owned(),
            arguments: json!("{not json"),
            provider_state: None,
        },
    ]
}

/// An agent's tools, `max_tool_rounds` and webhook secret read back equal
/// after insert (alone and in a list) and after an update that replaces
/// them; an update to no tools and no secret reads back so too.
pub async fn agents_keep_their_tools_rounds_and_webhook_secret(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let mut a = agent(&f.project);
    a.tools = sample_tools();
    a.max_tool_rounds = 5;
    a.webhook_secret = Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());

    store
        .insert_agent(&a)
        .await
        .expect("insert_agent with tools must succeed");
    let read = store.agent(&f.user.id, &a.id).await.expect("agent()");
    assert_eq!(
        read.as_ref(),
        Some(&a),
        "agent() must return the tools, max_tool_rounds and webhook_secret as inserted"
    );
    let listed = store
        .agents(
            &f.user.id,
            &f.project.id,
            &PageRequest::first(100, Order::Asc),
        )
        .await
        .expect("agents()");
    assert!(
        listed.data.contains(&a),
        "agents() must list the agent with its tools and secret"
    );

    a.tools = vec![sample_tools().remove(1)];
    a.max_tool_rounds = 32;
    a.webhook_secret = Some("whsec_rotated0000000000000000000000000000".to_owned());
    a.updated_at = a.created_at + TimeDelta::seconds(1);
    store
        .update_agent(&a)
        .await
        .expect("update_agent must succeed");
    let read = store.agent(&f.user.id, &a.id).await.expect("agent()");
    assert_eq!(
        read.as_ref(),
        Some(&a),
        "update_agent must write the new tools, max_tool_rounds and webhook_secret"
    );

    a.tools = Vec::new();
    a.max_tool_rounds = 1;
    a.webhook_secret = None;
    store
        .update_agent(&a)
        .await
        .expect("update_agent must succeed");
    let read = store.agent(&f.user.id, &a.id).await.expect("agent()");
    assert_eq!(
        read.as_ref(),
        Some(&a),
        "update_agent must remove every tool and the secret"
    );
}

/// An assistant message with tool calls and the tool messages answering
/// them read back equal through `append_message`, `last_messages` and
/// `messages`, and a fork copies them with every tool field.
pub async fn tool_calls_and_tool_results_round_trip_through_every_read_and_fork(
    store: Arc<dyn Store>,
) {
    let f = Fixture::insert(store.as_ref()).await;
    let calls = sample_calls();
    let drafts = [
        MessageDraft::user("weather in Zürich?"),
        MessageDraft {
            content: String::new(),
            finish_reason: Some(FinishReason::ToolCalls),
            tool_calls: calls.clone(),
            ..assistant_draft("")
        },
        MessageDraft::tool_result(&calls[0], r#"{"temp_c": 21}"#, false),
        MessageDraft::tool_result(&calls[1], "unknown tool `unknown_tool`", true),
        assistant_draft("It is 21 °C."),
    ];

    let mut stored = Vec::new();
    for (i, draft) in drafts.iter().enumerate() {
        let m = store
            .append_message(&f.session.id, draft.clone())
            .await
            .expect("append_message must succeed");
        let seq = i as u64 + 1;
        assert_eq!(
            m,
            draft.clone().into_message(f.session.id, seq),
            "append_message must return the draft (tool fields included) with seq {seq}"
        );
        stored.push(m);
    }

    let last = store
        .last_messages(&f.session.id, 10)
        .await
        .expect("last_messages");
    assert_eq!(
        last, stored,
        "last_messages must read back every tool field"
    );
    let page = store
        .messages(
            &f.user.id,
            &f.session.id,
            &PageRequest::first(100, Order::Asc),
        )
        .await
        .expect("messages");
    assert_eq!(
        page.data, stored,
        "messages must read back every tool field"
    );

    let fork = ChatSession {
        message_count: 4,
        ..session(&f.agent)
    };
    store
        .insert_fork(&fork, &f.session.id, 4)
        .await
        .expect("insert_fork");
    let copies = store
        .last_messages(&fork.id, 10)
        .await
        .expect("last_messages");
    assert_eq!(copies.len(), 4, "the fork holds 4 messages");
    for (copy, original) in copies.iter().zip(&stored) {
        let as_original = crate::domain::Message {
            id: original.id,
            session_id: original.session_id,
            ..copy.clone()
        };
        assert_eq!(
            &as_original, original,
            "a fork's copy keeps tool_calls, tool_call_id, tool_name and is_error"
        );
    }
}

/// `set_pending_tool_calls` shows the calls through `session()` and
/// `sessions()`, keeps them when the title changes, replaces them, and an
/// empty slice clears them; `updated_at` is left as it was.
pub async fn pending_tool_calls_are_shown_with_the_session_until_cleared(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let owner = f.user.id;
    let calls = sample_calls();
    let read = |id: SessionId| {
        let store = store.clone();
        async move {
            store
                .session(&owner, &id)
                .await
                .expect("session()")
                .expect("the session exists")
        }
    };
    let before = read(f.session.id).await;
    assert!(
        before.pending_tool_calls.is_empty(),
        "a new session waits for no calls"
    );

    store
        .set_pending_tool_calls(&f.session.id, &calls)
        .await
        .expect("set_pending_tool_calls must succeed");
    let s = read(f.session.id).await;
    assert_eq!(
        s.pending_tool_calls, calls,
        "session() shows the pending calls"
    );
    assert_eq!(
        s.updated_at, before.updated_at,
        "set_pending_tool_calls leaves updated_at"
    );
    let listed = store
        .sessions(
            &owner,
            &f.agent.id,
            None,
            &PageRequest::first(100, Order::Asc),
        )
        .await
        .expect("sessions()");
    let in_list = listed.data.iter().find(|x| x.id == f.session.id);
    assert_eq!(
        in_list.map(|x| &x.pending_tool_calls),
        Some(&calls),
        "sessions() shows the pending calls"
    );

    let titled = ChatSession {
        title: Some("renamed".to_owned()),
        ..s.clone()
    };
    store.update_session(&titled).await.expect("update_session");
    assert_eq!(
        read(f.session.id).await.pending_tool_calls,
        calls,
        "update_session keeps the pending calls"
    );

    store
        .set_pending_tool_calls(&f.session.id, &calls[1..])
        .await
        .expect("set_pending_tool_calls");
    assert_eq!(
        read(f.session.id).await.pending_tool_calls,
        calls[1..].to_vec(),
        "set_pending_tool_calls replaces the list"
    );
    store
        .set_pending_tool_calls(&f.session.id, &[])
        .await
        .expect("set_pending_tool_calls");
    assert!(
        read(f.session.id).await.pending_tool_calls.is_empty(),
        "an empty slice clears the pending calls"
    );
}

/// Setting the pending calls of a session that does not exist (never
/// stored, or deleted) is `NotFound`.
pub async fn setting_pending_tool_calls_of_a_missing_session_is_not_found(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    assert_not_found(
        store
            .set_pending_tool_calls(&SessionId::new(), &sample_calls())
            .await,
        "set_pending_tool_calls of a session never stored",
    );
    store
        .delete_session(&f.user.id, &f.session.id)
        .await
        .expect("delete_session");
    assert_not_found(
        store
            .set_pending_tool_calls(&f.session.id, &sample_calls())
            .await,
        "set_pending_tool_calls of a deleted session",
    );
}
