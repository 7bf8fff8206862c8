//! `GET /api/projects/{id}/export` and `POST /api/projects/import`: a project
//! as JSON Lines, and back as a new project.

use std::collections::HashMap;
use std::time::Instant;

use convo::core::store::MessageDraft;
use convo::core::{ContextRef, FinishReason, MockProvider, Role, SessionId, Usage};
use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, json_with_status, plain_client, spawn_app, spawn_app_with, TestApp,
};

const NDJSON: &str = "application/x-ndjson";

/// `GET /api/projects/{id}/export`, asserting 200, as text.
async fn export(app: &TestApp, client: &reqwest::Client, project_id: &str) -> String {
    let resp = app
        .get(client, &format!("/api/projects/{project_id}/export"))
        .await;
    let status = resp.status();
    let text = resp.text().await.expect("export body");
    assert_eq!(status, 200, "export failed: {text}");
    text
}

/// `POST /api/projects/import` with `body` as `content_type`.
async fn import_as(
    app: &TestApp,
    client: &reqwest::Client,
    body: String,
    content_type: &str,
) -> Response {
    client
        .post(app.url("/api/projects/import"))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("request sent")
}

/// `POST /api/projects/import` as `application/x-ndjson`.
async fn import(app: &TestApp, client: &reqwest::Client, body: String) -> Response {
    import_as(app, client, body, NDJSON).await
}

/// The ids of the caller's projects.
async fn project_ids(app: &TestApp, client: &reqwest::Client) -> Vec<String> {
    let list = json_with_status(app.get(client, "/api/projects?limit=100").await, 200).await;
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect()
}

/// An export's lines with ids replaced by their order of appearance
/// (`agent#1`, `session#2`…, references mapped alike) and the timestamps an
/// import stamps afresh (projects', agents', sessions') removed: what must
/// survive a round trip. Messages keep their `created_at`.
fn normalise(export: &str) -> Vec<Value> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut lines = Vec::new();
    for line in export.lines() {
        let mut record: Value = serde_json::from_str(line).expect("each line is JSON");
        let kind = record["type"].as_str().unwrap_or_default().to_owned();
        let object = record.as_object_mut().expect("an object");
        if let Some(id) = object.get("id").and_then(Value::as_str).map(str::to_owned) {
            let name = format!("{kind}#{}", names.len() + 1);
            names.insert(id, name.clone());
            object.insert("id".into(), json!(name));
        }
        for field in ["agent_id", "session_id"] {
            if let Some(id) = object.get(field).and_then(Value::as_str) {
                let name = names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("unknown {id}"));
                object.insert(field.into(), json!(name));
            }
        }
        if let Some(fork) = object.get_mut("forked_from").and_then(Value::as_object_mut) {
            if let Some(id) = fork.get("session_id").and_then(Value::as_str) {
                let name = names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("unknown {id}"));
                fork.insert("session_id".into(), json!(name));
            }
        }
        if kind != "message" {
            object.remove("created_at");
            object.remove("updated_at");
        }
        lines.push(record);
    }
    lines
}

/// The lines of an export, for editing.
fn lines_of(export: &str) -> Vec<String> {
    export.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn a_project_round_trips_through_export_and_import() {
    // Arrange: two agents with settings, sessions with titles, a fork, and
    // replies carrying model, finish reason, usage and context.
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app
        .fixture_with(
            &app.client,
            json!({"name": "Tuned", "system_prompt": "Be brief.", "model": "gemini-3.1-pro-preview",
                   "temperature": 0.25, "max_output_tokens": 512, "context_tokens": 4000,
                   "reasoning_effort": "high"}),
        )
        .await;
    let described = json_with_status(
        app.patch(
            &app.client,
            &format!("/api/projects/{}", fx.project_id()),
            &json!({"description": "Exported and back"}),
        )
        .await,
        200,
    )
    .await;
    let plain = app
        .create_agent(
            &app.client,
            fx.project_id(),
            &json!({"name": "Plain", "system_prompt": "Say hi.", "context_messages": 7}),
        )
        .await;
    for text in ["one", "two", "three"] {
        let sent = app.send_message(&app.client, fx.session_id(), text).await;
        assert_eq!(sent.status(), 201);
    }
    let titled = app
        .post(
            &app.client,
            &format!("/api/chat/start/{}", plain["id"].as_str().expect("id")),
            &json!({"title": "Greetings"}),
        )
        .await;
    let titled = json_with_status(titled, 201).await;
    let sent = app
        .send_message(&app.client, titled["id"].as_str().expect("id"), "hi")
        .await;
    assert_eq!(sent.status(), 201);
    let fork = app
        .post(
            &app.client,
            &format!("/api/chat/{}/fork", fx.session_id()),
            &json!({"up_to_seq": 2, "title": "take two"}),
        )
        .await;
    let fork = json_with_status(fork, 201).await;
    let sent = app
        .send_message(&app.client, fork["id"].as_str().expect("id"), "two again")
        .await;
    assert_eq!(sent.status(), 201);

    // Act
    let first = export(&app, &app.client, fx.project_id()).await;
    let created = json_with_status(import(&app, &app.client, first.clone()).await, 201).await;
    let new_id = created["id"].as_str().expect("new project id");
    let second = export(&app, &app.client, new_id).await;

    // Assert
    assert_ne!(new_id, fx.project_id(), "a new project");
    assert_eq!(created["name"], described["name"]);
    assert_eq!(created["description"], "Exported and back");
    assert_eq!(
        normalise(&first),
        normalise(&second),
        "identical modulo ids and timestamps"
    );
    let kinds: Vec<String> = normalise(&first)
        .iter()
        .map(|r| r["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("convo.export"));
    assert_eq!(kinds.last().map(String::as_str), Some("end"));
    assert_eq!(kinds.iter().filter(|k| *k == "message").count(), 6 + 2 + 4);
    let agents = json_with_status(
        app.get(
            &app.client,
            &format!("/api/projects/{new_id}/agents?order=asc"),
        )
        .await,
        200,
    )
    .await;
    let tuned = &agents["data"][0];
    assert_eq!(
        (
            &tuned["model"],
            &tuned["temperature"],
            &tuned["max_output_tokens"],
            &tuned["context_tokens"],
            &tuned["reasoning_effort"]
        ),
        (
            &json!("gemini-3.1-pro-preview"),
            &json!(0.25),
            &json!(512),
            &json!(4000),
            &json!("high")
        ),
        "agent settings survive: {tuned}"
    );
    let sessions = json_with_status(
        app.get(
            &app.client,
            &format!(
                "/api/agents/{}/sessions?order=asc",
                tuned["id"].as_str().expect("id")
            ),
        )
        .await,
        200,
    )
    .await;
    let (source, copy) = (&sessions["data"][0], &sessions["data"][1]);
    assert_eq!(copy["title"], "take two");
    assert_eq!(
        copy["forked_from"],
        json!({"session_id": source["id"], "seq": 2}),
        "a fork points at the imported source"
    );
    let history = app
        .history(&app.client, source["id"].as_str().expect("id"))
        .await;
    let reply = &history[1];
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["content"], "echo: one");
    assert_eq!(reply["finish_reason"], "stop");
    assert!(
        reply["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|t| t > 0),
        "{reply}"
    );
    assert_eq!(reply["context"]["last_seq"], 1);
}

#[tokio::test]
async fn a_project_of_10000_messages_round_trips() {
    // Arrange: 10,000 messages (alternating user and assistant with metadata),
    // written straight into the store. The file (~3 MB) is larger than the
    // default 1 MiB body limit: imports are streamed under their own limit.
    let app = spawn_app_with(MockProvider::new(), |_| {}).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let session = SessionId::parse(fx.session_id()).expect("session id");
    let started = Instant::now();
    for i in 0..10_000u64 {
        let mut draft = MessageDraft::user(format!("message number {i} with some text"));
        if i % 2 == 1 {
            draft.role = Role::Assistant;
            draft.model = Some("gemini-2.5-flash".into());
            draft.finish_reason = Some(FinishReason::Stop);
            draft.usage = Some(Usage {
                prompt_tokens: i,
                completion_tokens: 7,
                total_tokens: i + 7,
                thoughts_tokens: None,
                cached_tokens: Some(1),
            });
            draft.context = Some(ContextRef {
                first_seq: 1,
                last_seq: i,
                messages: i,
            });
        }
        app.store
            .append_message(&session, draft)
            .await
            .expect("appended");
    }
    let built = started.elapsed();

    // Act
    let started = Instant::now();
    let first = export(&app, &app.client, fx.project_id()).await;
    let exported = started.elapsed();
    let created = json_with_status(import(&app, &app.client, first.clone()).await, 201).await;
    let imported = started.elapsed() - exported;
    let second = export(&app, &app.client, created["id"].as_str().expect("id")).await;
    let total = started.elapsed();
    eprintln!(
        "10,000 messages ({} bytes): built in {built:?}, exported in {exported:?}, imported in {imported:?}, round trip {total:?}",
        first.len()
    );

    // Assert
    assert_eq!(first.lines().count(), 1 + 1 + 1 + 1 + 10_000 + 1);
    assert_eq!(normalise(&first), normalise(&second));
}

#[tokio::test]
async fn broken_files_are_refused_with_the_line_at_fault_and_leave_nothing_behind() {
    // Arrange: a valid export of one agent, one session, two messages.
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "hi")
            .await
            .status(),
        201
    );
    let good = lines_of(&export(&app, &app.client, fx.project_id()).await);
    assert_eq!(
        good.len(),
        7,
        "format, project, agent, session, 2 messages, end"
    );
    let message: Value = serde_json::from_str(&good[4]).expect("message line");
    let edited = |index: usize, f: &dyn Fn(&mut Value)| {
        let mut lines = good.clone();
        let mut record: Value = serde_json::from_str(&lines[index]).expect("json");
        f(&mut record);
        lines[index] = record.to_string();
        lines.join("\n")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "malformed JSON",
            {
                let mut lines = good.clone();
                lines[4] = "{\"type\":\"message\",".into();
                lines.join("\n")
            },
            "line 5",
        ),
        (
            "a foreign version",
            edited(0, &|r| r["version"] = json!(3)),
            "line 1",
        ),
        ("no format line", good[1..].join("\n"), "line 1"),
        ("an empty file", String::new(), "line 1"),
        (
            "not JSON Lines at all",
            "name,content\nx,y\n".into(),
            "line 1",
        ),
        (
            "a message of an unknown session",
            edited(5, &|r| r["session_id"] = json!("nope")),
            "line 6",
        ),
        (
            "a session of an unknown agent",
            edited(3, &|r| r["agent_id"] = json!("nope")),
            "line 4",
        ),
        (
            "seqs out of order",
            edited(5, &|r| r["seq"] = json!(3)),
            "line 6",
        ),
        (
            "an unknown field",
            edited(2, &|r| r["colour"] = json!("blue")),
            "line 3",
        ),
        (
            "an invalid temperature",
            edited(2, &|r| r["temperature"] = json!(9)),
            "line 3",
        ),
        (
            "blank user content",
            edited(4, &|r| r["content"] = json!("  ")),
            "line 5",
        ),
        (
            "a blank line",
            {
                let mut lines = good.clone();
                lines.insert(3, String::new());
                lines.join("\n")
            },
            "line 4",
        ),
        ("cut short", good[..6].join("\n"), "line 7"),
        (
            "wrong counts at the end",
            edited(6, &|r| r["messages"] = json!(3)),
            "line 7",
        ),
        (
            "a line after the end",
            format!("{}\n{}", good.join("\n"), good[4]),
            "line 8",
        ),
    ];
    assert_eq!(message["type"], "message");
    let before = project_ids(&app, &app.client).await;

    for (case, body, line) in cases {
        // Act
        let resp = import(&app, &app.client, body).await;

        // Assert
        let error = assert_error(resp, 422, "validation_failed").await;
        assert_eq!(error["param"], line, "{case}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{line}: ")),
            "{case}: {message}"
        );
        assert_eq!(
            project_ids(&app, &app.client).await,
            before,
            "{case}: nothing is left behind"
        );
    }
}

#[tokio::test]
async fn integers_no_store_keeps_are_refused_by_line_and_the_largest_one_round_trips() {
    // Arrange: a valid export whose reply (line 6) carries usage and context,
    // edited to hold integers beyond a signed 64-bit one (what MongoDB keeps).
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let sent = app.send_message(&app.client, fx.session_id(), "hi").await;
    assert_eq!(sent.status(), 201);
    let good = lines_of(&export(&app, &app.client, fx.project_id()).await);
    let with_numbers = |usage: u64, context: u64| {
        let mut lines = good.clone();
        let mut reply: Value = serde_json::from_str(&lines[5]).expect("reply line");
        reply["usage"] = json!({"prompt_tokens": usage, "completion_tokens": usage,
            "total_tokens": usage, "thoughts_tokens": usage, "cached_tokens": usage});
        reply["context"]["messages"] = json!(context);
        lines[5] = reply.to_string();
        lines.join("\n")
    };
    let max = u64::try_from(i64::MAX).expect("positive");
    let before = project_ids(&app, &app.client).await;

    // Act
    let usage_too_big = import(&app, &app.client, with_numbers(u64::MAX, 1)).await;
    let context_too_big = import(&app, &app.client, with_numbers(1, max + 1)).await;

    // Assert
    for (resp, field) in [
        (usage_too_big, "usage.prompt_tokens"),
        (context_too_big, "context.messages"),
    ] {
        let error = assert_error(resp, 422, "validation_failed").await;
        assert_eq!(error["param"], "line 6", "{field}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("line 6: ") && message.contains(field),
            "{field}: {message}"
        );
    }
    assert_eq!(
        project_ids(&app, &app.client).await,
        before,
        "nothing is left behind"
    );

    // Act: the largest integer every store keeps.
    let largest = import(&app, &app.client, with_numbers(max, max)).await;

    // Assert: it comes back exactly.
    let created = json_with_status(largest, 201).await;
    let again = lines_of(&export(&app, &app.client, created["id"].as_str().expect("id")).await);
    let reply: Value = serde_json::from_str(&again[5]).expect("reply line");
    assert_eq!(
        reply["usage"]["prompt_tokens"].as_u64(),
        Some(max),
        "{reply}"
    );
    assert_eq!(
        reply["usage"]["cached_tokens"].as_u64(),
        Some(max),
        "{reply}"
    );
    assert_eq!(reply["context"]["messages"].as_u64(), Some(max), "{reply}");
}

#[tokio::test]
async fn exporting_someone_elses_project_or_a_malformed_id_is_404() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let other = app.other_user().await;
    for id in [
        fx.project_id(),
        "not-an-id",
        "00000000-0000-0000-0000-000000000000",
    ] {
        let resp = app
            .get(&other.client, &format!("/api/projects/{id}/export"))
            .await;
        assert_error(resp, 404, "not_found").await;
    }
    let resp = plain_client()
        .get(app.url(&format!("/api/projects/{}/export", fx.project_id())))
        .send()
        .await
        .expect("sent");
    assert_error(resp, 401, "unauthenticated").await;
}

#[tokio::test]
async fn an_export_is_an_ndjson_attachment() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let resp = app
        .get(
            &app.client,
            &format!("/api/projects/{}/export", fx.project_id()),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), NDJSON);
    assert_eq!(
        header("content-disposition"),
        format!("attachment; filename=\"project-{}.jsonl\"", fx.project_id())
    );
    let text = resp.text().await.expect("body");
    assert_eq!(
        text.lines().next(),
        Some("{\"type\":\"convo.export\",\"version\":2}")
    );
    assert!(text.ends_with("\"messages\":0}\n"), "{text}");
}

#[tokio::test]
async fn importing_takes_the_callers_credentials_and_json_lines_only() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let file = export(&app, &app.client, fx.project_id()).await;
    let other = app.other_user().await;

    // Act / Assert: no credentials.
    let resp = import(&app, &plain_client(), file.clone()).await;
    assert_error(resp, 401, "unauthenticated").await;
    // The wrong content type.
    for content_type in ["application/json", "text/plain"] {
        let resp = import_as(&app, &app.client, file.clone(), content_type).await;
        let error = assert_error(resp, 415, "unsupported_media_type").await;
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("x-ndjson")),
            "{error}"
        );
    }
    assert_eq!(project_ids(&app, &app.client).await, [fx.project_id()]);
    // Another user imports a copy: it is theirs, not the exporter's.
    let resp = import_as(
        &app,
        &other.client,
        file,
        "application/jsonl; charset=utf-8",
    )
    .await;
    let copy = json_with_status(resp, 201).await;
    assert_eq!(
        project_ids(&app, &other.client).await,
        [copy["id"].as_str().expect("id")]
    );
    assert_eq!(project_ids(&app, &app.client).await, [fx.project_id()]);
}

#[tokio::test]
async fn an_import_over_the_size_limit_is_413_and_leaves_nothing_behind() {
    let app = spawn_app_with(MockProvider::new(), |c| c.max_body_bytes = 4096).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    // A valid file over the import limit (256 × the 4 KiB body limit = 1 MiB):
    // 300 messages of 4,000 characters.
    let session = SessionId::parse(fx.session_id()).expect("session id");
    let content = "y".repeat(4000);
    for _ in 0..300 {
        app.store
            .append_message(&session, convo_core::store::MessageDraft::user(&content))
            .await
            .expect("append");
    }
    let file = export(&app, &app.client, fx.project_id()).await;
    assert!(file.len() > 1024 * 1024, "{} bytes", file.len());
    let resp = import(&app, &app.client, file).await;
    assert_error(resp, 413, "payload_too_large").await;
    assert_eq!(project_ids(&app, &app.client).await, [fx.project_id()]);
}
