//! End-to-end tests of the OpenAI-compatible provider: a Convo agent on
//! `openai:<model>` answered by the fake model server's
//! `/v1/chat/completions` (plain, streamed, usage, a 429 retried, a cut
//! stream). The Convo-to-Convo case lives in `tests/api/openai_compat.rs`.

use serde_json::{json, Value};

use crate::helpers::{deltas, names, spawn_app_configured, with_knobs, GeminiApp, SYSTEM_PROMPT};

/// The key the server sends to the fake as a Bearer token.
const OPENAI_KEY: &str = "sk-e2e-openai-0123456789";

/// A server whose agent is `openai:gpt-5.1-mini`, answered by the fake.
async fn spawn_openai_app() -> GeminiApp {
    let agent = json!({"name": "OpenAI e2e", "system_prompt": SYSTEM_PROMPT, "model": "openai:gpt-5.1-mini", "max_output_tokens": 256});
    spawn_app_configured(agent, |c| {
        let base = c.gemini_base_url.clone().expect("the fake's URL");
        c.openai_base_url = Some(format!("{base}/v1"));
        c.openai_api_key = Some(OPENAI_KEY.into());
    })
    .await
}

/// The chat completion calls the fake recorded.
async fn chat_calls(app: &GeminiApp) -> Vec<Value> {
    let all = app.fake.requests().await;
    all.into_iter()
        .filter(|r| r["rpc"] == "chat.completions")
        .collect()
}

#[tokio::test]
async fn a_plain_turn_is_answered_through_chat_completions_with_usage() {
    // Arrange
    let app = spawn_openai_app().await;

    // Act
    let turn = app.send_ok("hello openai").await;

    // Assert
    let reply = &turn["assistant_message"];
    assert_eq!(reply["content"], "echo: hello openai [messages=2]");
    assert_eq!(reply["finish_reason"], "stop");
    assert!(
        reply["usage"]["prompt_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{reply}"
    );
    assert!(
        reply["usage"]["completion_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{reply}"
    );
    let calls = chat_calls(&app).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["model"], "gpt-5.1-mini",
        "sent without the openai: prefix"
    );
    assert_eq!(calls[0]["key"], OPENAI_KEY);
    assert_eq!(calls[0]["stream"], false);
    let messages = calls[0]["messages"].as_array().expect("messages");
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": SYSTEM_PROMPT})
    );
    assert_eq!(messages[1]["role"], "user");
}

#[tokio::test]
async fn a_streamed_turn_arrives_in_deltas_and_completes_with_usage() {
    // Arrange
    let app = spawn_openai_app().await;

    // Act
    let events = app
        .stream(&with_knobs("tell me in pieces", json!({"chunks": 5})))
        .await;

    // Assert
    assert_eq!(
        names(&events).last(),
        Some(&"message.completed"),
        "{:?}",
        names(&events)
    );
    let message = &events[events.len() - 1].data["message"];
    assert_eq!(message["content"], deltas(&events).concat().as_str());
    assert!(deltas(&events).len() > 1, "several deltas");
    assert!(
        message["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "usage from the last chunk: {message}"
    );
    let calls = chat_calls(&app).await;
    assert_eq!(calls[0]["stream"], true);
    assert_eq!(calls[0]["body"]["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_429_is_retried_and_the_turn_succeeds() {
    // Arrange
    let app = spawn_openai_app().await;
    let content = with_knobs(
        "busy?",
        json!({"fail": "429", "fail_first_n": 1, "retry_delay": "1s"}),
    );

    // Act
    let turn = app.send_ok(&content).await;

    // Assert
    assert_eq!(turn["assistant_message"]["finish_reason"], "stop");
    let outcomes: Vec<Value> = chat_calls(&app)
        .await
        .iter()
        .map(|c| c["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("429"), json!("ok")]);
}

#[tokio::test]
async fn a_cut_stream_ends_with_an_error_event_and_stores_no_answer() {
    // Arrange
    let app = spawn_openai_app().await;
    let content = with_knobs(
        "please answer at some length",
        json!({"fail": "cut_stream", "chunks": 6}),
    );

    // Act
    let events = app.stream(&content).await;

    // Assert
    assert_eq!(
        names(&events).last(),
        Some(&"error"),
        "{:?}",
        names(&events)
    );
    assert!(events[events.len() - 1].data["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    app.assert_only_user_message(&content).await;
    assert_eq!(
        chat_calls(&app).await.len(),
        1,
        "no retry once the stream started"
    );
}
