//! Mass assignment: fields the server chooses (ids, owners, timestamps,
//! `seq`, `role`, `message_count`, …), sent in create and update bodies,
//! are ignored (poem-openapi ignores unknown fields; the contract names no
//! rejection), and what is stored is what the server chose.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{id, keys};
use crate::helpers::{
    assert_error, json_with_status, new_client, spawn_app, unique_email, PASSWORD,
};

/// A timestamp no honest server would choose now.
const FORGED_TIME: &str = "2001-02-03T04:05:06Z";

/// Every field the server owns, set to values that would hurt if obeyed:
/// `forged` as every id, `owner` as every owner.
fn server_fields(forged: &str, owner: &str) -> Value {
    json!({
        "id": forged,
        "owner": owner,
        "owner_id": owner,
        "user_id": owner,
        "project_id": forged,
        "agent_id": forged,
        "session_id": forged,
        "created_at": FORGED_TIME,
        "updated_at": FORGED_TIME,
        "seq": 42,
        "role": "assistant",
        "message_count": 99,
        "model": "forged-model",
        "finish_reason": "safety",
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "is_admin": true,
        "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$forged$forged",
    })
}

/// `server_fields`, with `body`'s fields on top.
fn forged_body(forged: &str, owner: &str, body: Value) -> Value {
    let mut all = server_fields(forged, owner);
    if let (Some(all), Some(body)) = (all.as_object_mut(), body.as_object()) {
        all.extend(body.clone());
    }
    all
}

/// Asserts the timestamp is the server's, taken during this test.
fn assert_fresh(v: &Value, field: &str) {
    let text = v[field].as_str().unwrap_or_default();
    let t = DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{field} {text:?} is not RFC 3339: {e}"));
    let age = Utc::now().signed_duration_since(t);
    assert!(
        age < chrono::Duration::minutes(10) && age > chrono::Duration::minutes(-1),
        "{field} is the server's clock, not the client's: {v}"
    );
}

#[tokio::test]
async fn server_chosen_fields_in_project_bodies_are_ignored() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let other = app.other_user().await;
    let forged = uuid::Uuid::now_v7().to_string();
    let body = forged_body(
        &forged,
        &other.id,
        json!({"name": "Mine", "description": "d"}),
    );

    // Act
    let created = app.post(&app.client, "/api/projects", &body).await;
    let created = json_with_status(created, 201).await;
    let path = format!("/api/projects/{}", id(&created));
    let patch = forged_body(&forged, &other.id, json!({"name": "Renamed"}));
    let patched = json_with_status(app.patch(&app.client, &path, &patch).await, 200).await;

    // Assert
    assert_eq!(
        keys(&created),
        ["created_at", "description", "id", "name", "updated_at"]
    );
    assert_ne!(id(&created), forged, "the server chose the id");
    assert_fresh(&created, "created_at");
    assert_fresh(&created, "updated_at");
    assert_eq!(patched["id"], created["id"], "a PATCH cannot move it");
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_eq!(patched["name"], "Renamed", "the real field still applies");
    assert_fresh(&patched, "updated_at");
    assert_eq!(
        json_with_status(app.get(&app.client, &path).await, 200).await,
        patched,
        "what is stored is what was answered"
    );
    assert_error(
        app.get(&app.client, &format!("/api/projects/{forged}"))
            .await,
        404,
        "not_found",
    )
    .await;
    let theirs = json_with_status(app.get(&other.client, "/api/projects").await, 200).await;
    assert_eq!(
        theirs["data"],
        json!([]),
        "it was not given to {}",
        other.id
    );
    assert_error(app.get(&other.client, &path).await, 404, "not_found").await;
}

#[tokio::test]
async fn server_chosen_fields_in_agent_bodies_are_ignored() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let other = app.other_user().await;
    let home = app.create_project(&app.client, "Home").await;
    let elsewhere = app.create_project(&app.client, "Elsewhere").await;
    let forged = id(&elsewhere).to_owned();
    let body = forged_body(
        &forged,
        &other.id,
        json!({"name": "Bot", "system_prompt": "S"}),
    );

    // Act
    let agent = app.create_agent(&app.client, id(&home), &body).await;
    let path = format!("/api/agents/{}", id(&agent));
    let patch = forged_body(&forged, &other.id, json!({"system_prompt": "T"}));
    let patched = json_with_status(app.patch(&app.client, &path, &patch).await, 200).await;

    // Assert
    assert_eq!(
        agent["project_id"],
        id(&home),
        "the path decides the project"
    );
    assert_ne!(id(&agent), forged);
    assert_eq!(agent["model"], "forged-model", "`model` is a create field");
    assert_fresh(&agent, "created_at");
    assert_eq!(patched["project_id"], id(&home), "a PATCH cannot move it");
    assert_eq!(patched["id"], agent["id"]);
    assert_eq!(patched["created_at"], agent["created_at"]);
    assert_eq!(patched["system_prompt"], "T");
    assert_eq!(
        json_with_status(app.get(&app.client, &path).await, 200).await,
        patched
    );
    let moved = app
        .get(
            &app.client,
            &format!("/api/projects/{}/agents", id(&elsewhere)),
        )
        .await;
    assert_eq!(json_with_status(moved, 200).await["data"], json!([]));
    assert_error(app.get(&other.client, &path).await, 404, "not_found").await;
}

#[tokio::test]
async fn server_chosen_fields_in_chat_session_bodies_are_ignored() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let other = app.other_user().await;
    let fx = app.fixture(&app.client).await;
    let decoy = app.fixture(&app.client).await;
    let forged = decoy.agent_id().to_owned();
    let body = forged_body(&forged, &other.id, json!({"title": "T"}));

    // Act
    let started = app
        .post(
            &app.client,
            &format!("/api/chat/start/{}", fx.agent_id()),
            &body,
        )
        .await;
    let session = json_with_status(started, 201).await;
    let path = format!("/api/chat/{}", id(&session));
    let patch = forged_body(&forged, &other.id, json!({"title": "U"}));
    let patched = json_with_status(app.patch(&app.client, &path, &patch).await, 200).await;

    // Assert
    assert_eq!(
        session["agent_id"],
        fx.agent_id(),
        "the path decides the agent"
    );
    assert_eq!(session["project_id"], fx.project_id());
    assert_eq!(session["message_count"], 0);
    assert_eq!(session["title"], "T");
    assert_ne!(id(&session), forged);
    assert_fresh(&session, "created_at");
    assert_eq!(patched["agent_id"], fx.agent_id());
    assert_eq!(patched["message_count"], 0);
    assert_eq!(patched["id"], session["id"]);
    assert_eq!(patched["created_at"], session["created_at"]);
    assert_eq!(patched["title"], "U");
    assert_eq!(
        json_with_status(app.get(&app.client, &path).await, 200).await,
        patched
    );
    let decoys = app
        .get(
            &app.client,
            &format!("/api/agents/{}/sessions", decoy.agent_id()),
        )
        .await;
    let decoys = json_with_status(decoys, 200).await;
    assert_eq!(
        decoys["data"].as_array().map(Vec::len),
        Some(1),
        "only the decoy's own session: {decoys}"
    );
}

#[tokio::test]
async fn server_chosen_fields_in_message_bodies_are_ignored() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let other = app.other_user().await;
    let fx = app.fixture(&app.client).await;
    let decoy = app.fixture(&app.client).await;
    let forged = decoy.session_id().to_owned();
    let body = forged_body(&forged, &other.id, json!({"content": "hello"}));

    // Act
    let sent = app
        .post(
            &app.client,
            &format!("/api/chat/{}/message", fx.session_id()),
            &body,
        )
        .await;
    let turn = json_with_status(sent, 201).await;

    // Assert
    let user = &turn["user_message"];
    let reply = &turn["assistant_message"];
    assert_eq!(user["role"], "user", "{turn}");
    assert_eq!(user["seq"], 1);
    assert_eq!(user["session_id"], fx.session_id());
    assert_ne!(id(user), forged);
    assert_fresh(user, "created_at");
    for field in ["model", "finish_reason", "usage", "context"] {
        assert!(
            user.get(field).is_none(),
            "{field} on a user message: {user}"
        );
    }
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["seq"], 2);
    assert_eq!(reply["content"], "echo: hello");
    assert_eq!(reply["finish_reason"], "stop");
    assert_ne!(reply["model"], "forged-model");
    let history = app.history(&app.client, fx.session_id()).await;
    assert_eq!(history, vec![user.clone(), reply.clone()]);
    assert!(app
        .history(&app.client, decoy.session_id())
        .await
        .is_empty());
    let session = app
        .get(&app.client, &format!("/api/chat/{}", fx.session_id()))
        .await;
    assert_eq!(json_with_status(session, 200).await["message_count"], 2);
}

#[tokio::test]
async fn server_chosen_fields_in_a_registration_are_ignored() {
    // Arrange
    let app = spawn_app().await;
    let forged = uuid::Uuid::now_v7().to_string();
    let email = unique_email();
    let body = forged_body(
        &forged,
        &forged,
        json!({"email": email, "password": PASSWORD, "name": "Eve"}),
    );

    // Act
    let registered = app.post(&app.client, "/api/auth/register", &body).await;
    let registered = json_with_status(registered, 201).await;
    let login = app.login(&new_client(), &email, PASSWORD).await;

    // Assert
    let user = &registered["user"];
    assert_eq!(keys(user), ["created_at", "email", "id", "name"]);
    assert_ne!(id(user), forged);
    assert_fresh(user, "created_at");
    assert_eq!(
        json_with_status(login, 200).await,
        registered,
        "the real password works: the forged hash was not stored"
    );
    let me = json_with_status(app.get(&app.client, "/api/auth/me").await, 200).await;
    assert_eq!(me, registered);
}
