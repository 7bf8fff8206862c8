//! Invalid projects and agents: `422 validation_failed` naming the field,
//! on create and on update, and nothing changes; every body without one of
//! its required fields, or with a field of the wrong type, names that field.

use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, unique_email, TestApp, PASSWORD};

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
    // The create answer alone carries the webhook secret.
    let mut agent = agent;
    agent.as_object_mut().map(|a| a.remove("webhook_secret"));
    assert_eq!(
        json_with_status(app.get(&app.client, &path).await, 200).await,
        agent,
        "nothing changed"
    );
}

/// The names of the request body types: internal, never in an error message.
const BODY_TYPES: [&str; 11] = [
    "CreateProject",
    "UpdateProject",
    "CreateAgent",
    "UpdateAgent",
    "RegisterRequest",
    "LoginRequest",
    "SendMessageRequest",
    "ForkChat",
    "StartChat",
    "UpdateChat",
    "Struct",
];

/// Every operation with a JSON body: its path, a valid body, its required
/// fields, and for each field of the body a value of the wrong JSON type.
async fn bodies(app: &TestApp) -> Vec<(&'static str, String, Value, Vec<&'static str>)> {
    let project = app.create_project(&app.client, "P").await;
    let agent = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": "A", "system_prompt": "S"}),
        )
        .await;
    let session = app.start_chat(&app.client, id(&agent)).await;
    let (project, agent, session) = (id(&project), id(&agent), id(&session));
    let login = json!({"email": unique_email(), "password": PASSWORD});
    vec![
        (
            "POST",
            "/api/auth/register".into(),
            login.clone(),
            vec!["email", "password"],
        ),
        (
            "POST",
            "/api/auth/login".into(),
            login.clone(),
            vec!["email", "password"],
        ),
        (
            "POST",
            "/api/auth/token".into(),
            login,
            vec!["email", "password"],
        ),
        (
            "POST",
            "/api/projects".into(),
            json!({"name": "N", "description": "D"}),
            vec!["name"],
        ),
        (
            "PATCH",
            format!("/api/projects/{project}"),
            json!({"name": "N", "description": "D"}),
            vec![],
        ),
        (
            "POST",
            format!("/api/projects/{project}/agents"),
            json!({"name": "A", "system_prompt": "S", "model": "m", "temperature": 1.0,
                   "max_output_tokens": 10, "context_messages": 5, "context_tokens": 100}),
            vec!["name", "system_prompt"],
        ),
        (
            "PATCH",
            format!("/api/agents/{agent}"),
            json!({"name": "A", "system_prompt": "S", "temperature": 1.0, "max_output_tokens": 10}),
            vec![],
        ),
        (
            "POST",
            format!("/api/chat/start/{agent}"),
            json!({"title": "T"}),
            vec![],
        ),
        (
            "PATCH",
            format!("/api/chat/{session}"),
            json!({"title": "T"}),
            vec![],
        ),
        (
            "POST",
            format!("/api/chat/{session}/message"),
            json!({"content": "hi"}),
            vec!["content"],
        ),
        (
            "POST",
            format!("/api/chat/{session}/message/stream"),
            json!({"content": "hi"}),
            vec!["content"],
        ),
        (
            "POST",
            format!("/api/chat/{session}/fork"),
            json!({"up_to_seq": 0, "title": "T"}),
            vec!["up_to_seq"],
        ),
    ]
}

/// The error message must not name a Rust type.
fn assert_no_type_names(error: &Value, case: &str) {
    let message = error["message"].as_str().unwrap_or_default();
    for name in BODY_TYPES {
        assert!(!message.contains(name), "{case}: {message:?} names {name}");
    }
}

#[tokio::test]
async fn a_body_without_a_required_field_is_422_naming_it() {
    let app = spawn_app().await;
    app.sign_up().await;

    for (method, path, body, required) in bodies(&app).await {
        for field in required {
            for (value, how) in [(None, "absent"), (Some(Value::Null), "null")] {
                // Arrange
                let mut body = body.clone();
                let object = body.as_object_mut().expect("object");
                match &value {
                    None => object.remove(field),
                    Some(v) => object.insert(field.to_owned(), v.clone()),
                };
                let case = format!("{method} {path} with `{field}` {how}");
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");

                // Act
                let resp = app.request(&app.client, method, &path, Some(&body)).await;

                // Assert
                let error = assert_error(resp, 422, "validation_failed").await;
                assert_eq!(error["param"], field, "{case}");
                assert_no_type_names(&error, &case);
            }
        }
    }
    assert_eq!(app.mock.request_count(), 0, "no turn ran");
}

#[tokio::test]
async fn a_field_of_the_wrong_json_type_is_400_naming_it() {
    let app = spawn_app().await;
    app.sign_up().await;

    for (method, path, body, _) in bodies(&app).await {
        let fields: Vec<(String, Value)> = body
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (field, valid) in fields {
            // Arrange: a string where a number is due, an object where a string is.
            let wrong = if valid.is_string() {
                json!({"x": 1})
            } else {
                json!("7")
            };
            let mut body = body.clone();
            body[&field] = wrong;
            let case = format!("{method} {path} with `{field}` of the wrong type");
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");

            // Act
            let resp = app.request(&app.client, method, &path, Some(&body)).await;

            // Assert
            let error = assert_error(resp, 400, "invalid_request").await;
            assert_eq!(error["param"], field.as_str(), "{case}");
            assert_no_type_names(&error, &case);
        }
    }
    assert_eq!(app.mock.request_count(), 0, "no turn ran");
}
