//! Tools on agents: validation on create and update, the webhook secret,
//! and tools through export and import.

use convo_core::store::{MessageDraft, Store};
use convo_core::{
    AgentPatch, ExportRecord, FinishReason, ImportError, MockProvider, NewAgent, NewProject,
    ProviderState, Settings, ToolCall, ToolDefinition, ToolExecution, UserId, WebhookTarget,
};
use futures::StreamExt;
use serde_json::json;

use crate::support::*;

fn client_tool(name: &str) -> ToolDefinition {
    ToolDefinition {
        name: name.into(),
        description: "A tool.".into(),
        parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
        execution: ToolExecution::Client,
    }
}

fn webhook_tool(name: &str, url: &str) -> ToolDefinition {
    ToolDefinition {
        execution: ToolExecution::Webhook(WebhookTarget {
            url: url.into(),
            timeout_ms: 10_000,
        }),
        ..client_tool(name)
    }
}

fn with_tools(tools: Vec<ToolDefinition>) -> NewAgent {
    NewAgent {
        tools: Some(tools),
        ..agent("Use tools.")
    }
}

async fn project_id(w: &World) -> String {
    w.convo
        .create_project(
            &w.user,
            NewProject {
                name: "P".into(),
                description: None,
            },
        )
        .await
        .expect("project")
        .id
        .to_string()
}

fn is_webhook_secret(secret: &str) -> bool {
    // `whsec_` + standard base64 of 32 bytes: 43 characters and one `=`.
    secret.strip_prefix("whsec_").is_some_and(|b64| {
        b64.len() == 44
            && b64.ends_with('=')
            && b64[..43]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}

#[tokio::test]
async fn an_agent_keeps_its_tools_and_rounds_and_gets_a_webhook_secret() {
    // Arrange
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let tools = vec![
        client_tool("get_weather"),
        webhook_tool("lookup_order", "https://tools.example.com/orders"),
        ToolDefinition {
            execution: ToolExecution::Server,
            ..client_tool("now")
        },
    ];
    let new = NewAgent {
        max_tool_rounds: Some(3),
        ..with_tools(tools.clone())
    };

    // Act
    let created = w
        .convo
        .create_agent(&w.user, &project, new)
        .await
        .expect("create");
    let plain = w
        .convo
        .create_agent(&w.user, &project, agent("No tools."))
        .await
        .expect("create");

    // Assert
    assert_eq!(created.tools, tools);
    assert_eq!(created.max_tool_rounds, 3);
    let secret = created.webhook_secret.clone().expect("a secret on create");
    assert!(is_webhook_secret(&secret), "{secret}");
    let read = w
        .convo
        .agent(&w.user, &created.id.to_string())
        .await
        .expect("read");
    assert_eq!(read, created, "the agent reads back as created");
    assert_eq!(plain.tools, Vec::new(), "no tools by default");
    assert_eq!(plain.max_tool_rounds, 8, "8 rounds by default");
    let plain_secret = plain.webhook_secret.expect("every agent gets a secret");
    assert!(is_webhook_secret(&plain_secret));
    assert_ne!(plain_secret, secret, "each agent its own secret");
}

#[tokio::test]
async fn tool_rules_are_checked_on_create_and_update_naming_the_field() {
    // Arrange
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let target = w
        .convo
        .create_agent(&w.user, &project, with_tools(vec![client_tool("keep")]))
        .await
        .expect("create");
    let id = target.id.to_string();
    let big = "x".repeat(16 * 1024);
    let cases: Vec<(Vec<ToolDefinition>, &str)> = vec![
        (vec![client_tool("a"); 33], "tools"),
        (
            vec![client_tool("ok"), client_tool("has space")],
            "tools[1].name",
        ),
        (
            vec![client_tool("twice"), client_tool("twice")],
            "tools[1].name",
        ),
        (
            vec![ToolDefinition {
                description: "d".repeat(4097),
                ..client_tool("a")
            }],
            "tools[0].description",
        ),
        (
            vec![ToolDefinition {
                parameters: json!({"properties": {}}),
                ..client_tool("a")
            }],
            "tools[0].parameters",
        ),
        (
            vec![ToolDefinition {
                parameters: json!({"type": "object", "description": big}),
                ..client_tool("a")
            }],
            "tools[0].parameters",
        ),
        (
            vec![webhook_tool("a", "http://tools.example.com/x")],
            "tools[0].execution.url",
        ),
        (
            vec![webhook_tool("a", "https://u:p@tools.example.com/x")],
            "tools[0].execution.url",
        ),
        (
            vec![ToolDefinition {
                execution: ToolExecution::Webhook(WebhookTarget {
                    url: "https://tools.example.com/x".into(),
                    timeout_ms: 60_001,
                }),
                ..client_tool("a")
            }],
            "tools[0].execution.timeout_ms",
        ),
    ];

    for (tools, field) in cases {
        // Act
        let created = w
            .convo
            .create_agent(&w.user, &project, with_tools(tools.clone()))
            .await;
        let patch = AgentPatch {
            tools: Some(tools),
            ..Default::default()
        };
        let updated = w.convo.update_agent(&w.user, &id, patch).await;

        // Assert
        assert_invalid(created, field);
        assert_invalid(updated, field);
    }
    for rounds in [0, 33] {
        let new = NewAgent {
            max_tool_rounds: Some(rounds),
            ..agent("x")
        };
        assert_invalid(
            w.convo.create_agent(&w.user, &project, new).await,
            "max_tool_rounds",
        );
        let patch = AgentPatch {
            max_tool_rounds: Some(rounds),
            ..Default::default()
        };
        assert_invalid(
            w.convo.update_agent(&w.user, &id, patch).await,
            "max_tool_rounds",
        );
    }
    let unchanged = w.convo.agent(&w.user, &id).await.expect("read");
    assert_eq!(unchanged, target, "refused updates change nothing");
}

#[tokio::test]
async fn http_webhooks_are_accepted_only_when_private_networks_are_allowed() {
    // Arrange
    let settings = Settings {
        tools_allow_private_networks: true,
        ..Settings::default()
    };
    let w = registered_world(MockProvider::new(), settings).await;
    let project = project_id(&w).await;
    let tools = vec![webhook_tool("local", "http://127.0.0.1:9/hook")];

    // Act
    let created = w
        .convo
        .create_agent(&w.user, &project, with_tools(tools.clone()))
        .await
        .expect("http is allowed here");

    // Assert
    assert_eq!(created.tools, tools);
}

#[tokio::test]
async fn an_update_replaces_the_whole_tool_list_and_leaves_it_when_absent() {
    // Arrange
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let created = w
        .convo
        .create_agent(
            &w.user,
            &project,
            with_tools(vec![client_tool("a"), client_tool("b")]),
        )
        .await
        .expect("create");
    let id = created.id.to_string();

    // Act + Assert: other fields leave the tools.
    let renamed = w
        .convo
        .update_agent(
            &w.user,
            &id,
            AgentPatch {
                name: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(renamed.tools, created.tools);
    assert_eq!(renamed.webhook_secret, created.webhook_secret);

    // Act + Assert: a new list replaces the old one.
    let replaced = w
        .convo
        .update_agent(
            &w.user,
            &id,
            AgentPatch {
                tools: Some(vec![client_tool("c")]),
                max_tool_rounds: Some(32),
                ..Default::default()
            },
        )
        .await
        .expect("replace");
    assert_eq!(replaced.tools, vec![client_tool("c")]);
    assert_eq!(replaced.max_tool_rounds, 32);

    // Act + Assert: an empty list removes them.
    let cleared = w
        .convo
        .update_agent(
            &w.user,
            &id,
            AgentPatch {
                tools: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .expect("clear");
    assert!(cleared.tools.is_empty());
    let read = w.convo.agent(&w.user, &id).await.expect("read");
    assert_eq!(read, cleared);
}

#[tokio::test]
async fn rotating_the_webhook_secret_replaces_it_for_the_owner_only() {
    // Arrange
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let created = w
        .convo
        .create_agent(&w.user, &project, agent("x"))
        .await
        .expect("create");
    let id = created.id.to_string();
    let old = created.webhook_secret.clone().expect("a secret");

    // Act
    let new = w
        .convo
        .rotate_webhook_secret(&w.user, &id)
        .await
        .expect("rotate");
    let stranger = w.convo.rotate_webhook_secret(&UserId::new(), &id).await;
    let bad_id = w.convo.rotate_webhook_secret(&w.user, "not-an-id").await;

    // Assert
    assert!(is_webhook_secret(&new), "{new}");
    assert_ne!(new, old);
    let read = w.convo.agent(&w.user, &id).await.expect("read");
    assert_eq!(read.webhook_secret.as_deref(), Some(new.as_str()));
    assert_not_found(stranger, "another user's agent");
    assert_not_found(bad_id, "an id that does not parse");
}

#[tokio::test]
async fn an_agents_debug_output_hides_its_webhook_secret() {
    // Arrange
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let created = w
        .convo
        .create_agent(&w.user, &project, agent("x"))
        .await
        .expect("create");
    let secret = created.webhook_secret.clone().expect("a secret");

    // Act
    let printed = format!("{created:?}");

    // Assert
    assert!(!printed.contains(&secret), "{printed}");
    assert!(printed.contains("webhook_secret"), "{printed}");
    let json = serde_json::to_string(&created).expect("json");
    assert!(!json.contains(&secret), "never serialised: {json}");
}

async fn import_text(
    w: &World,
    text: String,
) -> Result<convo_core::Project, convo_core::ImportError> {
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(text.into_bytes())]);
    let records = convo_core::engine::parse_lines(chunks, 1 << 20, 1 << 16);
    w.convo.import_project(&w.user, records).await
}

async fn export_text(w: &World, project: &str) -> String {
    let records: Vec<ExportRecord> = w
        .convo
        .export_project(&w.user, project)
        .await
        .expect("export")
        .map(|r| r.expect("record"))
        .collect()
        .await;
    records
        .iter()
        .map(|r| String::from_utf8(r.to_line().expect("line")).expect("utf-8"))
        .collect()
}

#[tokio::test]
async fn tools_and_tool_messages_survive_export_and_import_without_secrets() {
    // Arrange: an agent with tools, and a turn that called one.
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let tools = vec![
        client_tool("get_weather"),
        webhook_tool("lookup_order", "https://tools.example.com/orders"),
    ];
    let source = w
        .convo
        .create_agent(
            &w.user,
            &project,
            NewAgent {
                max_tool_rounds: Some(4),
                ..with_tools(tools.clone())
            },
        )
        .await
        .expect("agent");
    let session = w
        .convo
        .start_session(&w.user, &source.id.to_string(), None)
        .await
        .expect("session");
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: json!({"city": "Paris", "$ref": "kept"}),
        provider_state: Some(ProviderState {
            provider: "gemini".into(),
            model: "m".into(),
            thought_signature: Some("c2lnbmF0dXJl".into()),
        }),
    };
    let drafts = [
        MessageDraft::user("Weather?"),
        MessageDraft {
            role: convo_core::Role::Assistant,
            content: String::new(),
            finish_reason: Some(FinishReason::ToolCalls),
            tool_calls: vec![call.clone()],
            ..MessageDraft::user("")
        },
        MessageDraft::tool_result(&call, "{\"temp_c\": 18}", false),
        MessageDraft::tool_result(&call, "timed out", true),
    ];
    for draft in drafts {
        w.store
            .append_message(&session.id, draft)
            .await
            .expect("append");
    }

    // Act
    let text = export_text(&w, &project).await;
    let imported = import_text(&w, text.clone()).await.expect("import");

    // Assert: the file carries tools, not secrets or signatures.
    assert!(
        text.starts_with("{\"type\":\"convo.export\",\"version\":2}\n"),
        "{text}"
    );
    let secret = source.webhook_secret.clone().expect("secret");
    assert!(!text.contains(&secret), "the secret is not exported");
    assert!(
        !text.contains("c2lnbmF0dXJl"),
        "signatures are not exported"
    );
    assert!(
        text.contains(r#""execution":{"type":"webhook","url":"https://tools.example.com/orders","timeout_ms":10000}"#),
        "{text}"
    );
    let agents = w
        .convo
        .list_agents(&w.user, &imported.id.to_string(), &Default::default())
        .await
        .expect("agents");
    let copy = &agents.data[0];
    assert_eq!(copy.tools, tools);
    assert_eq!(copy.max_tool_rounds, 4);
    let copy_secret = copy.webhook_secret.clone().expect("a fresh secret");
    assert!(is_webhook_secret(&copy_secret));
    assert_ne!(copy_secret, secret, "an import gets a new secret");
    let sessions = w
        .convo
        .list_sessions(&w.user, &copy.id.to_string(), &Default::default())
        .await
        .expect("sessions");
    let history = w.history(&sessions.data[0]).await;
    let original = w.history(&session).await;
    assert_eq!(history.len(), 4);
    assert_eq!(
        history[1].tool_calls,
        vec![ToolCall {
            provider_state: None,
            ..call.clone()
        }]
    );
    for (copy, original) in history.iter().zip(&original).skip(2) {
        assert_eq!(copy.role, convo_core::Role::Tool);
        assert_eq!(
            (
                &copy.tool_call_id,
                &copy.tool_name,
                copy.is_error,
                &copy.content
            ),
            (
                &original.tool_call_id,
                &original.tool_name,
                original.is_error,
                &original.content
            )
        );
    }
}

/// A hand-written file of the given version whose second message is `message`.
fn file(version: u32, agent: serde_json::Value, message: serde_json::Value) -> String {
    let lines = [
        json!({"type": "convo.export", "version": version}),
        json!({"type": "project", "id": "p1", "name": "Imported"}),
        agent,
        json!({"type": "session", "id": "s1", "agent_id": "a1"}),
        json!({"type": "message", "session_id": "s1", "seq": 1, "role": "user", "content": "hi"}),
        message,
        json!({"type": "end", "agents": 1, "sessions": 1, "messages": 2}),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn plain_agent() -> serde_json::Value {
    json!({"type": "agent", "id": "a1", "name": "A", "system_prompt": "Be kind."})
}

fn reply() -> serde_json::Value {
    json!({"type": "message", "session_id": "s1", "seq": 2, "role": "assistant", "content": "hello"})
}

#[tokio::test]
async fn a_version_1_file_still_imports_as_agents_without_tools() {
    // Arrange
    let w = world(MockProvider::new()).await;

    // Act
    let project = import_text(&w, file(1, plain_agent(), reply()))
        .await
        .expect("a version-1 file imports");
    let future = import_text(&w, file(3, plain_agent(), reply())).await;

    // Assert
    let agents = w
        .convo
        .list_agents(&w.user, &project.id.to_string(), &Default::default())
        .await
        .expect("agents");
    assert!(agents.data[0].tools.is_empty());
    assert_eq!(agents.data[0].max_tool_rounds, 8);
    match future {
        Err(ImportError::Line { line: 1, message }) => {
            assert!(message.contains("version 3"), "{message}")
        }
        other => panic!("a version-3 file is refused on line 1, got {other:?}"),
    }
}

#[tokio::test]
async fn an_import_refuses_bad_tools_and_tool_messages_naming_the_field() {
    // Arrange
    let w = world(MockProvider::new()).await;
    let tool_message = |extra: serde_json::Value| {
        let mut m = json!({"type": "message", "session_id": "s1", "seq": 2, "role": "tool", "content": "42"});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        m
    };
    let bad_agent = json!({"type": "agent", "id": "a1", "name": "A", "system_prompt": "x",
        "tools": [{"name": "ok", "parameters": {"type": "object"}, "execution": "client"},
                  {"name": "9bad", "parameters": {"type": "object"}, "execution": "client"}]});
    let cases = [
        (file(2, bad_agent, reply()), 3, "tools[1].name"),
        (
            file(2, plain_agent(), tool_message(json!({"name": "t"}))),
            6,
            "tool_call_id",
        ),
        (
            file(
                2,
                plain_agent(),
                tool_message(json!({"tool_call_id": "c1"})),
            ),
            6,
            "name",
        ),
        (
            file(
                2,
                plain_agent(),
                json!({"type": "message", "session_id": "s1", "seq": 2, "role": "user",
                       "content": "x", "tool_calls": [{"id": "c", "name": "t", "arguments": {}}]}),
            ),
            6,
            "tool_calls",
        ),
        (
            file(
                2,
                plain_agent(),
                json!({"type": "message", "session_id": "s1", "seq": 2, "role": "assistant",
                       "content": "x", "is_error": true}),
            ),
            6,
            "is_error",
        ),
    ];

    for (text, expected_line, field) in cases {
        // Act
        let result = import_text(&w, text).await;

        // Assert
        match result {
            Err(ImportError::Line { line, message }) => {
                assert_eq!(line, expected_line, "{field}: {message}");
                assert!(message.contains(field), "{field}: {message}");
            }
            other => panic!("{field}: expected a line error, got {other:?}"),
        }
    }
    let projects = w
        .convo
        .list_projects(&w.user, &Default::default())
        .await
        .expect("projects");
    assert!(projects.data.is_empty(), "nothing is left behind");

    // Act + Assert: a well-formed tool message imports.
    import_text(
        &w,
        file(
            2,
            plain_agent(),
            tool_message(json!({"tool_call_id": "c1", "name": "t", "is_error": true})),
        ),
    )
    .await
    .expect("a tool message with its call and name imports");
}

#[tokio::test]
async fn sessions_start_and_fork_with_no_pending_tool_calls() {
    // Arrange
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    w.send(&session, "hi").await.expect("turn");

    // Act
    let fork = w
        .convo
        .fork_session(&w.user, &session.id.to_string(), 2, None)
        .await
        .expect("fork");

    // Assert
    assert!(session.pending_tool_calls.is_empty());
    assert!(fork.pending_tool_calls.is_empty());
}
