//! `GET /api/chat/{id}/context` and token-budget windows: the preview is
//! exactly what the next turn sends.

use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, TestApp};

async fn preview(app: &TestApp, session: &str, content: Option<&str>) -> Value {
    let mut path = format!("/api/chat/{session}/context");
    if let Some(c) = content {
        path.push_str(&format!("?content={}", urlencode(c)));
    }
    json_with_status(app.get(&app.client, &path).await, 200).await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The preview's messages as (role, content).
fn previewed(p: &Value) -> Vec<(String, String)> {
    p["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// What the mock model received last, as (role, content).
fn received(app: &TestApp) -> (Value, Vec<(String, String)>) {
    let request = app
        .mock
        .requests()
        .last()
        .cloned()
        .expect("the model was called");
    let messages = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                convo_core::Role::User => "user",
                convo_core::Role::Assistant => "assistant",
                convo_core::Role::Tool => "tool",
            };
            (role.to_owned(), m.content.clone())
        })
        .collect();
    let settings = json!({
        "model": request.model,
        "system_prompt": request.system_prompt,
        "temperature": request.temperature,
        "max_output_tokens": request.max_output_tokens,
        "reasoning_effort": request.reasoning_effort.map(|e| e.as_str()),
    });
    (settings, messages)
}

fn settings_of(p: &Value) -> Value {
    json!({
        "model": p["model"],
        "system_prompt": p["system_prompt"],
        "temperature": p["temperature"],
        "max_output_tokens": p["max_output_tokens"],
        "reasoning_effort": p["reasoning_effort"],
    })
}

#[tokio::test]
async fn the_preview_is_what_the_model_then_receives() {
    // Arrange: a 4-message window over a longer history.
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app
        .fixture_with(
            &app.client,
            json!({"name": "a", "system_prompt": "Be brief.", "temperature": 0.5,
                   "max_output_tokens": 99, "context_messages": 4}),
        )
        .await;
    for text in ["one", "two", "three"] {
        assert_eq!(
            app.send_message(&app.client, fx.session_id(), text)
                .await
                .status(),
            201
        );
    }

    // Act
    let before = preview(&app, fx.session_id(), Some("four")).await;
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "four")
            .await
            .status(),
        201
    );

    // Assert
    let (settings, messages) = received(&app);
    assert_eq!(settings_of(&before), settings, "{before}");
    assert_eq!(previewed(&before), messages);
    assert_eq!(before["object"], "chat.context");
    let seqs: Vec<u64> = before["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .collect();
    assert_eq!(seqs, [5, 6, 7], "the window starts at a user message");
    assert_eq!(before["messages"][2]["pending"], true);
    assert_eq!(before["left_out"], json!({"first_seq": 1, "last_seq": 4}));
    let estimated: u64 = before["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["estimated_tokens"].as_u64())
        .sum();
    // "Be brief." is 9 characters: 3 + 4 tokens.
    assert_eq!(
        before["estimated_prompt_tokens"].as_u64(),
        Some(estimated + 7)
    );
    assert_eq!(
        app.history(&app.client, fx.session_id()).await.len(),
        8,
        "the preview stored nothing"
    );
}

#[tokio::test]
async fn a_token_budget_keeps_the_newest_messages_that_fit() {
    // Arrange: every message of 40 characters costs 14 estimated tokens.
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app
        .fixture_with(
            &app.client,
            json!({"name": "a", "system_prompt": "", "context_tokens": 60}),
        )
        .await;
    assert_eq!(fx.agent["context_tokens"], 60);
    assert_eq!(
        fx.agent["context_messages"], 1000,
        "a budget instead of a count"
    );
    let long = "x".repeat(34);
    for _ in 0..3 {
        assert_eq!(
            app.send_message(&app.client, fx.session_id(), &long)
                .await
                .status(),
            201
        );
    }

    // Act
    let before = preview(&app, fx.session_id(), Some(&long)).await;
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), &long)
            .await
            .status(),
        201
    );

    // Assert: 4 messages would cost 56 ≤ 60 but start with a reply, so 3.
    let (_, messages) = received(&app);
    assert_eq!(previewed(&before), messages);
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0].0, "user");
    assert_eq!(before["left_out"], json!({"first_seq": 1, "last_seq": 4}));
    let history = app.history(&app.client, fx.session_id()).await;
    assert_eq!(
        history[7]["context"],
        json!({"first_seq": 5, "last_seq": 7, "messages": 3}),
        "the reply records the same window"
    );

    // The budget can be changed and removed.
    let agent_path = format!("/api/agents/{}", fx.agent_id());
    let changed = json_with_status(
        app.patch(&app.client, &agent_path, &json!({"context_tokens": 1000}))
            .await,
        200,
    )
    .await;
    assert_eq!(changed["context_tokens"], 1000);
    let cleared = json_with_status(
        app.patch(&app.client, &agent_path, &json!({"context_tokens": null}))
            .await,
        200,
    )
    .await;
    assert_eq!(cleared["context_tokens"], Value::Null);
    let untouched = json_with_status(
        app.patch(&app.client, &agent_path, &json!({"name": "renamed"}))
            .await,
        200,
    )
    .await;
    assert_eq!(untouched["context_tokens"], Value::Null);
    assert_eq!(
        preview(&app, fx.session_id(), None).await["left_out"],
        Value::Null
    );
}

#[tokio::test]
async fn previews_without_content_and_bad_previews() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let empty = preview(&app, fx.session_id(), None).await;
    assert_eq!(empty["messages"], json!([]));
    assert_eq!(empty["left_out"], Value::Null);
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "hi")
            .await
            .status(),
        201
    );
    let after = preview(&app, fx.session_id(), None).await;
    assert_eq!(previewed(&after).len(), 2);
    assert_eq!(after["messages"][1]["pending"], false);

    let blank = app
        .get(
            &app.client,
            &format!("/api/chat/{}/context?content=%20%20", fx.session_id()),
        )
        .await;
    let error = assert_error(blank, 422, "validation_failed").await;
    assert_eq!(error["param"], "content");
    let budget = app
        .post(
            &app.client,
            &format!("/api/projects/{}/agents", fx.project_id()),
            &json!({"name": "a", "system_prompt": "", "context_tokens": 0}),
        )
        .await;
    let error = assert_error(budget, 422, "validation_failed").await;
    assert_eq!(error["param"], "context_tokens");
}
