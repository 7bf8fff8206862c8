//! Tenancy: another user's objects, and ids that do not parse, are `404
//! not_found` on every route; nothing of the owner's changes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, Fixture, TestApp};

/// Every route that takes an id, with a body that would be valid for the owner.
fn routes(project: &str, agent: &str, session: &str) -> Vec<(Method, String, Option<Value>)> {
    let name = Some(json!({"name": "mine now"}));
    let message = Some(json!({"content": "hello"}));
    let outputs = Some(json!({"outputs": [{"tool_call_id": "c1", "output": "x"}]}));
    vec![
        (Method::GET, format!("/api/projects/{project}"), None),
        (
            Method::PATCH,
            format!("/api/projects/{project}"),
            name.clone(),
        ),
        (Method::DELETE, format!("/api/projects/{project}"), None),
        (Method::GET, format!("/api/projects/{project}/export"), None),
        (Method::GET, format!("/api/projects/{project}/agents"), None),
        (
            Method::POST,
            format!("/api/projects/{project}/agents"),
            Some(json!({"name": "x", "system_prompt": "y"})),
        ),
        (Method::GET, format!("/api/agents/{agent}"), None),
        (Method::PATCH, format!("/api/agents/{agent}"), name),
        (Method::DELETE, format!("/api/agents/{agent}"), None),
        (Method::GET, format!("/api/agents/{agent}/sessions"), None),
        (
            Method::POST,
            format!("/api/chat/start/{agent}"),
            Some(json!({"title": "t"})),
        ),
        (Method::GET, format!("/api/chat/{session}"), None),
        (
            Method::PATCH,
            format!("/api/chat/{session}"),
            Some(json!({"title": "t"})),
        ),
        (Method::DELETE, format!("/api/chat/{session}"), None),
        (
            Method::POST,
            format!("/api/chat/{session}/message"),
            message.clone(),
        ),
        (
            Method::POST,
            format!("/api/chat/{session}/message/stream"),
            message,
        ),
        (Method::GET, format!("/api/chat/{session}/messages"), None),
        (
            Method::POST,
            format!("/api/chat/{session}/tool_outputs"),
            outputs.clone(),
        ),
        (
            Method::POST,
            format!("/api/chat/{session}/tool_outputs/stream"),
            outputs,
        ),
        (Method::POST, format!("/api/chat/{session}/cancel"), None),
        (Method::GET, format!("/api/chat/{session}/context"), None),
        (
            Method::POST,
            format!("/api/chat/{session}/fork"),
            Some(json!({"up_to_seq": 0})),
        ),
    ]
}

/// The owner's objects, as the owner sees them.
async fn snapshot(app: &TestApp, fx: &Fixture) -> Vec<Value> {
    let paths = [
        format!("/api/projects/{}", fx.project_id()),
        format!("/api/agents/{}", fx.agent_id()),
        format!("/api/chat/{}", fx.session_id()),
        format!("/api/chat/{}/messages", fx.session_id()),
        "/api/projects".to_owned(),
    ];
    let mut out = Vec::new();
    for path in paths {
        out.push(json_with_status(app.get(&app.client, &path).await, 200).await);
    }
    out
}

#[tokio::test]
async fn another_users_ids_are_404_on_every_route_and_change_nothing() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "secret")
            .await
            .status(),
        201
    );
    let before = snapshot(&app, &fx).await;
    let intruder = app.other_user().await;

    for (method, path, body) in routes(fx.project_id(), fx.agent_id(), fx.session_id()) {
        // Act
        let resp = app
            .request(&intruder.client, method.clone(), &path, body.as_ref())
            .await;

        // Assert
        assert_eq!(resp.status(), 404, "{method} {path}");
        let error = assert_error(resp, 404, "not_found").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("secret") && !message.contains(fx.project_id()),
            "{method} {path}: {message}"
        );
    }
    assert_eq!(
        snapshot(&app, &fx).await,
        before,
        "the owner's objects are intact"
    );
    assert_eq!(
        app.mock.request_count(),
        1,
        "the intruder's messages never reached the model"
    );
    let theirs = json_with_status(app.get(&intruder.client, "/api/projects").await, 200).await;
    assert_eq!(
        theirs["data"],
        json!([]),
        "the intruder lists nothing of the owner's"
    );
}

#[tokio::test]
async fn malformed_ids_are_404_on_every_route() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let before = snapshot(&app, &fx).await;
    let long = "a".repeat(5000);
    let ids = [
        ("nope", "a word"),
        ("%7B%22%24ne%22%3Anull%7D", "a NoSQL operator"),
        ("..%2F..", "an encoded path traversal"),
        (long.as_str(), "5,000 characters"),
        ("%F0%9F%98%80-caf%C3%A9", "unicode"),
        ("0196F1C8E0D27C3A9B1E2F3A4B5C6D7E", "a UUID without hyphens"),
        (
            "00000000-0000-0000-0000-000000000000",
            "a well-formed id of nothing",
        ),
    ];

    for (id, case) in ids {
        for (method, path, body) in routes(id, id, id) {
            // Act
            let resp = app
                .request(&app.client, method.clone(), &path, body.as_ref())
                .await;

            // Assert
            let shown = format!("{method} {}", &path[..path.len().min(80)]);
            assert_eq!(resp.status(), 404, "{case}: {shown}");
            assert_error(resp, 404, "not_found").await;
        }
    }
    assert_eq!(
        snapshot(&app, &fx).await,
        before,
        "the owner's objects are intact"
    );
}

#[tokio::test]
async fn a_message_id_from_another_users_session_is_not_a_cursor_in_mine() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let theirs = app.fixture(&app.client).await;
    let turn = json_with_status(
        app.send_message(&app.client, theirs.session_id(), "private")
            .await,
        201,
    )
    .await;
    let intruder = app.other_user().await;
    let mine = app.fixture(&intruder.client).await;
    let foreign = turn["user_message"]["id"].as_str().expect("id");

    // Act
    let path = format!("/api/chat/{}/messages?after={foreign}", mine.session_id());
    let resp = app.get(&intruder.client, &path).await;

    // Assert
    let error = assert_error(resp, 422, "validation_failed").await;
    assert_eq!(error["param"], "after");
    assert!(!error["message"]
        .as_str()
        .unwrap_or_default()
        .contains("private"));
}
