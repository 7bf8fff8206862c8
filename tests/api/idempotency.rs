//! `Idempotency-Key` on sends, and the validation of what is sent.

use convo::core::llm::MockReply;
use convo::core::LlmError;
use serde_json::json;

use crate::helpers::{assert_error, json_with_status, spawn_app, TestApp};

/// `POST …/message` with an `Idempotency-Key`.
async fn send_with_key(
    app: &TestApp,
    session: &str,
    content: &str,
    key: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/chat/{session}/message")))
        .header("Idempotency-Key", key)
        .json(&json!({"content": content}))
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_result_without_a_new_turn() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;

    // Act
    let first = json_with_status(
        send_with_key(&app, fx.session_id(), "hi", "key-1").await,
        201,
    )
    .await;
    let repeat = json_with_status(
        send_with_key(&app, fx.session_id(), "hi", "key-1").await,
        201,
    )
    .await;

    // Assert
    assert_eq!(repeat, first, "the same JSON result");
    assert_eq!(app.mock.request_count(), 1, "the model was called once");
    assert_eq!(
        app.history(&app.client, fx.session_id()).await.len(),
        2,
        "nothing new stored"
    );
    let other = json_with_status(
        send_with_key(&app, fx.session_id(), "hi", "key-2").await,
        201,
    )
    .await;
    assert_eq!(
        other["user_message"]["seq"], 3,
        "another key is another turn"
    );
}

#[tokio::test]
async fn bad_messages_and_idempotency_keys_are_422_naming_the_field() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    json_with_status(
        send_with_key(&app, fx.session_id(), "hi", "used").await,
        201,
    )
    .await;
    let cases = [
        ("", None, "content", "empty content"),
        (" \n\t", None, "content", "blank content"),
        (
            "other words",
            Some("used"),
            "Idempotency-Key",
            "a used key with other content",
        ),
        (
            "hi",
            Some("has space"),
            "Idempotency-Key",
            "a key with a space",
        ),
        (
            "hi",
            Some(&*"k".repeat(256)),
            "Idempotency-Key",
            "a key of 256 bytes",
        ),
    ];
    for (content, key, param, case) in cases {
        let resp = match key {
            Some(key) => send_with_key(&app, fx.session_id(), content, key).await,
            None => {
                app.send_message(&app.client, fx.session_id(), content)
                    .await
            }
        };
        let error = assert_error(resp, 422, "validation_failed").await;
        assert_eq!(error["param"], param, "{case}");
    }
    assert_eq!(
        app.history(&app.client, fx.session_id()).await.len(),
        2,
        "nothing stored"
    );
    assert_eq!(app.mock.request_count(), 1);
}

#[tokio::test]
async fn retrying_a_failed_turn_with_its_key_answers_the_stored_message_once() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    app.mock.push(MockReply::Fail(LlmError::Timeout));
    let failed = send_with_key(&app, fx.session_id(), "hello", "retry-me").await;
    assert_error(failed, 504, "llm_timeout").await;

    // Act
    let retried = json_with_status(
        send_with_key(&app, fx.session_id(), "hello", "retry-me").await,
        201,
    )
    .await;

    // Assert
    let history = app.history(&app.client, fx.session_id()).await;
    assert_eq!(
        history.len(),
        2,
        "the user message is not stored twice: {history:?}"
    );
    assert_eq!(retried["user_message"], history[0]);
    assert_eq!(retried["assistant_message"]["seq"], 2);
    assert_eq!(app.mock.request_count(), 2, "the retry did call the model");
}

#[tokio::test]
async fn an_idempotency_key_is_scoped_to_its_session() {
    let app = spawn_app().await;
    app.sign_up().await;
    let a = app.fixture(&app.client).await;
    let b = app.fixture(&app.client).await;
    json_with_status(
        send_with_key(&app, a.session_id(), "first", "shared").await,
        201,
    )
    .await;

    let other = send_with_key(&app, b.session_id(), "something else", "shared").await;

    let other = json_with_status(other, 201).await;
    assert_eq!(
        other["assistant_message"]["content"],
        "echo: something else"
    );
    assert_eq!(app.mock.request_count(), 2);
}

#[tokio::test]
async fn a_key_that_is_not_visible_ascii_is_422_on_both_send_routes_and_stores_nothing() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let ascii_failure = assert_error(
        send_with_key(&app, fx.session_id(), "hi", "key 1").await,
        422,
        "validation_failed",
    )
    .await;
    let keys: [&[u8]; 3] = ["clé-1".as_bytes(), b"\xff\xfe", "ключ".as_bytes()];

    for route in ["message", "message/stream"] {
        for key in keys {
            let shown = String::from_utf8_lossy(key);
            // Act: the raw bytes, as a client that does not encode them sends them.
            let key = reqwest::header::HeaderValue::from_bytes(key).expect("header bytes");
            let resp = app
                .client
                .post(app.url(&format!("/api/chat/{}/{route}", fx.session_id())))
                .header("Idempotency-Key", key)
                .json(&json!({"content": "hi"}))
                .send()
                .await
                .expect("request sent");

            // Assert
            let error = assert_error(resp, 422, "validation_failed").await;
            assert_eq!(error["param"], "Idempotency-Key", "{route} {shown}");
            assert_eq!(
                error["message"], ascii_failure["message"],
                "{route} {shown}: the same answer as any malformed key"
            );
        }
    }
    assert!(
        app.history(&app.client, fx.session_id()).await.is_empty(),
        "nothing stored"
    );
    assert_eq!(app.mock.request_count(), 0, "the model was not called");
}
