//! Chat sessions and plain (non-streaming) turns: shapes, history, what the
//! model receives, the turn lock and model failures.

use std::time::Duration;

use convo::core::llm::MockReply;
use convo::core::{LlmError, MockProvider, Role};
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, spawn_app_with};

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn a_chat_starts_with_no_body_at_all_or_with_a_title() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let url = app.url(&format!("/api/chat/start/{}", fx.agent_id()));

    // Act
    let bare = app.client.post(&url).send().await.expect("request sent");
    let titled = app
        .client
        .post(&url)
        .json(&json!({"title": "Refunds"}))
        .send()
        .await
        .expect("request sent");
    let empty_object = app
        .client
        .post(&url)
        .json(&json!({}))
        .send()
        .await
        .expect("request sent");

    // Assert
    let bare = json_with_status(bare, 201).await;
    assert_eq!(
        keys(&bare),
        [
            "agent_id",
            "created_at",
            "end_user",
            "forked_from",
            "id",
            "message_count",
            "pending_tool_calls",
            "project_id",
            "title",
            "updated_at"
        ]
    );
    assert_eq!(bare["agent_id"], fx.agent_id());
    assert_eq!(bare["project_id"], fx.project_id());
    assert_eq!(bare["title"], Value::Null);
    assert_eq!(bare["message_count"], 0);
    assert_eq!(json_with_status(titled, 201).await["title"], "Refunds");
    assert_eq!(
        json_with_status(empty_object, 201).await["title"],
        Value::Null
    );
}

#[tokio::test]
async fn a_chat_can_be_read_renamed_cleared_and_deleted() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let path = format!("/api/chat/{}", fx.session_id());

    // Act
    let fetched = json_with_status(app.get(&app.client, &path).await, 200).await;
    let renamed = json_with_status(
        app.patch(&app.client, &path, &json!({"title": "Billing"}))
            .await,
        200,
    )
    .await;
    let nulled = json_with_status(
        app.patch(&app.client, &path, &json!({"title": null})).await,
        200,
    )
    .await;
    app.patch(&app.client, &path, &json!({"title": "again"}))
        .await;
    let blanked = json_with_status(
        app.patch(&app.client, &path, &json!({"title": "  "})).await,
        200,
    )
    .await;
    let too_long = app
        .patch(&app.client, &path, &json!({"title": "t".repeat(201)}))
        .await;
    let deleted = app.delete(&app.client, &path).await;

    // Assert
    assert_eq!(fetched, fx.session);
    assert_eq!(renamed["title"], "Billing");
    assert_eq!(renamed["id"], fx.session_id());
    assert_eq!(nulled["title"], Value::Null, "null clears the title");
    assert_eq!(blanked["title"], Value::Null, "a blank title clears it");
    assert_eq!(
        assert_error(too_long, 422, "validation_failed").await["param"],
        "title"
    );
    assert_eq!(deleted.status(), 204);
    assert_error(app.get(&app.client, &path).await, 404, "not_found").await;
    assert_error(
        app.get(&app.client, &format!("{path}/messages")).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn sending_a_message_returns_both_stored_messages() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await; // system prompt "Be brief."

    // Act
    let resp = app
        .send_message(&app.client, fx.session_id(), "hello")
        .await;

    // Assert
    let turn = json_with_status(resp, 201).await;
    assert_eq!(
        keys(&turn),
        [
            "assistant_message",
            "messages",
            "pending_tool_calls",
            "user_message"
        ]
    );
    assert_eq!(
        turn["messages"],
        json!([turn["assistant_message"]]),
        "a turn without tools stores the reply alone"
    );
    assert_eq!(turn["pending_tool_calls"], json!([]));
    let (user, assistant) = (&turn["user_message"], &turn["assistant_message"]);
    assert_eq!(
        keys(user),
        ["content", "created_at", "id", "role", "seq", "session_id"]
    );
    assert_eq!(
        (user["seq"].clone(), user["role"].clone()),
        (json!(1), json!("user"))
    );
    assert_eq!(user["content"], "hello");
    assert_eq!(user["session_id"], fx.session_id());
    assert_eq!(
        (assistant["seq"].clone(), assistant["role"].clone()),
        (json!(2), json!("assistant"))
    );
    assert_eq!(assistant["content"], "echo: hello");
    assert_eq!(assistant["session_id"], fx.session_id());
    assert_eq!(assistant["model"], "gemini-3.8-flash");
    assert_eq!(assistant["finish_reason"], "stop");
    // The mock counts a token per four characters: "Be brief." + "hello" = 14, "echo: hello" = 11.
    let usage = &assistant["usage"];
    assert_eq!(
        (
            usage["prompt_tokens"].clone(),
            usage["completion_tokens"].clone()
        ),
        (json!(4), json!(3))
    );
    assert_eq!(usage["total_tokens"], 7);
    assert_eq!(
        assistant["context"],
        json!({"first_seq": 1, "last_seq": 1, "messages": 1})
    );
    assert_ne!(user["id"], assistant["id"]);
}

#[tokio::test]
async fn the_history_and_message_count_follow_the_conversation_in_order() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;

    // Act
    let first = json_with_status(
        app.send_message(&app.client, fx.session_id(), "one").await,
        201,
    )
    .await;
    let second = json_with_status(
        app.send_message(&app.client, fx.session_id(), "two").await,
        201,
    )
    .await;

    // Assert
    let history = app.history(&app.client, fx.session_id()).await;
    let expected = [
        &first["user_message"],
        &first["assistant_message"],
        &second["user_message"],
        &second["assistant_message"],
    ];
    assert_eq!(
        history.iter().collect::<Vec<_>>(),
        expected,
        "stored as returned, in seq order"
    );
    let seqs: Vec<u64> = history.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let session = json_with_status(
        app.get(&app.client, &format!("/api/chat/{}", fx.session_id()))
            .await,
        200,
    )
    .await;
    assert_eq!(session["message_count"], 4);
}

#[tokio::test]
async fn the_model_gets_the_agents_prompt_settings_and_context_window() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let agent = json!({"name": "A", "system_prompt": "You are terse.", "temperature": 0.5,
                       "max_output_tokens": 256, "context_messages": 3});
    let fx = app.fixture_with(&app.client, agent).await;
    for content in ["first", "second"] {
        assert_eq!(
            app.send_message(&app.client, fx.session_id(), content)
                .await
                .status(),
            201
        );
    }

    // Act
    let third = json_with_status(
        app.send_message(&app.client, fx.session_id(), "third")
            .await,
        201,
    )
    .await;

    // Assert
    let requests = app.mock.requests();
    assert_eq!(requests.len(), 3, "one model call per turn");
    let last = &requests[2];
    assert_eq!(last.system_prompt, "You are terse.");
    assert_eq!(last.model, "gemini-3.8-flash");
    assert_eq!(last.temperature, Some(0.5));
    assert_eq!(last.max_output_tokens, Some(256));
    assert_eq!(
        last.reasoning_effort,
        Some(convo_core::ReasoningEffort::Low),
        "the agent's default effort"
    );
    let window: Vec<(Role, &str)> = last
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        window,
        [
            (Role::User, "second"),
            (Role::Assistant, "echo: second"),
            (Role::User, "third")
        ],
        "the last 3 stored messages, oldest first"
    );
    assert_eq!(
        third["assistant_message"]["context"],
        json!({"first_seq": 3, "last_seq": 5, "messages": 3})
    );
}

#[tokio::test]
async fn two_concurrent_sends_to_one_session_get_one_201_and_one_409() {
    // Arrange
    let mock = MockProvider::new().with_latency(Duration::from_millis(300));
    let app = spawn_app_with(mock, |_| {}).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;

    // Act
    let (a, b) = tokio::join!(
        app.send_message(&app.client, fx.session_id(), "a"),
        app.send_message(&app.client, fx.session_id(), "b"),
    );

    // Assert
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    let loser = if a.status() == 409 { a } else { b };
    let error = assert_error(loser, 409, "turn_in_progress").await;
    assert_eq!(error["retryable"], true);
    assert_eq!(
        app.history(&app.client, fx.session_id()).await.len(),
        2,
        "only the winner's turn is stored"
    );
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "c")
            .await
            .status(),
        201,
        "the lock is released"
    );
}

#[tokio::test]
async fn model_failures_map_to_their_status_and_keep_only_the_user_message() {
    let app = spawn_app().await;
    app.sign_up().await;
    let unavailable = |retry_after| LlmError::Unavailable {
        message: "busy".into(),
        retry_after,
    };
    let cases = [
        (
            LlmError::Provider("bad json".into()),
            502,
            "llm_error",
            false,
            None,
        ),
        (
            LlmError::Blocked("SAFETY".into()),
            502,
            "llm_blocked",
            false,
            None,
        ),
        (
            unavailable(Some(Duration::from_secs(3))),
            503,
            "llm_unavailable",
            true,
            Some("3"),
        ),
        (unavailable(None), 503, "llm_unavailable", true, None),
        (LlmError::Timeout, 504, "llm_timeout", true, None),
    ];
    for (failure, status, code, retryable, retry_after) in cases {
        // Arrange
        let case = format!("{failure:?}");
        let fx = app.fixture(&app.client).await;
        app.mock.push(MockReply::Fail(failure));

        // Act
        let resp = app
            .send_message(&app.client, fx.session_id(), "hello")
            .await;

        // Assert
        let header = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(header.as_deref(), retry_after, "Retry-After of {case}");
        let error = assert_error(resp, status, code).await;
        assert_eq!(error["retryable"], retryable, "{case}");
        let history = app.history(&app.client, fx.session_id()).await;
        let stored: Vec<(&Value, &Value)> = history
            .iter()
            .map(|m| (&m["role"], &m["content"]))
            .collect();
        assert_eq!(
            stored,
            [(&json!("user"), &json!("hello"))],
            "{case}: the user message once, no reply"
        );
        let next = json_with_status(
            app.send_message(&app.client, fx.session_id(), "again")
                .await,
            201,
        )
        .await;
        assert_eq!(
            next["assistant_message"]["seq"], 3,
            "{case}: the next send works"
        );
    }
}
