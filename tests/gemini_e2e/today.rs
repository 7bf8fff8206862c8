//! Gemini as it is today (2026-11-30): Gemini 3 thinking levels, thought
//! signatures sent back, retired models refused, and the startup check of
//! the default model.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::log_capture::LogCapture;

/// The signature on the model turn at `index` of a recorded call, if any.
fn signature_at(call: &Value, index: usize) -> Option<String> {
    call["contents"][index]["parts"][0]["thoughtSignature"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn a_signed_answer_goes_back_with_its_signature_and_the_model_accepts_it() {
    // Arrange: fake-gemini signs every Gemini 3 answer and refuses any
    // signature it did not issue ("Corrupted thought signature").
    let app = spawn_app().await;

    // Act: a plain turn, a streamed turn, then a third turn that carries both.
    app.send_ok("first").await;
    let streamed = app.stream("second").await;
    let third = app.send_ok("third").await;

    // Assert
    assert_eq!(
        names(&streamed).last().copied(),
        Some("message.completed"),
        "{streamed:?}"
    );
    assert_eq!(third["assistant_message"]["finish_reason"], "stop");
    let calls = app.fake.model_calls().await;
    assert_eq!(calls.len(), 3);
    let first_signature = signature_at(&calls[1], 1).expect("signature of the first answer");
    assert!(!first_signature.is_empty());
    assert_eq!(
        signature_at(&calls[2], 1),
        Some(first_signature),
        "sent back unchanged"
    );
    assert!(
        signature_at(&calls[2], 3).is_some(),
        "the streamed answer's signature (on its final chunk) goes back too: {}",
        calls[2]["contents"]
    );
    for user_turn in [0, 2, 4] {
        assert_eq!(signature_at(&calls[2], user_turn), None);
    }
    // Signatures never reach API clients.
    let history = app.history().await;
    assert!(history
        .iter()
        .all(|m| m.get("provider_state").is_none() && m.get("thought_signature").is_none()));
}

#[tokio::test]
async fn the_agents_reasoning_effort_is_sent_as_the_thinking_level() {
    // Arrange
    let agent = json!({"name": "Deep", "system_prompt": SYSTEM_PROMPT, "reasoning_effort": "high"});
    let app = spawn_app_with_agent(agent).await;

    // Act
    let turn = app.send_ok("think it through").await;

    // Assert
    let calls = app.fake.model_calls().await;
    assert_eq!(
        calls[0]["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "HIGH"})
    );
    let usage = &turn["assistant_message"]["usage"];
    assert!(
        usage["thoughts_tokens"].as_u64().unwrap_or(0) > 0,
        "thinking is reported: {usage}"
    );
    assert!(
        !turn["assistant_message"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Considering"),
        "no thought summary in the answer"
    );
}

#[tokio::test]
async fn an_agent_on_a_retired_model_gets_a_502_naming_the_model_and_the_fix() {
    // Arrange: the previous default, which new API keys no longer get.
    let agent = json!({"name": "Old", "system_prompt": SYSTEM_PROMPT, "model": "gemini-2.5-flash"});
    let app = spawn_app_with_agent(agent).await;
    assert_eq!(
        app.agent["reasoning_effort"],
        Value::Null,
        "2.5 takes no level"
    );

    // Act
    let failure = app.send_failing("hello").await;

    // Assert
    assert_eq!(failure.status, 502);
    assert_eq!(failure.error["code"], "llm_error");
    let message = failure.error["message"].as_str().unwrap_or_default();
    for needle in ["`gemini-2.5-flash`", "GEMINI_MODEL", "agent's `model`"] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    app.assert_only_user_message("hello").await;
}

#[tokio::test]
async fn a_retired_default_model_is_reported_loudly_at_startup_and_the_server_still_starts() {
    // Arrange: a log capture (see `LogCapture::install`).
    let captured = LogCapture::install();

    // Act: the server starts with a default model Google no longer serves,
    // and still answers (an agent with a current model works).
    let agent =
        json!({"name": "Current", "system_prompt": SYSTEM_PROMPT, "model": "gemini-3.8-flash"});
    let app = spawn_app_configured(agent, |c| c.default_model = "gemini-2.5-flash".into()).await;
    let turn = app.send_ok("still here?").await;

    // Assert
    assert_eq!(turn["assistant_message"]["finish_reason"], "stop");
    let Some(captured) = captured else {
        eprintln!("another subscriber owns this process: nothing to check");
        return;
    };
    let line = captured
        .line_with("THE DEFAULT MODEL IS NOT AVAILABLE")
        .await
        .unwrap_or_else(|| panic!("no warning logged: {}", captured.text()));
    assert!(line.contains("gemini-2.5-flash"), "{line}");
    assert!(line.contains("ERROR"), "{line}");
    let checks = app.fake.requests().await;
    assert!(
        checks
            .iter()
            .any(|r| r["rpc"] == "countTokens" && r["model"] == "gemini-2.5-flash"),
        "asked once through countTokens"
    );
}

#[tokio::test]
async fn a_current_default_model_passes_the_startup_check_quietly() {
    // Arrange: a log capture (see `LogCapture::install`).
    let captured = LogCapture::install();

    let app = spawn_app().await;

    let Some(captured) = captured else {
        return;
    };
    let line = captured.line_with("the default model is served").await;
    assert!(line.is_some(), "{}", captured.text());
    assert!(!captured.text().contains("NOT AVAILABLE"));
    let checks = app.fake.requests().await;
    assert_eq!(
        checks.iter().filter(|r| r["rpc"] == "countTokens").count(),
        1
    );
}
