//! Tools on agents through the API: create, read and PATCH; the 422s of
//! every rule naming its field; the webhook secret, shown once and rotated;
//! ownership of the new route and fields; the tool fields of messages and
//! sessions; export and import with tools.

use std::sync::Arc;

use convo::core::store::MessageDraft;
use convo::core::{AgentId, FinishReason, MockProvider, Role, SessionId, Store, ToolCall, UserId};
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, spawn_app_with, TestApp};

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

/// `^whsec_[A-Za-z0-9+/]{43}=$`: `whsec_` + standard base64 of 32 bytes.
fn is_webhook_secret(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| s.strip_prefix("whsec_"))
        .is_some_and(|b64| {
            b64.len() == 44
                && b64.ends_with('=')
                && b64[..43]
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
        })
}

fn client_tool(name: &str) -> Value {
    json!({"name": name, "description": "A tool.",
           "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
           "execution": "client"})
}

fn webhook_tool(name: &str, execution: Value) -> Value {
    json!({"name": name, "parameters": {"type": "object"}, "execution": execution})
}

/// The agent's webhook secret as the store keeps it.
async fn stored_secret(store: &Arc<dyn Store>, owner: &str, agent: &str) -> Option<String> {
    let owner = UserId::parse(owner).expect("user id");
    let agent = AgentId::parse(agent).expect("agent id");
    store
        .agent(&owner, &agent)
        .await
        .expect("store answers")
        .and_then(|a| a.webhook_secret)
}

#[tokio::test]
async fn tools_round_trip_through_create_read_list_and_patch() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let body = json!({"name": "Bot", "system_prompt": "S", "max_tool_rounds": 3, "tools": [
        client_tool("get_weather"),
        webhook_tool("lookup_order", json!({"type": "webhook", "url": "https://tools.example.com/o"})),
    ]});

    // Act
    let created = app.create_agent(&app.client, id(&project), &body).await;
    let path = format!("/api/agents/{}", id(&created));
    let fetched = json_with_status(app.get(&app.client, &path).await, 200).await;
    let listed = app
        .get(
            &app.client,
            &format!("/api/projects/{}/agents", id(&project)),
        )
        .await;
    let listed = json_with_status(listed, 200).await;
    let renamed = app
        .patch(&app.client, &path, &json!({"name": "Bot 2"}))
        .await;
    let renamed = json_with_status(renamed, 200).await;
    let replaced = app
        .patch(
            &app.client,
            &path,
            &json!({"tools": [client_tool("only")], "max_tool_rounds": 32}),
        )
        .await;
    let replaced = json_with_status(replaced, 200).await;
    let cleared = app.patch(&app.client, &path, &json!({"tools": []})).await;
    let cleared = json_with_status(cleared, 200).await;
    let plain = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": "P", "system_prompt": "S"}),
        )
        .await;

    // Assert
    let expected_tools = json!([
        client_tool("get_weather"),
        {"name": "lookup_order", "description": "", "parameters": {"type": "object"},
         "execution": {"type": "webhook", "url": "https://tools.example.com/o", "timeout_ms": 10000}},
    ]);
    assert_eq!(
        created["tools"], expected_tools,
        "a missing timeout is 10,000 ms"
    );
    assert_eq!(created["max_tool_rounds"], 3);
    assert!(is_webhook_secret(&created["webhook_secret"]), "{created}");
    assert_eq!(fetched["tools"], expected_tools);
    assert_eq!(fetched["max_tool_rounds"], 3);
    assert!(fetched.get("webhook_secret").is_none(), "{fetched}");
    assert!(
        listed["data"][0].get("webhook_secret").is_none(),
        "{listed}"
    );
    assert_eq!(listed["data"][0]["tools"], expected_tools);
    assert_eq!(
        renamed["tools"], expected_tools,
        "other fields leave the tools"
    );
    assert_eq!(replaced["tools"], json!([client_tool("only")]));
    assert_eq!(replaced["max_tool_rounds"], 32);
    assert!(replaced.get("webhook_secret").is_none());
    assert_eq!(cleared["tools"], json!([]));
    assert_eq!(cleared["max_tool_rounds"], 32);
    assert_eq!(
        (&plain["tools"], &plain["max_tool_rounds"]),
        (&json!([]), &json!(8))
    );
    assert!(
        is_webhook_secret(&plain["webhook_secret"]),
        "every agent has a secret"
    );
}

#[tokio::test]
async fn every_tool_rule_is_a_422_naming_its_field_on_create_and_patch() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let agents = format!("/api/projects/{}/agents", id(&project));
    let agent = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": "A", "system_prompt": "S", "tools": [client_tool("keep")]}),
        )
        .await;
    let path = format!("/api/agents/{}", id(&agent));
    let before = json_with_status(app.get(&app.client, &path).await, 200).await;
    let hook = |execution: Value| json!({"tools": [webhook_tool("hook", execution)]});
    let with_tool = |change: &dyn Fn(&mut Value)| {
        let mut tool = client_tool("t");
        change(&mut tool);
        json!({"tools": [tool]})
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"tools": vec![client_tool("t"); 33]}),
            "tools",
            "33 tools",
        ),
        (
            json!({"tools": [client_tool("1st")]}),
            "tools[0].name",
            "a name starting with a digit",
        ),
        (
            json!({"tools": [client_tool("a.b")]}),
            "tools[0].name",
            "a dot in a name",
        ),
        (
            json!({"tools": [client_tool(&"n".repeat(65))]}),
            "tools[0].name",
            "a name of 65",
        ),
        (
            json!({"tools": [client_tool("twice"), client_tool("twice")]}),
            "tools[1].name",
            "a name used twice",
        ),
        (
            with_tool(&|t| t["description"] = json!("d".repeat(4097))),
            "tools[0].description",
            "a description over 4 KiB",
        ),
        (
            with_tool(&|t| t["parameters"] = json!({"type": "array"})),
            "tools[0].parameters",
            "parameters not of type object",
        ),
        (
            with_tool(&|t| t["parameters"] = json!("{\"type\": \"object\"}")),
            "tools[0].parameters",
            "parameters as a string",
        ),
        (
            with_tool(&|t| {
                t["parameters"] = json!({"type": "object", "description": "p".repeat(16 * 1024)})
            }),
            "tools[0].parameters",
            "parameters over 16 KiB",
        ),
        (
            with_tool(&|t| t["execution"] = json!("server")),
            "tools[0].execution",
            "a server tool through the API",
        ),
        (
            hook(json!({"type": "webhook", "url": "http://tools.example.com/x"})),
            "tools[0].execution.url",
            "an http URL",
        ),
        (
            hook(json!({"type": "webhook", "url": "https://user:pw@tools.example.com/x"})),
            "tools[0].execution.url",
            "credentials in the URL",
        ),
        (
            hook(json!({"type": "webhook", "url": "tools.example.com/x"})),
            "tools[0].execution.url",
            "a relative URL",
        ),
        (
            hook(json!({"type": "webhook", "url": "https://tools.example.com/x", "timeout_ms": 0})),
            "tools[0].execution.timeout_ms",
            "a timeout of 0",
        ),
        (
            hook(
                json!({"type": "webhook", "url": "https://tools.example.com/x", "timeout_ms": 60001}),
            ),
            "tools[0].execution.timeout_ms",
            "a timeout over a minute",
        ),
        (json!({"max_tool_rounds": 0}), "max_tool_rounds", "0 rounds"),
        (
            json!({"max_tool_rounds": 33}),
            "max_tool_rounds",
            "33 rounds",
        ),
    ];

    for (fields, param, case) in cases {
        let mut create = json!({"name": "Bot", "system_prompt": "S"});
        if let (Some(body), Some(fields)) = (create.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }

        // Act
        let created = app.post(&app.client, &agents, &create).await;
        let patched = app.patch(&app.client, &path, &fields).await;

        // Assert
        let error = assert_error(created, 422, "validation_failed").await;
        assert_eq!(error["param"], param, "create with {case}: {error}");
        let error = assert_error(patched, 422, "validation_failed").await;
        assert_eq!(error["param"], param, "PATCH with {case}: {error}");
    }
    let malformed = app
        .patch(
            &app.client,
            &path,
            &with_tool(&|t| t["execution"] = json!("bogus")),
        )
        .await;
    assert_error(malformed, 400, "invalid_request").await;
    let after = json_with_status(app.get(&app.client, &path).await, 200).await;
    assert_eq!(after, before, "refused PATCHes change nothing");
    let list = json_with_status(app.get(&app.client, &agents).await, 200).await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "refused POSTs create nothing"
    );
}

#[tokio::test]
async fn http_webhooks_are_accepted_when_private_networks_are_allowed() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| {
        c.tools_allow_private_networks = true;
    })
    .await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let tools = json!([webhook_tool(
        "local",
        json!({"type": "webhook", "url": "http://127.0.0.1:9/hook", "timeout_ms": 500})
    )]);

    // Act
    let agent = app
        .create_agent(
            &app.client,
            id(&project),
            &json!({"name": "A", "system_prompt": "S", "tools": tools}),
        )
        .await;

    // Assert
    assert_eq!(
        agent["tools"][0]["execution"]["url"],
        "http://127.0.0.1:9/hook"
    );
}

#[tokio::test]
async fn the_webhook_secret_is_shown_once_and_rotation_replaces_it() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let rotate = format!("/api/agents/{}/webhook_secret", fx.agent_id());
    let first = fx.agent["webhook_secret"].clone();
    let chosen = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC1B3Rk4QnA8=";
    let body = json!({"name": "B", "system_prompt": "S", "webhook_secret": chosen});

    // Act
    let forged = app.create_agent(&app.client, fx.project_id(), &body).await;
    let rotated = json_with_status(app.post(&app.client, &rotate, &json!({})).await, 200).await;
    let again = app
        .request(&app.client, reqwest::Method::POST, &rotate, None)
        .await;
    let again = json_with_status(again, 200).await;

    // Assert
    assert!(is_webhook_secret(&first), "{first}");
    assert!(is_webhook_secret(&forged["webhook_secret"]));
    assert_ne!(
        forged["webhook_secret"], chosen,
        "a client never chooses the secret"
    );
    let keys: Vec<&String> = rotated.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["webhook_secret"], "{rotated}");
    let second = &rotated["webhook_secret"];
    assert!(is_webhook_secret(second), "{second}");
    assert_ne!(second, &first, "rotation makes a new secret");
    assert_ne!(again["webhook_secret"], *second);
    assert_eq!(
        stored_secret(&app.store, &owner.id, fx.agent_id())
            .await
            .as_deref(),
        again["webhook_secret"].as_str(),
        "the last secret shown is the one kept"
    );
    let agent = json_with_status(
        app.get(&app.client, &format!("/api/agents/{}", fx.agent_id()))
            .await,
        200,
    )
    .await;
    assert!(agent.get("webhook_secret").is_none(), "{agent}");
}

#[tokio::test]
async fn another_users_agent_is_404_on_the_new_route_and_fields_and_nothing_changes() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let stranger = app.other_user().await;
    let agent_path = format!("/api/agents/{}", fx.agent_id());
    let before = json_with_status(app.get(&app.client, &agent_path).await, 200).await;
    let secret = stored_secret(&app.store, &owner.id, fx.agent_id()).await;

    // Act + Assert
    for path in [
        format!("/api/agents/{}/webhook_secret", fx.agent_id()),
        "/api/agents/not-an-id/webhook_secret".to_owned(),
        format!("/api/agents/{}/webhook_secret", uuid::Uuid::now_v7()),
    ] {
        let resp = app.post(&stranger.client, &path, &json!({})).await;
        assert_error(resp, 404, "not_found").await;
    }
    let patch = json!({"tools": [client_tool("mine")], "max_tool_rounds": 2});
    let resp = app.patch(&stranger.client, &agent_path, &patch).await;
    assert_error(resp, 404, "not_found").await;
    let after = json_with_status(app.get(&app.client, &agent_path).await, 200).await;
    assert_eq!(after, before, "the owner's agent is unchanged");
    assert_eq!(
        stored_secret(&app.store, &owner.id, fx.agent_id()).await,
        secret,
        "the owner's secret is unchanged"
    );
}

/// Appends a tool-calling turn to a session behind the API: the user's
/// question, the call, its result and a failed one, and the answer.
async fn tool_turn(app: &TestApp, session: &str) -> ToolCall {
    let session = SessionId::parse(session).expect("session id");
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: json!({"city": "Paris", "$ref": "#/kept"}),
        provider_state: Some(convo::core::ProviderState {
            provider: "gemini".into(),
            model: "m".into(),
            thought_signature: Some("c2lnbmF0dXJl".into()),
        }),
    };
    let drafts = [
        MessageDraft::user("Weather in Paris?"),
        MessageDraft {
            role: Role::Assistant,
            content: String::new(),
            model: Some("gemini-3.8-flash".into()),
            finish_reason: Some(FinishReason::ToolCalls),
            tool_calls: vec![call.clone()],
            ..MessageDraft::user("")
        },
        MessageDraft::tool_result(&call, "{\"temp_c\": 18}", false),
        MessageDraft::tool_result(&call, "the webhook timed out", true),
        MessageDraft {
            role: Role::Assistant,
            finish_reason: Some(FinishReason::Stop),
            ..MessageDraft::user("18 °C.")
        },
    ];
    for draft in drafts {
        app.store
            .append_message(&session, draft)
            .await
            .expect("append");
    }
    call
}

#[tokio::test]
async fn messages_and_sessions_show_their_tool_fields() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let call = tool_turn(&app, fx.session_id()).await;
    let session_id = SessionId::parse(fx.session_id()).expect("id");
    app.store
        .set_pending_tool_calls(&session_id, std::slice::from_ref(&call))
        .await
        .expect("pending");
    let session_path = format!("/api/chat/{}", fx.session_id());

    // Act
    let history = app.history(&app.client, fx.session_id()).await;
    let paused = json_with_status(app.get(&app.client, &session_path).await, 200).await;
    app.store
        .set_pending_tool_calls(&session_id, &[])
        .await
        .expect("clear");
    let resumed = json_with_status(app.get(&app.client, &session_path).await, 200).await;

    // Assert
    let wire_call = json!({"id": "call_1", "name": "get_weather",
                           "arguments": {"city": "Paris", "$ref": "#/kept"}});
    let (user, asks, result, failed, answer) = (
        &history[0],
        &history[1],
        &history[2],
        &history[3],
        &history[4],
    );
    for plain in [user, answer] {
        for field in ["tool_calls", "tool_call_id", "name", "is_error"] {
            assert!(plain.get(field).is_none(), "no {field} on {plain}");
        }
    }
    assert_eq!(
        asks["tool_calls"],
        json!([wire_call]),
        "no provider state shown"
    );
    assert_eq!(asks["finish_reason"], "tool_calls");
    assert!(asks.get("is_error").is_none() && asks.get("tool_call_id").is_none());
    assert_eq!(
        (
            &result["role"],
            &result["tool_call_id"],
            &result["name"],
            &result["is_error"]
        ),
        (
            &json!("tool"),
            &json!("call_1"),
            &json!("get_weather"),
            &json!(false)
        )
    );
    assert_eq!(result["content"], "{\"temp_c\": 18}");
    assert_eq!(failed["is_error"], true);
    assert_eq!(paused["pending_tool_calls"], json!([wire_call]));
    assert_eq!(resumed["pending_tool_calls"], json!([]));
}

#[tokio::test]
async fn export_and_import_carry_tools_and_tool_messages_but_no_secret() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let tools = json!([
        client_tool("get_weather"),
        webhook_tool(
            "lookup",
            json!({"type": "webhook", "url": "https://tools.example.com/o", "timeout_ms": 2500})
        ),
    ]);
    let fx = app
        .fixture_with(
            &app.client,
            json!({"name": "Bot", "system_prompt": "S", "tools": tools, "max_tool_rounds": 5}),
        )
        .await;
    tool_turn(&app, fx.session_id()).await;
    let original = app.history(&app.client, fx.session_id()).await;

    // Act
    let export = app
        .get(
            &app.client,
            &format!("/api/projects/{}/export", fx.project_id()),
        )
        .await;
    let text = export.text().await.expect("export body");
    let imported = app
        .client
        .post(app.url("/api/projects/import"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
        .body(text.clone())
        .send()
        .await
        .expect("sent");
    let imported = json_with_status(imported, 201).await;

    // Assert
    let secret = fx.agent["webhook_secret"].as_str().expect("secret");
    assert!(!text.contains(secret), "the secret is never exported");
    assert!(!text.contains("c2lnbmF0dXJl"), "nor are signatures");
    let agents = app
        .get(
            &app.client,
            &format!("/api/projects/{}/agents", id(&imported)),
        )
        .await;
    let agents = json_with_status(agents, 200).await;
    let copy = &agents["data"][0];
    assert_eq!(copy["tools"], fx.agent["tools"]);
    assert_eq!(copy["max_tool_rounds"], 5);
    let sessions = app
        .get(&app.client, &format!("/api/agents/{}/sessions", id(copy)))
        .await;
    let sessions = json_with_status(sessions, 200).await;
    let history = app.history(&app.client, id(&sessions["data"][0])).await;
    let strip = |m: &Value| {
        let mut m = m.clone();
        if let Some(o) = m.as_object_mut() {
            for volatile in ["id", "session_id"] {
                o.remove(volatile);
            }
        }
        m
    };
    assert_eq!(
        history.iter().map(strip).collect::<Vec<_>>(),
        original.iter().map(strip).collect::<Vec<_>>(),
        "every message, tool fields included, comes back"
    );
}
