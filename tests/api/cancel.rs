//! `POST /api/chat/{id}/cancel`: stopping the turn in progress.

use std::time::Duration;

use convo_core::llm::MockProvider;
use futures::StreamExt;

use crate::helpers::{deltas, json_with_status, parse_sse, spawn_app, spawn_app_with};

#[tokio::test]
async fn cancelling_a_streamed_turn_ends_the_stream_with_the_text_so_far() {
    // Arrange
    let mock = MockProvider::new()
        .with_chunks(20)
        .with_chunk_delay(Duration::from_millis(100));
    let app = spawn_app_with(mock, |_| {}).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let content = "please tell me a rather long story about cancelling";
    let resp = app
        .stream_message(&app.client, fx.session_id(), content)
        .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: message.delta") {
        let chunk = body.next().await.expect("more events").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Act
    let cancel = app
        .post(
            &app.client,
            &format!("/api/chat/{}/cancel", fx.session_id()),
            &serde_json::json!({}),
        )
        .await;

    // Assert
    assert_eq!(cancel.status(), 204);
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("bytes")));
    }
    let events = parse_sse(&seen);
    let last = events.last().expect("events");
    assert_eq!(
        last.event.as_deref(),
        Some("message.completed"),
        "{events:?}"
    );
    let message = &last.data["message"];
    assert_eq!(message["finish_reason"], "cancelled", "{message}");
    let streamed: String = deltas(&events).concat();
    assert_eq!(
        message["content"],
        streamed.as_str(),
        "exactly the text streamed"
    );
    let full = format!("echo: {content}");
    assert!(streamed.len() < full.len(), "stopped early: {streamed:?}");
    let history = app.history(&app.client, fx.session_id()).await;
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1], *message,
        "the message stored is the one streamed"
    );
    let next = app
        .send_message(&app.client, fx.session_id(), "still there?")
        .await;
    assert_eq!(next.status(), 201, "the session is free again");
}

#[tokio::test]
async fn a_cancelled_plain_send_answers_201_with_an_empty_cancelled_reply() {
    let mock = MockProvider::new().with_latency(Duration::from_millis(800));
    let app = spawn_app_with(mock, |_| {}).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let send = {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/api/chat/{}/message", fx.session_id())),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({"content": "hello"}))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let cancel = app
        .post(
            &app.client,
            &format!("/api/chat/{}/cancel", fx.session_id()),
            &serde_json::json!({}),
        )
        .await;

    assert_eq!(cancel.status(), 204);
    let resp = send.await.expect("task").expect("response");
    let turn = json_with_status(resp, 201).await;
    assert_eq!(
        turn["assistant_message"]["finish_reason"], "cancelled",
        "{turn}"
    );
    assert_eq!(turn["assistant_message"]["content"], "");
    assert_eq!(app.history(&app.client, fx.session_id()).await.len(), 2);
}

#[tokio::test]
async fn cancelling_when_nothing_runs_is_204_and_changes_nothing() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let sent = app.send_message(&app.client, fx.session_id(), "hi").await;
    assert_eq!(sent.status(), 201);
    let before = app.history(&app.client, fx.session_id()).await;

    for _ in 0..2 {
        let cancel = app
            .post(
                &app.client,
                &format!("/api/chat/{}/cancel", fx.session_id()),
                &serde_json::json!({}),
            )
            .await;
        assert_eq!(cancel.status(), 204, "repeatable");
    }

    assert_eq!(app.history(&app.client, fx.session_id()).await, before);
    let next = app
        .send_message(&app.client, fx.session_id(), "again")
        .await;
    assert_eq!(next.status(), 201);
}
