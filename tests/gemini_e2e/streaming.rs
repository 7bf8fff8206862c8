//! `POST …/message/stream` against fake-gemini's faults: the stream opens,
//! says `message.created`, maybe some deltas, and ends with an `error` event;
//! only the user message is stored.

use serde_json::{json, Value};

use crate::helpers::{deltas, names, spawn_app, with_knobs, GeminiApp, SseEvent};

/// Streams a message carrying `knobs`; checks the event sequence, the error
/// event and the history; returns the app and the events.
async fn failed_stream(knobs: Value, code: &str, retryable: bool) -> (GeminiApp, Vec<SseEvent>) {
    // Arrange
    let app = spawn_app().await;
    let content = with_knobs("please answer at some length", knobs.clone());

    // Act
    let events = app.stream(&content).await;

    // Assert
    let names = names(&events);
    assert!(names.len() >= 2, "{knobs}: {names:?}");
    assert_eq!(names[0], "message.created", "{knobs}");
    assert_eq!(
        events[0].data["user_message"]["content"],
        content.as_str(),
        "{knobs}"
    );
    assert!(
        names[1..names.len() - 1]
            .iter()
            .all(|n| *n == "message.delta"),
        "{knobs}: {names:?}"
    );
    assert_eq!(
        names.last(),
        Some(&"error"),
        "{knobs}: a failed stream ends with an error event"
    );
    let error = &events[events.len() - 1].data["error"];
    assert_eq!(error["code"], code, "{knobs}: {error}");
    assert_eq!(error["retryable"], retryable, "{knobs}: {error}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{knobs}: {error}"
    );
    app.assert_only_user_message(&content).await;
    (app, events)
}

#[tokio::test]
async fn a_raw_json_error_mid_stream_ends_with_an_llm_unavailable_error_event_and_no_retry() {
    let knobs = json!({"fail": "stream_error", "chunks": 6});
    let (app, events) = failed_stream(knobs, "llm_unavailable", true).await;
    assert!(
        !deltas(&events).is_empty(),
        "the first half arrived before the error"
    );
    assert_eq!(
        app.outcomes().await,
        ["stream_error"],
        "no retry once the stream started"
    );
}

#[tokio::test]
async fn a_data_framed_error_mid_stream_ends_with_an_llm_unavailable_error_event() {
    let knobs = json!({"fail": "stream_error", "error_framing": "data", "chunks": 6});
    let (app, events) = failed_stream(knobs, "llm_unavailable", true).await;
    assert!(
        !deltas(&events).is_empty(),
        "the first half arrived before the error"
    );
    assert_eq!(app.outcomes().await, ["stream_error"]);
}

#[tokio::test]
async fn a_stream_that_ends_without_a_finish_reason_ends_with_an_llm_error_event() {
    let knobs = json!({"fail": "cut_stream", "chunks": 6});
    let (app, events) = failed_stream(knobs, "llm_error", false).await;
    let message = events[events.len() - 1].data["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("finish reason"), "{message}");
    assert!(!deltas(&events).is_empty(), "the first half arrived");
    assert_eq!(app.outcomes().await, ["cut_stream"]);
}

#[tokio::test]
async fn a_stream_cut_by_a_reset_ends_with_an_llm_unavailable_error_event() {
    let knobs = json!({"fail": "cut_stream_reset", "chunks": 6});
    let (app, _) = failed_stream(knobs, "llm_unavailable", true).await;
    assert_eq!(
        app.outcomes().await,
        ["cut_stream_reset"],
        "no retry once the stream started"
    );
}

#[tokio::test]
async fn a_malformed_chunk_mid_stream_ends_with_an_llm_error_event() {
    let knobs = json!({"fail": "malformed", "chunks": 6});
    let (app, _) = failed_stream(knobs, "llm_error", false).await;
    assert_eq!(app.outcomes().await, ["malformed"]);
}

#[tokio::test]
async fn a_blocked_prompt_ends_the_stream_with_an_llm_blocked_error_event() {
    let (app, events) = failed_stream(json!({"fail": "blocked"}), "llm_blocked", false).await;
    assert!(deltas(&events).is_empty(), "nothing was generated");
    assert_eq!(app.outcomes().await, ["blocked"]);
}

#[tokio::test]
async fn a_safety_stop_before_any_text_ends_the_stream_with_an_llm_blocked_error_event() {
    // chunks 2 = one text chunk + the final one; half of one text chunk is none.
    let knobs = json!({"fail": "safety_stop", "chunks": 2});
    let (app, events) = failed_stream(knobs, "llm_blocked", false).await;
    assert!(deltas(&events).is_empty());
    assert_eq!(app.outcomes().await, ["safety_stop"]);
}

#[tokio::test]
async fn a_429_that_persists_ends_the_stream_with_an_llm_unavailable_error_event() {
    let knobs = json!({"fail": "429", "retry_delay": "0.1s"});
    let (app, events) = failed_stream(knobs, "llm_unavailable", true).await;
    assert!(deltas(&events).is_empty());
    assert_eq!(
        app.outcomes().await,
        ["429", "429", "429"],
        "retried before the stream started"
    );
}

#[tokio::test]
async fn a_400_ends_the_stream_with_an_llm_error_event_without_retries() {
    let (app, _) = failed_stream(json!({"fail": "400"}), "llm_error", false).await;
    assert_eq!(app.outcomes().await, ["400"]);
}

#[tokio::test]
async fn a_model_that_never_answers_ends_the_stream_with_an_llm_timeout_error_event() {
    let (app, _) = failed_stream(json!({"fail": "timeout"}), "llm_timeout", true).await;
    assert_eq!(app.outcomes().await, ["timeout"]);
}

#[tokio::test]
async fn a_safety_stop_after_some_text_completes_with_finish_reason_safety_and_the_partial_text() {
    // The text already streamed to the client is kept, as the contract's
    // `safety` finish reason describes; only a stop with no text is a refusal.
    // Arrange
    let app = spawn_app().await;
    let content = with_knobs(
        "please answer at some length",
        json!({"fail": "safety_stop", "chunks": 6}),
    );

    // Act
    let events = app.stream(&content).await;

    // Assert
    assert_eq!(
        names(&events).last(),
        Some(&"message.completed"),
        "{:?}",
        names(&events)
    );
    let message = &events[events.len() - 1].data["message"];
    assert_eq!(message["finish_reason"], "safety");
    let streamed: String = deltas(&events).concat();
    assert!(!streamed.is_empty(), "some text came before the stop");
    assert_eq!(message["content"], streamed.as_str());
    let history = app.history().await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["content"], streamed.as_str());
    assert_eq!(app.outcomes().await, ["safety_stop"]);
}

#[tokio::test]
async fn a_stream_silent_for_longer_than_the_idle_timeout_ends_with_an_llm_timeout_error_event() {
    // 3 s between chunks; the idle timeout is 2 s.
    let knobs = json!({"chunks": 4, "chunk_delay_ms": 3000});
    let (app, events) = failed_stream(knobs, "llm_timeout", true).await;
    assert_eq!(deltas(&events).len(), 1, "the first chunk came at once");
    assert_eq!(
        app.outcomes().await,
        ["ok"],
        "one request; the fake was merely slow"
    );
}
