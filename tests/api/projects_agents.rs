//! Projects and agents: CRUD flows, partial updates, cascades, validation.

use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, TestApp};

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn ts(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("timestamp")).expect("RFC 3339")
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

async fn status(app: &TestApp, path: &str) -> u16 {
    app.get(&app.client, path).await.status().as_u16()
}

#[tokio::test]
async fn a_project_can_be_created_read_listed_renamed_and_deleted() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;

    // Act
    let created = app
        .post(
            &app.client,
            "/api/projects",
            &json!({"name": "  Support ", "description": "tier 1"}),
        )
        .await;
    let created = json_with_status(created, 201).await;
    let path = format!("/api/projects/{}", id(&created));
    let fetched = json_with_status(app.get(&app.client, &path).await, 200).await;
    let listed = json_with_status(app.get(&app.client, "/api/projects").await, 200).await;
    let renamed = json_with_status(
        app.patch(&app.client, &path, &json!({"name": "Sales"}))
            .await,
        200,
    )
    .await;
    let deleted = app.delete(&app.client, &path).await;

    // Assert
    assert_eq!(
        keys(&created),
        ["created_at", "description", "id", "name", "updated_at"]
    );
    assert_eq!(created["name"], "Support", "names are trimmed");
    assert_eq!(created["description"], "tier 1");
    assert_eq!(fetched, created);
    assert_eq!(listed["data"], json!([created]));
    assert_eq!(renamed["name"], "Sales");
    assert_eq!(
        renamed["description"], "tier 1",
        "an absent field stays as it was"
    );
    assert_eq!(renamed["created_at"], created["created_at"]);
    assert!(
        ts(&renamed["updated_at"]) > ts(&created["updated_at"]),
        "updated_at moves on a change"
    );
    assert_eq!(deleted.status(), 204);
    assert!(
        deleted.text().await.expect("body").is_empty(),
        "204 has no body"
    );
    assert_error(app.get(&app.client, &path).await, 404, "not_found").await;
    assert_error(app.delete(&app.client, &path).await, 404, "not_found").await;
}

#[tokio::test]
async fn patching_a_project_description_keeps_its_name() {
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "Keep me").await;

    let path = format!("/api/projects/{}", id(&project));
    let patched = json_with_status(
        app.patch(&app.client, &path, &json!({"description": "new"}))
            .await,
        200,
    )
    .await;

    assert_eq!(patched["name"], "Keep me");
    assert_eq!(patched["description"], "new");
    assert_eq!(
        json_with_status(app.get(&app.client, &path).await, 200).await,
        patched,
        "the change is stored"
    );
}

#[tokio::test]
async fn an_agent_gets_the_default_model_and_context_window() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;

    // Act
    let agent = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": "Bot", "system_prompt": "Be kind."}),
        )
        .await;

    // Assert
    assert_eq!(
        keys(&agent),
        [
            "context_messages",
            "context_tokens",
            "created_at",
            "id",
            "max_output_tokens",
            "max_tool_rounds",
            "model",
            "name",
            "project_id",
            "reasoning_effort",
            "system_prompt",
            "temperature",
            "tools",
            "updated_at",
            "webhook_secret"
        ]
    );
    assert_eq!(agent["project_id"], id(&project));
    assert_eq!(agent["name"], "Bot");
    assert_eq!(agent["system_prompt"], "Be kind.");
    assert_eq!(agent["model"], "gemini-3.8-flash");
    assert_eq!(agent["reasoning_effort"], "low");
    assert_eq!(agent["context_messages"], 20);
    assert_eq!(agent["temperature"], Value::Null);
    assert_eq!(agent["max_output_tokens"], Value::Null);
}

#[tokio::test]
async fn an_agent_can_be_created_read_listed_updated_and_deleted() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let body = json!({"name": "Bot", "system_prompt": "S", "model": "gemini-3.1-pro-preview", "temperature": 0.5,
                      "max_output_tokens": 256, "context_messages": 8, "reasoning_effort": "high"});

    // Act
    let agent = app.create_agent(&app.client, id(&project), &body).await;
    let path = format!("/api/agents/{}", id(&agent));
    let fetched = json_with_status(app.get(&app.client, &path).await, 200).await;
    let listed = app
        .get(
            &app.client,
            &format!("/api/projects/{}/agents", id(&project)),
        )
        .await;
    let listed = json_with_status(listed, 200).await;
    let patched = json_with_status(
        app.patch(&app.client, &path, &json!({"temperature": 1.5}))
            .await,
        200,
    )
    .await;
    let deleted = app.delete(&app.client, &path).await;

    // Assert
    for field in [
        "model",
        "temperature",
        "max_output_tokens",
        "context_messages",
        "reasoning_effort",
    ] {
        assert_eq!(agent[field], body[field], "{field} as given");
    }
    // Only the create answer shows the webhook secret.
    let mut agent = agent;
    assert!(agent
        .as_object_mut()
        .and_then(|a| a.remove("webhook_secret"))
        .is_some());
    assert_eq!(fetched, agent);
    assert_eq!(listed["data"], json!([agent]));
    assert_eq!(patched["temperature"], 1.5);
    for field in [
        "name",
        "system_prompt",
        "model",
        "max_output_tokens",
        "context_messages",
        "reasoning_effort",
        "created_at",
    ] {
        assert_eq!(patched[field], agent[field], "PATCH leaves {field} alone");
    }
    assert_eq!(deleted.status(), 204);
    assert_error(app.get(&app.client, &path).await, 404, "not_found").await;
    let after = app
        .get(
            &app.client,
            &format!("/api/projects/{}/agents", id(&project)),
        )
        .await;
    assert_eq!(json_with_status(after, 200).await["data"], json!([]));
}

#[tokio::test]
async fn deleting_a_project_deletes_its_agents_sessions_and_messages() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "hello")
            .await
            .status(),
        201
    );
    let keep = app.fixture(&app.client).await;

    // Act
    let resp = app
        .delete(&app.client, &format!("/api/projects/{}", fx.project_id()))
        .await;

    // Assert
    assert_eq!(resp.status(), 204);
    let gone = [
        format!("/api/projects/{}", fx.project_id()),
        format!("/api/projects/{}/agents", fx.project_id()),
        format!("/api/agents/{}", fx.agent_id()),
        format!("/api/agents/{}/sessions", fx.agent_id()),
        format!("/api/chat/{}", fx.session_id()),
        format!("/api/chat/{}/messages", fx.session_id()),
    ];
    for path in gone {
        assert_eq!(
            status(&app, &path).await,
            404,
            "{path} went with its project"
        );
    }
    assert_eq!(
        status(&app, &format!("/api/chat/{}", keep.session_id())).await,
        200,
        "other projects stay"
    );
}

#[tokio::test]
async fn deleting_an_agent_deletes_its_sessions() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;

    let resp = app
        .delete(&app.client, &format!("/api/agents/{}", fx.agent_id()))
        .await;

    assert_eq!(resp.status(), 204);
    assert_eq!(
        status(&app, &format!("/api/chat/{}", fx.session_id())).await,
        404
    );
    assert_eq!(
        status(&app, &format!("/api/projects/{}", fx.project_id())).await,
        200,
        "the project stays"
    );
}
#[tokio::test]
async fn an_agents_sessions_are_listed_newest_first_and_only_its_own() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let second = app.start_chat(&app.client, fx.agent_id()).await;
    let other = app.fixture(&app.client).await;

    // Act
    let resp = app
        .get(
            &app.client,
            &format!("/api/agents/{}/sessions", fx.agent_id()),
        )
        .await;

    // Assert
    let list = json_with_status(resp, 200).await;
    assert_eq!(list["object"], "list");
    assert_eq!(
        list["data"],
        json!([second, fx.session]),
        "newest first, not {}",
        other.session_id()
    );
    assert_eq!(list["has_more"], false);
    assert_eq!(
        keys(&second),
        [
            "agent_id",
            "created_at",
            "end_user",
            "forked_from",
            "id",
            "message_count",
            "pending_tool_calls",
            "project_id",
            "title",
            "updated_at"
        ]
    );
}

#[tokio::test]
async fn a_reasoning_effort_the_model_does_not_take_is_a_422_on_that_field() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let agents = format!("/api/projects/{}/agents", id(&project));

    // Act: the default model (Gemini 3.8 Flash) takes low, medium, high; not minimal.
    let minimal = app
        .post(
            &app.client,
            &agents,
            &json!({"name": "Bot", "system_prompt": "S", "reasoning_effort": "minimal"}),
        )
        .await;
    let lite = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": "Lite", "system_prompt": "S", "model": "gemini-3.5-flash-lite",
                    "reasoning_effort": "minimal"}),
        )
        .await;
    let path = format!("/api/agents/{}", id(&lite));
    let to_flash = app
        .patch(&app.client, &path, &json!({"model": "gemini-3.8-flash"}))
        .await;
    let unchanged = json_with_status(app.get(&app.client, &path).await, 200).await;
    let moved = app
        .patch(
            &app.client,
            &path,
            &json!({"model": "gemini-3.8-flash", "reasoning_effort": "medium"}),
        )
        .await;
    let cleared = app
        .patch(&app.client, &path, &json!({"reasoning_effort": null}))
        .await;
    let unknown_level = app
        .post(
            &app.client,
            &agents,
            &json!({"name": "Bot", "system_prompt": "S", "reasoning_effort": "extreme"}),
        )
        .await;

    // Assert
    let err = assert_error(minimal, 422, "validation_failed").await;
    assert_eq!(err["param"], "reasoning_effort");
    let message = err["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("gemini-3.8-flash") && message.contains("low, medium, high"),
        "{message}"
    );
    assert_eq!(lite["reasoning_effort"], "minimal");
    let err = assert_error(to_flash, 422, "validation_failed").await;
    assert_eq!(err["param"], "reasoning_effort");
    assert_eq!(
        unchanged["model"], "gemini-3.5-flash-lite",
        "a refused PATCH changes nothing"
    );
    let moved = json_with_status(moved, 200).await;
    assert_eq!(
        (&moved["model"], &moved["reasoning_effort"]),
        (&json!("gemini-3.8-flash"), &json!("medium"))
    );
    let cleared = json_with_status(cleared, 200).await;
    assert_eq!(cleared["reasoning_effort"], Value::Null);
    let status = unknown_level.status().as_u16();
    assert!(
        status == 400 || status == 422,
        "an unknown level is refused: {status}"
    );
}
