//! Hostile JSON and text: deep nesting, a 1 MB message, control characters
//! and astral-plane Unicode.

use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use super::id;
use crate::helpers::{assert_error, json_with_status, spawn_app};

#[tokio::test]
async fn deeply_nested_json_is_refused_quickly_and_the_server_lives_on() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let depth = 100_000;
    let bodies = [
        ("open arrays", "[".repeat(depth)),
        ("open objects", r#"{"a":"#.repeat(depth)),
        (
            "closed arrays",
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        ),
        (
            "nested in an unknown field",
            format!(
                r#"{{"name":"x","content":"x","extra":{}1{}}}"#,
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            ),
        ),
    ];
    let paths = [
        "/api/projects".to_owned(),
        "/api/auth/register".to_owned(),
        format!("/api/chat/{}/message", fx.session_id()),
    ];

    for path in &paths {
        for (case, body) in &bodies {
            // Act
            let started = Instant::now();
            let resp = app
                .client
                .post(app.url(path))
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("sent");

            // Assert
            let status = resp.status().as_u16();
            let code = match status {
                400 => "invalid_request",
                413 => "payload_too_large",
                other => panic!("{path}, {case}: {other}, not 400 or 413"),
            };
            assert_error(resp, status, code).await;
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{path}, {case}: answered in {:?}",
                started.elapsed()
            );
        }
    }
    assert_eq!(app.get(&app.client, "/healthz").await.status(), 200);
    let projects = json_with_status(app.get(&app.client, "/api/projects").await, 200).await;
    assert_eq!(
        projects["data"].as_array().map(Vec::len),
        Some(1),
        "only the fixture's project"
    );
    assert!(app.history(&app.client, fx.session_id()).await.is_empty());
}

/// Exactly `len` bytes of mostly multi-byte text, with a few characters
/// JSON must escape, so a cut or re-encoding anywhere shows.
fn megabyte_text(len: usize) -> String {
    let mut text = String::from("start \"quoted\" \\ back\tslash\nnew line\r\n");
    let pattern = "The quick brown fox é ü ß 中文字 😀 𝄞 e\u{301} — ";
    let mut i = 0u64;
    while text.len() + pattern.len() + 20 <= len {
        text.push_str(pattern);
        text.push_str(&i.to_string());
        i += 1;
    }
    while text.len() < len {
        text.push('x');
    }
    text
}

#[tokio::test]
async fn a_one_megabyte_message_round_trips_intact() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let content = megabyte_text(1_000_000);
    assert_eq!(content.len(), 1_000_000);
    let body_len = json!({ "content": content }).to_string().len();
    assert!(
        body_len < app.config.max_body_bytes,
        "the body ({body_len} bytes) is within the default limit"
    );

    // Act
    let sent = app
        .send_message(&app.client, fx.session_id(), &content)
        .await;
    let turn = json_with_status(sent, 201).await;
    let history = app.history(&app.client, fx.session_id()).await;

    // Assert
    let echo = format!("echo: {content}");
    let same = |v: &Value, expected: &str| v.as_str() == Some(expected);
    assert!(
        same(&turn["user_message"]["content"], &content),
        "the answer holds the message intact"
    );
    assert!(
        same(&turn["assistant_message"]["content"], &echo),
        "the mock's echo is intact"
    );
    assert_eq!(history.len(), 2);
    assert!(same(&history[0]["content"], &content), "stored intact");
    assert!(same(&history[1]["content"], &echo), "reply stored intact");
    let requests = app.mock.requests();
    let sent_to_model = requests
        .last()
        .and_then(|r| r.messages.last())
        .map(|m| m.content.as_str());
    assert!(
        sent_to_model == Some(content.as_str()),
        "the model got it intact"
    );
}

/// Control characters, a line separator, and characters outside the basic
/// plane, with combining marks and a ZWJ sequence.
const CONTROLS: &str = "\u{1}\u{1f}\t\n\r\u{7f}\u{2028}";
const UNICODE: &str = "😀 𝄞 👩‍👩‍👧 e\u{301} Z\u{35c}\u{336} 中文 عربى";

#[tokio::test]
async fn control_characters_and_astral_unicode_round_trip_intact() {
    // Arrange: names and titles are trimmed, so their odd characters sit
    // inside; free text keeps them at its edges too.
    let app = spawn_app().await;
    app.sign_up().await;
    let name = format!("Name {CONTROLS} {UNICODE} end");
    let text = format!("{CONTROLS}text {UNICODE}{CONTROLS}");
    let project_body = json!({"name": name, "description": text});

    // Act
    let project = app.post(&app.client, "/api/projects", &project_body).await;
    let project = json_with_status(project, 201).await;
    let agent = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": name, "system_prompt": text}),
        )
        .await;
    let start = app
        .post(
            &app.client,
            &format!("/api/chat/start/{}", id(&agent)),
            &json!({"title": name}),
        )
        .await;
    let session = json_with_status(start, 201).await;
    let turn = app.send_message(&app.client, id(&session), &text).await;
    let turn = json_with_status(turn, 201).await;

    // Assert
    let paths = [
        (format!("/api/projects/{}", id(&project)), project.clone()),
        (format!("/api/agents/{}", id(&agent)), agent.clone()),
        (format!("/api/chat/{}", id(&session)), session.clone()),
    ];
    for (path, created) in paths {
        let fetched = json_with_status(app.get(&app.client, &path).await, 200).await;
        let title = created.get("title").unwrap_or(&created["name"]);
        assert_eq!(title, &json!(name), "{path}: the name as sent");
        assert_eq!(
            fetched["name"], created["name"],
            "{path}: stored as answered"
        );
        assert_eq!(fetched.get("title"), created.get("title"), "{path}");
    }
    assert_eq!(project["description"], json!(text));
    assert_eq!(agent["system_prompt"], json!(text));
    assert_eq!(turn["user_message"]["content"], json!(text));
    assert_eq!(
        turn["assistant_message"]["content"],
        json!(format!("echo: {text}"))
    );
    let history = app.history(&app.client, id(&session)).await;
    assert_eq!(history[0]["content"], json!(text));
    let request = app.mock.requests().pop().expect("the model was called");
    assert_eq!(
        request.system_prompt, text,
        "the model got the prompt intact"
    );
    assert_eq!(
        request.messages.last().map(|m| m.content.clone()),
        Some(text)
    );
}
