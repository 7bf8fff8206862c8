//! Invalid projects and agents: `422 validation_failed` naming the field,
//! on create and on update, and nothing changes.

use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app};

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

#[tokio::test]
async fn invalid_projects_are_422_naming_the_field() {
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let path = format!("/api/projects/{}", id(&project));
    let cases = [
        ("POST", json!({"name": ""}), "name", "empty name"),
        ("POST", json!({"name": "   "}), "name", "blank name"),
        (
            "POST",
            json!({"name": "n".repeat(201)}),
            "name",
            "name of 201 characters",
        ),
        (
            "POST",
            json!({"name": "ok", "description": "d".repeat(10_001)}),
            "description",
            "description too long",
        ),
        ("PATCH", json!({"name": ""}), "name", "renamed to empty"),
        (
            "PATCH",
            json!({"name": "n".repeat(201)}),
            "name",
            "renamed to 201 characters",
        ),
    ];
    for (method, body, param, case) in cases {
        let resp = match method {
            "POST" => app.post(&app.client, "/api/projects", &body).await,
            _ => app.patch(&app.client, &path, &body).await,
        };
        let error = assert_error(resp, 422, "validation_failed").await;
        assert_eq!(error["param"], param, "{case}");
    }
    assert_eq!(
        json_with_status(app.get(&app.client, &path).await, 200).await,
        project,
        "failed PATCHes change nothing"
    );
    let list = json_with_status(app.get(&app.client, "/api/projects").await, 200).await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "failed POSTs create nothing"
    );
}

#[tokio::test]
async fn invalid_agents_are_422_naming_the_field() {
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let agents = format!("/api/projects/{}/agents", id(&project));
    let agent = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": "A", "system_prompt": "S"}),
        )
        .await;
    let path = format!("/api/agents/{}", id(&agent));
    let with = |field: &str, value: Value| {
        let mut body = json!({"name": "Bot", "system_prompt": "S"});
        body[field] = value;
        body
    };
    let cases = [
        (with("name", json!("")), "name", "empty name"),
        (
            with("name", json!("n".repeat(201))),
            "name",
            "name of 201 characters",
        ),
        (
            with("system_prompt", json!("s".repeat(100_001))),
            "system_prompt",
            "system prompt of 100,001",
        ),
        (
            with("temperature", json!(2.5)),
            "temperature",
            "temperature 2.5",
        ),
        (
            with("temperature", json!(-1)),
            "temperature",
            "temperature -1",
        ),
        (
            with("max_output_tokens", json!(0)),
            "max_output_tokens",
            "max_output_tokens 0",
        ),
        (
            with("context_messages", json!(0)),
            "context_messages",
            "context_messages 0",
        ),
        (
            with("model", json!("has spaces")),
            "model",
            "model with spaces",
        ),
    ];
    for (body, param, case) in cases {
        let created = app.post(&app.client, &agents, &body).await;
        let error = assert_error(created, 422, "validation_failed").await;
        assert_eq!(error["param"], param, "create: {case}");
        let mut patch = body.clone();
        patch
            .as_object_mut()
            .expect("object")
            .retain(|k, _| k == param);
        let patched = app.patch(&app.client, &path, &patch).await;
        let error = assert_error(patched, 422, "validation_failed").await;
        assert_eq!(error["param"], param, "update: {case}");
    }
    assert_eq!(
        json_with_status(app.get(&app.client, &path).await, 200).await,
        agent,
        "nothing changed"
    );
}
