//! What the server sends to Gemini, read back from fake-gemini's
//! `/__requests`: the system prompt, the context window, the settings, the
//! endpoint and where the API key travels.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with_agent, API_KEY, SYSTEM_PROMPT};

fn roles(call: &Value) -> Vec<String> {
    let contents = call["contents"].as_array().expect("contents");
    contents
        .iter()
        .map(|c| c["role"].as_str().unwrap_or("<none>").to_owned())
        .collect()
}

fn texts(call: &Value) -> Vec<String> {
    let contents = call["contents"].as_array().expect("contents");
    contents
        .iter()
        .map(|c| {
            let parts = c["parts"].as_array().expect("parts");
            assert_eq!(parts.len(), 1, "one text part per message: {c}");
            parts[0]["text"].as_str().expect("text").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_turn_sends_the_agents_system_prompt_and_settings_with_the_key_in_a_header() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let turn = app.send_ok("hello there").await;

    // Assert
    let calls = app.fake.model_calls().await;
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call["path"],
        "/v1beta/models/gemini-3.8-flash:generateContent"
    );
    assert_eq!(call["model"], app.agent["model"], "the agent's model");
    assert_eq!(
        call["systemInstruction"],
        json!({"parts": [{"text": SYSTEM_PROMPT}]})
    );
    let settings = json!({"temperature": app.agent["temperature"], "maxOutputTokens": app.agent["max_output_tokens"],
                          "thinkingConfig": {"thinkingLevel": "LOW"}});
    assert_eq!(call["generationConfig"], settings);
    assert_eq!(
        (
            &app.agent["temperature"],
            &app.agent["max_output_tokens"],
            &app.agent["reasoning_effort"]
        ),
        (&json!(0.25), &json!(256), &json!("low")),
        "as created, with the default effort"
    );
    assert_eq!(
        call["contents"],
        json!([{"role": "user", "parts": [{"text": "hello there"}]}])
    );
    assert_eq!(
        (call["key"].as_str(), call["key_source"].as_str()),
        (Some(API_KEY), Some("header"))
    );
    assert_eq!(
        call["query"],
        json!({}),
        "nothing in the query, so no key= either"
    );
    assert_eq!(call["outcome"], "ok");
    let reply = &turn["assistant_message"];
    assert_eq!(
        reply["content"], call["reply"],
        "the reply is what the fake said"
    );
    assert_eq!(reply["model"], "gemini-3.8-flash");
    let usage = &reply["usage"];
    assert!(
        usage["prompt_tokens"].as_u64().is_some_and(|n| n > 0),
        "{usage}"
    );
    assert!(
        usage["completion_tokens"].as_u64().is_some_and(|n| n > 0),
        "{usage}"
    );
}

#[tokio::test]
async fn a_streamed_turn_calls_stream_generate_content_with_alt_sse_and_the_key_in_a_header() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let events = app.stream("hello stream").await;

    // Assert
    assert_eq!(events.last().map(|e| e.name()), Some("message.completed"));
    let calls = app.fake.model_calls().await;
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call["path"],
        "/v1beta/models/gemini-3.8-flash:streamGenerateContent"
    );
    assert_eq!(
        (call["stream"].as_bool(), call["alt"].as_str()),
        (Some(true), Some("sse"))
    );
    assert_eq!(call["query"], json!({"alt": "sse"}));
    assert_eq!(
        (call["key"].as_str(), call["key_source"].as_str()),
        (Some(API_KEY), Some("header"))
    );
    assert_eq!(
        call["systemInstruction"],
        json!({"parts": [{"text": SYSTEM_PROMPT}]})
    );
    assert_eq!(
        call["generationConfig"],
        json!({"temperature": 0.25, "maxOutputTokens": 256, "thinkingConfig": {"thinkingLevel": "LOW"}})
    );
}

#[tokio::test]
async fn the_window_alternates_user_and_model_and_ends_with_the_new_message() {
    // Arrange
    let app = spawn_app().await;
    app.send_ok("first question").await;
    app.send_ok("second question").await;

    // Act
    app.send_ok("third question").await;

    // Assert
    let calls = app.fake.model_calls().await;
    assert_eq!(calls.len(), 3);
    let history = app.history().await;
    let stored: Vec<String> = history[..5]
        .iter()
        .map(|m| m["content"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(
        texts(&calls[2]),
        stored,
        "the window is the stored conversation"
    );
    assert_eq!(roles(&calls[2]), ["user", "model", "user", "model", "user"]);
    assert_eq!(
        texts(&calls[2]).last().map(String::as_str),
        Some("third question")
    );
    assert_eq!(
        texts(&calls[1]),
        stored[..3],
        "each turn sends what came before it"
    );
}

#[tokio::test]
async fn the_window_holds_at_most_the_agents_context_messages_and_starts_with_a_user_message() {
    // Arrange
    let agent =
        json!({"name": "Short memory", "system_prompt": SYSTEM_PROMPT, "context_messages": 4});
    let app = spawn_app_with_agent(agent).await;
    app.send_ok("one").await;
    app.send_ok("two").await;

    // Act
    let turn = app.send_ok("three").await;

    // Assert: the last 4 are a1, u2, a2, u3; the window drops a1 to start with the user.
    let calls = app.fake.model_calls().await;
    let last = &calls[2];
    assert_eq!(roles(last), ["user", "model", "user"]);
    assert_eq!(texts(last)[0], "two");
    assert_eq!(texts(last)[2], "three");
    let context = &turn["assistant_message"]["context"];
    assert_eq!(
        context,
        &json!({"first_seq": 3, "last_seq": 5, "messages": 3}),
        "what was sent"
    );
}

#[tokio::test]
async fn an_agent_without_settings_sends_only_its_thinking_level_then_nothing() {
    // Arrange: no sampling settings; the default reasoning effort only.
    let agent = json!({"name": "Plain", "system_prompt": SYSTEM_PROMPT});
    let app = spawn_app_with_agent(agent).await;
    assert_eq!(
        (
            &app.agent["temperature"],
            &app.agent["max_output_tokens"],
            &app.agent["reasoning_effort"]
        ),
        (&Value::Null, &Value::Null, &json!("low"))
    );

    // Act: a turn, then the effort left to the model, then another turn.
    app.send_ok("hi").await;
    let path = format!("/api/agents/{}", app.agent["id"].as_str().expect("id"));
    let patched = app
        .client
        .patch(app.url(&path))
        .json(&json!({"reasoning_effort": null}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(patched.status(), 200);
    app.send_ok("again").await;

    // Assert
    let calls = app.fake.model_calls().await;
    assert_eq!(
        calls[0]["body"]["generationConfig"],
        json!({"thinkingConfig": {"thinkingLevel": "LOW"}}),
        "{}",
        calls[0]["body"]
    );
    assert_eq!(
        calls[1]["body"].get("generationConfig"),
        None,
        "absent, not null: {}",
        calls[1]["body"]
    );
}
