//! `POST …/message` against each fault knob of fake-gemini: the status and
//! `error.code`, whether it is retryable, how many attempts reached the fake,
//! and that only the user message was stored.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with_agent, with_knobs, Failure, GeminiApp, API_KEY};

/// Sends a message carrying `knobs` and checks the failure envelope and the
/// history; returns both for further checks.
async fn failed_send(
    knobs: Value,
    status: u16,
    code: &str,
    retryable: bool,
) -> (GeminiApp, Failure) {
    // Arrange
    let app = spawn_app().await;
    let content = with_knobs("please answer", knobs.clone());

    // Act
    let failure = app.send_failing(&content).await;

    // Assert
    assert_eq!(failure.status, status, "{knobs}: {:?}", failure.error);
    assert_eq!(failure.error["code"], code, "{knobs}: {:?}", failure.error);
    assert_eq!(
        failure.error["retryable"], retryable,
        "{knobs}: {:?}",
        failure.error
    );
    let message = failure.error["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains(API_KEY),
        "the API key never reaches a client: {message}"
    );
    app.assert_only_user_message(&content).await;
    (app, failure)
}

fn times(outcome: &str, n: usize) -> Vec<String> {
    vec![outcome.to_owned(); n]
}

#[tokio::test]
async fn a_400_invalid_argument_is_a_502_llm_error_and_is_not_retried() {
    let (app, _) = failed_send(json!({"fail": "400"}), 502, "llm_error", false).await;
    assert_eq!(app.outcomes().await, times("400", 1));
}

#[tokio::test]
async fn a_401_is_a_502_llm_error_and_is_not_retried() {
    let (app, _) = failed_send(json!({"fail": "401"}), 502, "llm_error", false).await;
    assert_eq!(app.outcomes().await, times("401", 1));
}

#[tokio::test]
async fn a_403_permission_denied_is_a_502_llm_error_and_is_not_retried() {
    let (app, _) = failed_send(json!({"fail": "403"}), 502, "llm_error", false).await;
    assert_eq!(app.outcomes().await, times("403", 1));
}

#[tokio::test]
async fn a_404_unknown_model_is_a_502_llm_error_and_is_not_retried() {
    let (app, _) = failed_send(json!({"fail": "404"}), 502, "llm_error", false).await;
    assert_eq!(app.outcomes().await, times("404", 1));
}

#[tokio::test]
async fn a_rejected_api_key_is_a_502_llm_error_and_is_not_retried() {
    let (app, _) = failed_send(json!({"fail": "bad_key"}), 502, "llm_error", false).await;
    assert_eq!(app.outcomes().await, times("bad_key", 1));
}

#[tokio::test]
async fn a_failed_precondition_is_a_502_llm_error_and_is_not_retried() {
    let knobs = json!({"fail": "failed_precondition"});
    let (app, _) = failed_send(knobs, 502, "llm_error", false).await;
    assert_eq!(app.outcomes().await, times("failed_precondition", 1));
}

#[tokio::test]
async fn a_429_that_persists_is_a_503_llm_unavailable_with_retry_after_after_three_attempts() {
    let started = Instant::now();
    let knobs = json!({"fail": "429", "retry_delay": "1s"});
    let (app, failure) = failed_send(knobs, 503, "llm_unavailable", true).await;
    assert_eq!(
        failure.retry_after(),
        Some("1"),
        "Gemini's retryDelay becomes Retry-After"
    );
    assert_eq!(app.outcomes().await, times("429", 3));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two honoured 1 s waits"
    );
}

#[tokio::test]
async fn a_429_without_retry_info_is_a_503_llm_unavailable_without_retry_after() {
    let knobs = json!({"fail": "429_no_retry_info"});
    let (app, failure) = failed_send(knobs, 503, "llm_unavailable", true).await;
    assert_eq!(failure.retry_after(), None);
    assert_eq!(app.outcomes().await, times("429_no_retry_info", 3));
}

#[tokio::test]
async fn a_500_that_persists_is_a_503_llm_unavailable_after_three_attempts() {
    let (app, _) = failed_send(json!({"fail": "500"}), 503, "llm_unavailable", true).await;
    assert_eq!(app.outcomes().await, times("500", 3));
}

#[tokio::test]
async fn a_503_that_persists_is_a_503_llm_unavailable_after_three_attempts() {
    let (app, _) = failed_send(json!({"fail": "503"}), 503, "llm_unavailable", true).await;
    assert_eq!(app.outcomes().await, times("503", 3));
}

#[tokio::test]
async fn a_504_deadline_exceeded_is_a_504_llm_timeout_and_is_not_retried() {
    let (app, _) = failed_send(json!({"fail": "504"}), 504, "llm_timeout", true).await;
    assert_eq!(app.outcomes().await, times("504", 1));
}

#[tokio::test]
async fn a_model_that_never_answers_is_a_504_llm_timeout_at_the_first_byte_timeout() {
    let started = Instant::now();
    let (app, _) = failed_send(json!({"fail": "timeout"}), 504, "llm_timeout", true).await;
    let elapsed = started.elapsed();
    assert_eq!(
        app.outcomes().await,
        times("timeout", 1),
        "a timeout is not retried"
    );
    assert!(
        elapsed >= Duration::from_secs(2),
        "waited the 2 s first-byte timeout: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(8),
        "gave up before the 8 s budget: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_reset_connection_that_persists_is_a_503_llm_unavailable_after_three_attempts() {
    let (app, _) = failed_send(json!({"fail": "reset"}), 503, "llm_unavailable", true).await;
    assert_eq!(app.outcomes().await, times("reset", 3));
}

#[tokio::test]
async fn a_200_with_malformed_json_is_a_502_llm_error_and_is_not_retried() {
    let (app, _) = failed_send(json!({"fail": "malformed"}), 502, "llm_error", false).await;
    assert_eq!(app.outcomes().await, times("malformed", 1));
}

#[tokio::test]
async fn a_blocked_prompt_is_a_502_llm_blocked() {
    let (app, failure) = failed_send(json!({"fail": "blocked"}), 502, "llm_blocked", false).await;
    assert_eq!(app.outcomes().await, times("blocked", 1));
    let message = failure.error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("SAFETY"),
        "the block reason is named: {message}"
    );
}

#[tokio::test]
async fn a_safety_stop_with_no_text_is_a_502_llm_blocked() {
    let (app, _) = failed_send(json!({"fail": "safety_stop"}), 502, "llm_blocked", false).await;
    assert_eq!(app.outcomes().await, times("safety_stop", 1));
}

#[tokio::test]
async fn a_reply_body_cut_off_mid_way_is_a_503_llm_unavailable() {
    // Half of the announced body, then the socket drops: the connection broke
    // after the answer started, which is reported as unavailable (retryable).
    let (app, _) = failed_send(json!({"fail": "cut_stream"}), 503, "llm_unavailable", true).await;
    assert_eq!(
        app.outcomes().await,
        times("cut_stream", 1),
        "the answer had started"
    );
}

#[tokio::test]
async fn a_reply_body_cut_off_by_a_reset_is_a_503_llm_unavailable() {
    let knobs = json!({"fail": "cut_stream_reset"});
    let (app, _) = failed_send(knobs, 503, "llm_unavailable", true).await;
    assert_eq!(app.outcomes().await, times("cut_stream_reset", 1));
}

#[tokio::test]
async fn a_stream_error_knob_on_a_plain_send_is_a_503_llm_unavailable_after_three_attempts() {
    let knobs = json!({"fail": "stream_error"});
    let (app, _) = failed_send(knobs, 503, "llm_unavailable", true).await;
    assert_eq!(app.outcomes().await, times("stream_error", 3));
}

#[tokio::test]
async fn the_next_turn_after_a_failure_succeeds_and_its_window_has_both_user_messages() {
    // Arrange
    let (app, _) = failed_send(json!({"fail": "400"}), 502, "llm_error", false).await;

    // Act
    let turn = app.send_ok("second try").await;

    // Assert
    assert_eq!(turn["assistant_message"]["finish_reason"], "stop");
    let calls = app.fake.model_calls().await;
    let contents = calls.last().expect("a call")["contents"]
        .as_array()
        .expect("contents")
        .clone();
    let roles: Vec<&Value> = contents.iter().map(|c| &c["role"]).collect();
    assert_eq!(
        roles,
        [&json!("user"), &json!("user")],
        "the failed turn's message stays in the window"
    );
    assert_eq!(contents[1]["parts"], json!([{"text": "second try"}]));
}

#[tokio::test]
async fn a_429_asking_to_wait_past_the_turns_budget_gives_up_at_once_with_its_retry_after() {
    // 37 s is more than the 8 s budget: waiting would be pointless.
    let started = Instant::now();
    let knobs = json!({"fail": "429", "retry_delay": "37s"});
    let (app, failure) = failed_send(knobs, 503, "llm_unavailable", true).await;
    assert_eq!(
        failure.retry_after(),
        Some("37"),
        "Gemini's own delay, for the client"
    );
    assert_eq!(app.outcomes().await, times("429", 1));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "no pointless wait"
    );
}

#[tokio::test]
async fn an_agent_whose_model_gemini_does_not_know_gets_a_502_llm_error() {
    // Arrange
    let agent = json!({"name": "Future", "system_prompt": "Hi.", "model": "gemini-9-ultra"});
    let app = spawn_app_with_agent(agent).await;

    // Act
    let failure = app.send_failing("hello").await;

    // Assert
    assert_eq!(
        (failure.status, &failure.error["code"]),
        (502, &json!("llm_error"))
    );
    app.assert_only_user_message("hello").await;
    let calls = app.fake.model_calls().await;
    assert_eq!(calls.len(), 1, "not retried");
    assert_eq!(
        calls[0]["path"],
        "/v1beta/models/gemini-9-ultra:generateContent"
    );
    assert_eq!(calls[0]["outcome"], "model_not_found");
}
