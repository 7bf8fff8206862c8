//! `POST /api/chat/{id}/fork`: edit-and-retry without rewriting history.

use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app};

fn contents(history: &[Value]) -> Vec<&str> {
    history
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect()
}

#[tokio::test]
async fn editing_a_message_is_a_fork_before_it_then_a_send() {
    // Arrange: a conversation of three turns.
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    for text in ["one", "two", "three"] {
        let sent = app.send_message(&app.client, fx.session_id(), text).await;
        assert_eq!(sent.status(), 201);
    }
    let original = app.history(&app.client, fx.session_id()).await;

    // Act: edit message 3 ("two").
    let resp = app
        .post(
            &app.client,
            &format!("/api/chat/{}/fork", fx.session_id()),
            &json!({"up_to_seq": 2, "title": "take two"}),
        )
        .await;
    let fork = json_with_status(resp, 201).await;
    let fork_id = fork["id"].as_str().expect("id").to_owned();
    let sent = app.send_message(&app.client, &fork_id, "two, edited").await;
    assert_eq!(sent.status(), 201);

    // Assert
    assert_ne!(fork_id, fx.session_id());
    assert_eq!(fork["agent_id"], fx.agent_id());
    assert_eq!(fork["title"], "take two");
    assert_eq!(
        fork["forked_from"],
        json!({"session_id": fx.session_id(), "seq": 2})
    );
    assert_eq!(fork["message_count"], 2);
    let copied = app.history(&app.client, &fork_id).await;
    assert_eq!(
        contents(&copied),
        ["one", "echo: one", "two, edited", "echo: two, edited"]
    );
    let seqs: Vec<u64> = copied.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    for (copy, source) in copied.iter().zip(&original).take(2) {
        assert_ne!(copy["id"], source["id"], "copies get new ids");
        assert_eq!(copy["session_id"], fork_id.as_str());
        assert_eq!(copy["role"], source["role"]);
        assert_eq!(copy["content"], source["content"]);
    }
    assert_eq!(
        app.history(&app.client, fx.session_id()).await,
        original,
        "the source is unchanged"
    );
    let listed = json_with_status(
        app.get(
            &app.client,
            &format!("/api/agents/{}/sessions", fx.agent_id()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(2),
        "both sessions are listed"
    );
    let read = json_with_status(
        app.get(&app.client, &format!("/api/chat/{fork_id}")).await,
        200,
    )
    .await;
    assert_eq!(read["forked_from"]["seq"], 2, "the origin is stored");
}

#[tokio::test]
async fn a_fork_at_zero_is_empty_and_keeps_the_sources_title() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let renamed = app
        .patch(
            &app.client,
            &format!("/api/chat/{}", fx.session_id()),
            &json!({"title": "Printer trouble"}),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "hi")
            .await
            .status(),
        201
    );

    let resp = app
        .post(
            &app.client,
            &format!("/api/chat/{}/fork", fx.session_id()),
            &json!({"up_to_seq": 0}),
        )
        .await;

    let fork = json_with_status(resp, 201).await;
    assert_eq!(fork["message_count"], 0);
    assert_eq!(fork["title"], "Printer trouble");
    let fork_id = fork["id"].as_str().expect("id");
    assert!(app.history(&app.client, fork_id).await.is_empty());
}

#[tokio::test]
async fn bad_forks_are_4xx_and_create_nothing() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "hi")
            .await
            .status(),
        201
    );
    let path = format!("/api/chat/{}/fork", fx.session_id());
    let cases = [
        (
            json!({"up_to_seq": 3}),
            422,
            "validation_failed",
            Some("up_to_seq"),
        ),
        (
            json!({"up_to_seq": 1, "title": "x".repeat(201)}),
            422,
            "validation_failed",
            Some("title"),
        ),
        (
            json!({"up_to_seq": -1}),
            400,
            "invalid_request",
            Some("up_to_seq"),
        ),
        (
            json!({"up_to_seq": "1"}),
            400,
            "invalid_request",
            Some("up_to_seq"),
        ),
        (json!({}), 422, "validation_failed", Some("up_to_seq")),
    ];
    for (body, status, code, param) in cases {
        let resp = app.post(&app.client, &path, &body).await;
        assert_eq!(resp.status(), status, "{body}");
        let error = assert_error(resp, status, code).await;
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{body}");
        }
    }
    let listed = json_with_status(
        app.get(
            &app.client,
            &format!("/api/agents/{}/sessions", fx.agent_id()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(1),
        "no fork was created"
    );
}
