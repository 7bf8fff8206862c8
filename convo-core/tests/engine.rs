//! The engine's behaviour through its public API, on MemoryStore + MockProvider.

use std::sync::Arc;
use std::time::Duration;

use convo_core::llm::MockReply;
use convo_core::{
    AgentPatch, ChatSession, Convo, ConvoError, ExportRecord, FinishReason, ImportError,
    ListParams, LlmError, LlmReply, MemoryStore, MockProvider, NewAgent, NewProject, Order,
    ProjectPatch, ProviderState, ReasoningEffort, Role, SendMessage, Settings, Store, TurnEvent,
    UserId,
};
use futures::StreamExt;
use serde_json::json;

struct World {
    convo: Convo,
    mock: Arc<MockProvider>,
    store: Arc<MemoryStore>,
    user: UserId,
}

fn world_with(mock: MockProvider, settings: Settings) -> World {
    let mock = Arc::new(mock);
    let store = Arc::new(MemoryStore::new());
    let convo = Convo::new(store.clone(), mock.clone(), settings);
    World {
        convo,
        mock,
        store,
        user: UserId::new(),
    }
}

async fn world(mock: MockProvider) -> World {
    registered_world(mock, Settings::default()).await
}

/// A world with these settings and its owner registered.
async fn registered_world(mock: MockProvider, settings: Settings) -> World {
    let mut w = world_with(mock, settings);
    w.user = w
        .convo
        .register("owner@example.com", "password123", None)
        .await
        .expect("register")
        .id;
    w
}

/// A second engine over the world's store and model: another server process.
fn second_engine(w: &World, settings: Settings) -> Convo {
    Convo::new(w.store.clone(), w.mock.clone(), settings)
}

impl World {
    async fn session_with(&self, agent: NewAgent) -> ChatSession {
        let project = self
            .convo
            .create_project(
                &self.user,
                NewProject {
                    name: "P".into(),
                    description: None,
                },
            )
            .await
            .expect("project");
        let agent = self
            .convo
            .create_agent(&self.user, &project.id.to_string(), agent)
            .await
            .expect("agent");
        self.convo
            .start_session(&self.user, &agent.id.to_string(), Some("chat"))
            .await
            .expect("session")
    }

    async fn session(&self) -> ChatSession {
        self.session_with(agent("Be kind.")).await
    }

    async fn send(
        &self,
        session: &ChatSession,
        text: &str,
    ) -> Result<convo_core::Turn, ConvoError> {
        self.convo
            .send_message(&self.user, &session.id.to_string(), SendMessage::new(text))
            .await
    }

    async fn history(&self, session: &ChatSession) -> Vec<convo_core::Message> {
        let params = ListParams {
            limit: Some(100),
            ..Default::default()
        };
        self.convo
            .list_messages(&self.user, &session.id.to_string(), &params)
            .await
            .expect("history")
            .data
    }
}

fn agent(system_prompt: &str) -> NewAgent {
    NewAgent {
        name: "Helper".into(),
        system_prompt: system_prompt.into(),
        ..Default::default()
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, ConvoError>, expected_field: &str) {
    match result {
        Err(ConvoError::Invalid { field, .. }) => assert_eq!(field, expected_field),
        other => panic!("expected Invalid({expected_field}), got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, ConvoError>, context: &str) {
    assert!(
        matches!(result, Err(ConvoError::NotFound(_))),
        "{context}: expected NotFound, got {result:?}"
    );
}

// ---- users ----

#[tokio::test]
async fn registration_normalises_the_email_and_refuses_a_second_spelling() {
    let w = world_with(MockProvider::new(), Settings::default());
    let user = w
        .convo
        .register("  Ada@Example.COM ", "password123", Some(" Ada "))
        .await
        .expect("register");
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.name.as_deref(), Some("Ada"));
    assert!(
        user.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "OWASP argon2id: {}",
        user.password_hash
    );
    let again = w
        .convo
        .register("ADA@example.com", "another-pass", None)
        .await;
    assert!(matches!(again, Err(ConvoError::EmailTaken)), "{again:?}");
}

#[tokio::test]
async fn registration_rejects_bad_emails_and_passwords_by_field() {
    let w = world_with(MockProvider::new(), Settings::default());
    assert_invalid(
        w.convo.register("not-an-email", "password123", None).await,
        "email",
    );
    assert_invalid(w.convo.register("a@b.c", "short", None).await, "password");
    assert_invalid(
        w.convo.register("a@b.c", &"x".repeat(129), None).await,
        "password",
    );
    assert_invalid(
        w.convo
            .register("a@b.c", "password123", Some(&"n".repeat(201)))
            .await,
        "name",
    );
}

#[tokio::test]
async fn credentials_are_verified_and_every_miss_looks_the_same() {
    let w = world_with(MockProvider::new(), Settings::default());
    let user = w
        .convo
        .register("ada@example.com", "password123", None)
        .await
        .expect("register");
    let ok = w
        .convo
        .verify_credentials(" ADA@example.com", "password123")
        .await
        .expect("login");
    assert_eq!(ok.id, user.id);
    for (email, password) in [
        ("ada@example.com", "wrong-password"),
        ("bob@example.com", "password123"),
        ("garbage", "password123"),
    ] {
        let result = w.convo.verify_credentials(email, password).await;
        assert!(
            matches!(result, Err(ConvoError::InvalidCredentials)),
            "{email}/{password}: {result:?}"
        );
    }
}

// ---- resources and ownership ----

#[tokio::test]
async fn agents_get_the_configured_defaults() {
    let settings = Settings {
        default_model: "model-x".into(),
        default_context_messages: 7,
        ..Settings::default()
    };
    let mut w = world_with(MockProvider::new(), settings);
    w.user = w
        .convo
        .register("o@example.com", "password123", None)
        .await
        .expect("register")
        .id;
    let project = w
        .convo
        .create_project(
            &w.user,
            NewProject {
                name: "P".into(),
                description: None,
            },
        )
        .await
        .expect("project");
    let agent = w
        .convo
        .create_agent(&w.user, &project.id.to_string(), agent("x"))
        .await
        .expect("agent");
    assert_eq!(
        (agent.model.as_str(), agent.context_messages),
        ("model-x", 7)
    );
    assert_eq!(agent.project_id, project.id);
}

#[tokio::test]
async fn invalid_fields_are_named() {
    let w = world(MockProvider::new()).await;
    let c = &w.convo;
    assert_invalid(
        c.create_project(
            &w.user,
            NewProject {
                name: "  ".into(),
                description: None,
            },
        )
        .await,
        "name",
    );
    assert_invalid(
        c.create_project(
            &w.user,
            NewProject {
                name: "x".repeat(201),
                description: None,
            },
        )
        .await,
        "name",
    );
    let project = c
        .create_project(
            &w.user,
            NewProject {
                name: "P".into(),
                description: None,
            },
        )
        .await
        .expect("project");
    let pid = project.id.to_string();
    assert_invalid(
        c.create_agent(&w.user, &pid, agent(&"p".repeat(100_001)))
            .await,
        "system_prompt",
    );
    assert_invalid(
        c.create_agent(
            &w.user,
            &pid,
            NewAgent {
                temperature: Some(2.5),
                ..agent("x")
            },
        )
        .await,
        "temperature",
    );
    assert_invalid(
        c.create_agent(
            &w.user,
            &pid,
            NewAgent {
                max_output_tokens: Some(0),
                ..agent("x")
            },
        )
        .await,
        "max_output_tokens",
    );
    assert_invalid(
        c.create_agent(
            &w.user,
            &pid,
            NewAgent {
                context_messages: Some(0),
                ..agent("x")
            },
        )
        .await,
        "context_messages",
    );
    assert_invalid(
        c.create_agent(
            &w.user,
            &pid,
            NewAgent {
                model: Some("has space".into()),
                ..agent("x")
            },
        )
        .await,
        "model",
    );
    for limit in [0, 101] {
        assert_invalid(
            c.list_projects(
                &w.user,
                &ListParams {
                    limit: Some(limit),
                    ..Default::default()
                },
            )
            .await,
            "limit",
        );
    }
    assert_invalid(
        c.list_projects(
            &w.user,
            &ListParams {
                after: Some("nope".into()),
                ..Default::default()
            },
        )
        .await,
        "after",
    );
    let session = w.session().await;
    assert_invalid(w.send(&session, " \n ").await, "content");
    let params = ListParams {
        after: Some(convo_core::MessageId::new().to_string()),
        ..Default::default()
    };
    assert_invalid(
        c.list_messages(&w.user, &session.id.to_string(), &params)
            .await,
        "after",
    );
}

#[tokio::test]
async fn updates_change_only_the_given_fields() {
    let w = world(MockProvider::new()).await;
    let project = w
        .convo
        .create_project(
            &w.user,
            NewProject {
                name: "P".into(),
                description: Some("d".into()),
            },
        )
        .await
        .expect("p");
    let renamed = w
        .convo
        .update_project(
            &w.user,
            &project.id.to_string(),
            ProjectPatch {
                name: Some("Q".into()),
                description: None,
            },
        )
        .await
        .expect("update");
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_deref()),
        ("Q", Some("d"))
    );
    assert!(renamed.updated_at >= project.updated_at);
    let a = w
        .convo
        .create_agent(&w.user, &project.id.to_string(), agent("x"))
        .await
        .expect("agent");
    let patched = w
        .convo
        .update_agent(
            &w.user,
            &a.id.to_string(),
            AgentPatch {
                temperature: Some(0.5),
                ..Default::default()
            },
        )
        .await
        .expect("patch");
    assert_eq!(
        (
            patched.temperature,
            patched.name.as_str(),
            patched.system_prompt.as_str()
        ),
        (Some(0.5), "Helper", "x")
    );
    assert_eq!(
        w.convo
            .agent(&w.user, &a.id.to_string())
            .await
            .expect("get"),
        patched
    );
}

#[tokio::test]
async fn another_users_objects_and_malformed_ids_are_not_found() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let (sid, aid, pid) = (
        session.id.to_string(),
        session.agent_id.to_string(),
        session.project_id.to_string(),
    );
    let other = w
        .convo
        .register("other@example.com", "password123", None)
        .await
        .expect("other")
        .id;
    let c = &w.convo;
    let all = ListParams::default();
    assert_not_found(c.project(&other, &pid).await, "get project");
    assert_not_found(
        c.update_project(&other, &pid, ProjectPatch::default())
            .await,
        "update project",
    );
    assert_not_found(c.list_agents(&other, &pid, &all).await, "list agents");
    assert_not_found(
        c.create_agent(&other, &pid, agent("x")).await,
        "create agent",
    );
    assert_not_found(c.agent(&other, &aid).await, "get agent");
    assert_not_found(
        c.update_agent(&other, &aid, AgentPatch::default()).await,
        "update agent",
    );
    assert_not_found(c.list_sessions(&other, &aid, &all).await, "list sessions");
    assert_not_found(c.start_session(&other, &aid, None).await, "start session");
    assert_not_found(c.session(&other, &sid).await, "get session");
    assert_not_found(
        c.update_session(&other, &sid, Some("t")).await,
        "update session",
    );
    assert_not_found(c.list_messages(&other, &sid, &all).await, "list messages");
    assert_not_found(
        c.send_message(&other, &sid, SendMessage::new("hi")).await,
        "send",
    );
    assert_not_found(
        c.stream_message(&other, &sid, SendMessage::new("hi")).await,
        "stream",
    );
    assert_not_found(c.delete_session(&other, &sid).await, "delete session");
    assert_not_found(c.delete_agent(&other, &aid).await, "delete agent");
    assert_not_found(c.delete_project(&other, &pid).await, "delete project");
    for bad in [
        "",
        "x",
        "{\"$ne\":null}",
        "../../etc/passwd",
        "🙂",
        &"9".repeat(10_000),
    ] {
        assert_not_found(c.project(&w.user, bad).await, bad);
        assert_not_found(c.session(&w.user, bad).await, bad);
    }
    assert!(
        c.session(&w.user, &sid).await.is_ok(),
        "the owner's objects survive the attempts"
    );
    assert_eq!(
        w.mock.request_count(),
        0,
        "no model call for a refused turn"
    );
}

#[tokio::test]
async fn deleting_a_project_takes_its_agents_sessions_and_messages() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    w.send(&session, "hi").await.expect("turn");
    w.convo
        .delete_project(&w.user, &session.project_id.to_string())
        .await
        .expect("delete");
    assert_not_found(
        w.convo.agent(&w.user, &session.agent_id.to_string()).await,
        "agent",
    );
    assert_not_found(
        w.convo.session(&w.user, &session.id.to_string()).await,
        "session",
    );
    assert!(
        w.store
            .last_messages(&session.id, 10)
            .await
            .expect("store")
            .is_empty(),
        "messages are gone"
    );
    assert_not_found(
        w.convo
            .delete_project(&w.user, &session.project_id.to_string())
            .await,
        "second delete",
    );
}

#[tokio::test]
async fn lists_default_to_newest_first_and_messages_to_conversation_order() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let second = w
        .convo
        .create_project(
            &w.user,
            NewProject {
                name: "second".into(),
                description: None,
            },
        )
        .await
        .expect("p");
    let projects = w
        .convo
        .list_projects(&w.user, &ListParams::default())
        .await
        .expect("list");
    assert_eq!(projects.data.first().map(|p| p.id), Some(second.id));
    assert_eq!(projects.data.len(), 2);
    for i in 0..3 {
        w.send(&session, &format!("m{i}")).await.expect("turn");
    }
    let page = w
        .convo
        .list_messages(
            &w.user,
            &session.id.to_string(),
            &ListParams {
                limit: Some(4),
                ..Default::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(
        page.data.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(page.has_more);
    let params = ListParams {
        limit: Some(4),
        order: Some(Order::Desc),
        ..Default::default()
    };
    let page = w
        .convo
        .list_messages(&w.user, &session.id.to_string(), &params)
        .await
        .expect("page");
    assert_eq!(
        page.data.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![6, 5, 4, 3]
    );
}

// ---- turns ----

#[tokio::test]
async fn a_turn_stores_both_messages_and_sends_the_agents_settings() {
    let w = world(MockProvider::new()).await;
    let session = w
        .session_with(NewAgent {
            temperature: Some(0.3),
            max_output_tokens: Some(500),
            model: Some("gemini-2.5-flash-lite".into()),
            ..agent("You are terse.")
        })
        .await;
    let turn = w.send(&session, "Hello there").await.expect("turn");
    assert_eq!(
        (turn.user_message.seq, turn.user_message.role),
        (1, Role::User)
    );
    assert_eq!(turn.user_message.content, "Hello there");
    let reply = &turn.assistant_message;
    assert_eq!(
        (reply.seq, reply.role, reply.content.as_str()),
        (2, Role::Assistant, "echo: Hello there")
    );
    assert_eq!(reply.model.as_deref(), Some("gemini-2.5-flash-lite"));
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.expect("usage");
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    let context = reply.context.expect("context");
    assert_eq!(
        (context.first_seq, context.last_seq, context.messages),
        (1, 1, 1)
    );

    let sent = w.mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].system_prompt, "You are terse.");
    assert_eq!(
        (sent[0].temperature, sent[0].max_output_tokens),
        (Some(0.3), Some(500))
    );
    assert_eq!(sent[0].model, "gemini-2.5-flash-lite");
    assert_eq!(
        w.history(&session).await,
        vec![turn.user_message.clone(), turn.assistant_message.clone()]
    );
    let session = w
        .convo
        .session(&w.user, &session.id.to_string())
        .await
        .expect("session");
    assert_eq!(session.message_count, 2);
}

#[tokio::test]
async fn the_window_is_the_last_messages_and_starts_with_a_user_message() {
    let w = world(MockProvider::new()).await;
    let session = w
        .session_with(NewAgent {
            context_messages: Some(3),
            ..agent("x")
        })
        .await;
    for text in ["one", "two"] {
        w.send(&session, text).await.expect("turn");
    }
    let turn = w.send(&session, "three").await.expect("turn");
    let last = w.mock.requests().pop().expect("request");
    let window: Vec<(Role, &str)> = last
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        window,
        vec![
            (Role::User, "two"),
            (Role::Assistant, "echo: two"),
            (Role::User, "three")
        ]
    );
    let context = turn.assistant_message.context.expect("context");
    assert_eq!(
        (context.first_seq, context.last_seq, context.messages),
        (3, 5, 3)
    );

    // A window of 2 would start with the assistant's reply: it is trimmed to the user message.
    w.convo
        .update_agent(
            &w.user,
            &session.agent_id.to_string(),
            AgentPatch {
                context_messages: Some(2),
                ..Default::default()
            },
        )
        .await
        .expect("patch");
    w.send(&session, "four").await.expect("turn");
    let last = w.mock.requests().pop().expect("request");
    assert_eq!(last.messages.len(), 1);
    assert_eq!(
        (last.messages[0].role, last.messages[0].content.as_str()),
        (Role::User, "four")
    );
}

#[tokio::test]
async fn an_empty_reply_is_stored_honestly_and_left_out_of_later_windows() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    w.mock.push(MockReply::Reply(LlmReply {
        text: String::new(),
        finish_reason: FinishReason::MaxTokens,
        usage: None,
        model: None,
        provider_state: None,
    }));
    let turn = w.send(&session, "think hard").await.expect("turn");
    assert_eq!(
        (
            turn.assistant_message.content.as_str(),
            turn.assistant_message.finish_reason
        ),
        ("", Some(FinishReason::MaxTokens))
    );
    w.send(&session, "again").await.expect("turn");
    let last = w.mock.requests().pop().expect("request");
    let contents: Vec<&str> = last.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        vec!["think hard", "again"],
        "the empty reply is not sent back to the model"
    );
}

#[tokio::test]
async fn a_failed_model_call_keeps_the_user_message_stores_no_reply_and_frees_the_session() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let failures = [
        LlmError::Provider("bad".into()),
        LlmError::Blocked("SAFETY".into()),
        LlmError::Unavailable {
            message: "busy".into(),
            retry_after: Some(Duration::from_secs(3)),
        },
        LlmError::Timeout,
    ];
    for (i, failure) in failures.into_iter().enumerate() {
        w.mock.push(MockReply::Fail(failure.clone()));
        let result = w.send(&session, &format!("try {i}")).await;
        match result {
            Err(ConvoError::Llm(e)) => assert_eq!(e, failure),
            other => panic!("expected {failure:?}, got {other:?}"),
        }
    }
    let history = w.history(&session).await;
    assert_eq!(history.len(), 4, "four user messages, no replies");
    assert!(history.iter().all(|m| m.role == Role::User));
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    w.send(&session, "works now")
        .await
        .expect("the lock was released on every failure");
}

#[tokio::test]
async fn a_second_send_while_a_turn_runs_is_turn_in_progress() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(300))).await;
    let session = w.session().await;
    let sid = session.id.to_string();
    let (a, b) = tokio::join!(
        w.convo.send_message(&w.user, &sid, SendMessage::new("a")),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            w.convo
                .send_message(&w.user, &sid, SendMessage::new("b"))
                .await
        }
    );
    assert!(a.is_ok(), "{a:?}");
    assert!(matches!(b, Err(ConvoError::TurnInProgress)), "{b:?}");
    assert!(ConvoError::TurnInProgress.is_retryable());
    assert_eq!(
        w.history(&session).await.len(),
        2,
        "the refused send stored nothing"
    );
}

#[tokio::test]
async fn a_lock_left_by_a_crashed_holder_frees_itself_when_its_lease_ends() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    assert!(w
        .store
        .try_lock_turn(&session.id, "crashed-process", Duration::from_millis(200))
        .await
        .expect("lock"));
    assert!(matches!(
        w.send(&session, "hi").await,
        Err(ConvoError::TurnInProgress)
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.send(&session, "hi").await.expect("the lease ran out");
}

#[tokio::test]
async fn a_plain_send_completes_even_if_the_caller_goes_away() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(200))).await;
    let session = w.session().await;
    let abandoned = tokio::time::timeout(Duration::from_millis(50), w.send(&session, "hi")).await;
    assert!(abandoned.is_err(), "the caller gave up first");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let history = w.history(&session).await;
    assert_eq!(history.len(), 2, "the reply was still stored");
    w.send(&session, "next")
        .await
        .expect("and the lock released");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_result_without_calling_the_model() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let sid = session.id.to_string();
    let msg = SendMessage::new("pay once").with_idempotency_key("key-1");
    let first = w
        .convo
        .send_message(&w.user, &sid, msg.clone())
        .await
        .expect("first");
    let again = w
        .convo
        .send_message(&w.user, &sid, msg.clone())
        .await
        .expect("again");
    assert_eq!(first, again);
    assert_eq!(w.mock.request_count(), 1);
    assert_eq!(w.history(&session).await.len(), 2);

    let mut streamed = w
        .convo
        .stream_message(&w.user, &sid, msg)
        .await
        .expect("stream replay");
    let mut text = String::new();
    let mut completed = None;
    while let Some(event) = streamed.next().await {
        match event {
            TurnEvent::Delta { text: t, .. } => text.push_str(&t),
            TurnEvent::Completed { message } => completed = Some(*message),
            _ => {}
        }
    }
    assert_eq!(completed.as_ref(), Some(&first.assistant_message));
    assert_eq!(text, first.assistant_message.content);
    assert_eq!(
        w.mock.request_count(),
        1,
        "the streamed repeat did not call the model either"
    );

    let other = SendMessage::new("something else").with_idempotency_key("key-1");
    assert_invalid(
        w.convo.send_message(&w.user, &sid, other).await,
        "idempotency_key",
    );
    // Keys are per session.
    let session2 = w
        .convo
        .start_session(&w.user, &session.agent_id.to_string(), None)
        .await
        .expect("s2");
    let turn = w
        .convo
        .send_message(
            &w.user,
            &session2.id.to_string(),
            SendMessage::new("pay once").with_idempotency_key("key-1"),
        )
        .await
        .expect("other session");
    assert_eq!(turn.user_message.seq, 1);
}

#[tokio::test]
async fn retrying_a_failed_idempotent_turn_answers_the_stored_message_without_storing_it_again() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let sid = session.id.to_string();
    w.mock.push(MockReply::Fail(LlmError::Unavailable {
        message: "busy".into(),
        retry_after: None,
    }));
    let msg = SendMessage::new("retry me").with_idempotency_key("k");
    assert!(w
        .convo
        .send_message(&w.user, &sid, msg.clone())
        .await
        .is_err());
    let turn = w
        .convo
        .send_message(&w.user, &sid, msg)
        .await
        .expect("retry succeeds");
    assert_eq!((turn.user_message.seq, turn.assistant_message.seq), (1, 2));
    let history = w.history(&session).await;
    assert_eq!(
        history.len(),
        2,
        "the user message was not stored twice: {history:?}"
    );
}

#[tokio::test]
async fn fifty_concurrent_sends_to_fifty_sessions_all_succeed_with_contiguous_seqs() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(5))).await;
    let session = w.session().await;
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(
            w.convo
                .start_session(&w.user, &session.agent_id.to_string(), None)
                .await
                .expect("s"),
        );
    }
    let sends = sessions.iter().map(|s| w.send(s, "hi"));
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok));
    for s in &sessions {
        assert_eq!(
            w.history(s).await.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}

// ---- streaming ----

async fn collect(stream: convo_core::TurnStream) -> Vec<TurnEvent> {
    stream.collect().await
}

#[tokio::test]
async fn a_streamed_turn_emits_created_deltas_and_completed_in_order() {
    let w = world(MockProvider::new().with_chunks(4)).await;
    let session = w.session().await;
    let stream = w
        .convo
        .stream_message(
            &w.user,
            &session.id.to_string(),
            SendMessage::new("stream this please"),
        )
        .await
        .expect("stream");
    let events = collect(stream).await;
    let TurnEvent::Created {
        user_message,
        assistant_message_id,
    } = &events[0]
    else {
        panic!("first event: {:?}", events[0])
    };
    assert_eq!(user_message.seq, 1);
    let deltas: String = events[1..events.len() - 1]
        .iter()
        .map(|e| match e {
            TurnEvent::Delta { message_id, text } => {
                assert_eq!(message_id, assistant_message_id);
                text.as_str()
            }
            other => panic!("expected only deltas in the middle, got {other:?}"),
        })
        .collect();
    assert_eq!(events.len(), 6, "created, 4 deltas, completed");
    let TurnEvent::Completed { message } = events.last().expect("last") else {
        panic!("last: {:?}", events.last())
    };
    assert_eq!(message.id, *assistant_message_id);
    assert_eq!(deltas, message.content);
    assert_eq!(message.content, "echo: stream this please");
    assert_eq!(w.history(&session).await.last(), Some(&**message));
}

#[tokio::test]
async fn dropping_a_stream_stops_generation_and_stores_the_partial_text_as_cancelled() {
    let w = world(
        MockProvider::new()
            .with_chunks(10)
            .with_chunk_delay(Duration::from_millis(100)),
    )
    .await;
    let session = w.session().await;
    let mut stream = w
        .convo
        .stream_message(
            &w.user,
            &session.id.to_string(),
            SendMessage::new("a long answer please"),
        )
        .await
        .expect("stream");
    assert!(matches!(
        stream.next().await,
        Some(TurnEvent::Created { .. })
    ));
    let Some(TurnEvent::Delta { text: first, .. }) = stream.next().await else {
        panic!("expected a delta")
    };
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = w.history(&session).await;
    assert_eq!(history.len(), 2);
    let reply = &history[1];
    assert_eq!(reply.finish_reason, Some(FinishReason::Cancelled));
    assert!(
        reply.content.starts_with(&first),
        "{:?} starts with {first:?}",
        reply.content
    );
    assert!(
        reply.content.len() < "echo: a long answer please".len(),
        "generation stopped early: {:?}",
        reply.content
    );
    w.send(&session, "next")
        .await
        .expect("the lock was released");
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event_and_stores_no_reply() {
    let w = world(MockProvider::new().with_chunks(4)).await;
    let session = w.session().await;
    w.mock.push(MockReply::FailMidStream {
        chunks: 2,
        error: LlmError::Unavailable {
            message: "reset".into(),
            retry_after: None,
        },
    });
    let events = collect(
        w.convo
            .stream_message(&w.user, &session.id.to_string(), SendMessage::new("hello"))
            .await
            .expect("stream"),
    )
    .await;
    assert!(
        matches!(
            events.last(),
            Some(TurnEvent::Failed {
                error: ConvoError::Llm(LlmError::Unavailable { .. })
            })
        ),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TurnEvent::Delta { .. }))
            .count(),
        2
    );
    let history = w.history(&session).await;
    assert_eq!(history.len(), 1, "only the user message: {history:?}");

    w.mock.push(MockReply::Fail(LlmError::Timeout));
    let events = collect(
        w.convo
            .stream_message(&w.user, &session.id.to_string(), SendMessage::new("again"))
            .await
            .expect("stream"),
    )
    .await;
    assert_eq!(events.len(), 2, "created, then the error: {events:?}");
    assert!(matches!(
        events[1],
        TurnEvent::Failed {
            error: ConvoError::Llm(LlmError::Timeout)
        }
    ));
}

#[tokio::test]
async fn a_second_stream_while_one_runs_is_refused_before_it_opens() {
    let w = world(
        MockProvider::new()
            .with_chunks(5)
            .with_chunk_delay(Duration::from_millis(50)),
    )
    .await;
    let session = w.session().await;
    let sid = session.id.to_string();
    let running = w
        .convo
        .stream_message(&w.user, &sid, SendMessage::new("first"))
        .await
        .expect("first");
    let second = w
        .convo
        .stream_message(&w.user, &sid, SendMessage::new("second"))
        .await;
    assert!(
        matches!(second, Err(ConvoError::TurnInProgress)),
        "{second:?}"
    );
    let events = collect(running).await;
    assert!(matches!(events.last(), Some(TurnEvent::Completed { .. })));
}

/// The turn's futures stay small: every layer above (a server handler, its
/// middleware, poem's boxing) moves them, and at ~3 KiB those copies were a
/// tenth of a send's CPU time (perf, scripts/bench.sh case 3).
#[tokio::test]
async fn turn_futures_stay_small() {
    let convo = world(MockProvider::new()).await.convo;
    let user = convo_core::UserId::new();
    let send = convo.send_message(&user, "x", convo_core::SendMessage::new("hi"));
    assert!(
        std::mem::size_of_val(&send) <= 512,
        "{}",
        std::mem::size_of_val(&send)
    );
    drop(send);
    let stream = convo.stream_message(&user, "x", convo_core::SendMessage::new("hi"));
    assert!(
        std::mem::size_of_val(&stream) <= 512,
        "{}",
        std::mem::size_of_val(&stream)
    );
}

/// Reads a stream to its end: the deltas' text and the last event.
async fn drain(stream: &mut convo_core::TurnStream) -> (String, Option<TurnEvent>) {
    let mut text = String::new();
    let mut last = None;
    while let Some(event) = stream.next().await {
        if let TurnEvent::Delta { text: delta, .. } = &event {
            text.push_str(delta);
        }
        last = Some(event);
    }
    (text, last)
}

#[tokio::test]
async fn cancelling_a_streamed_turn_stores_the_text_so_far_and_completes_the_stream() {
    let w = world(
        MockProvider::new()
            .with_chunks(10)
            .with_chunk_delay(Duration::from_millis(100)),
    )
    .await;
    let session = w.session().await;
    let id = session.id.to_string();
    let mut stream = w
        .convo
        .stream_message(&w.user, &id, SendMessage::new("a long answer please"))
        .await
        .expect("stream");
    assert!(matches!(
        stream.next().await,
        Some(TurnEvent::Created { .. })
    ));
    let Some(TurnEvent::Delta { text: first, .. }) = stream.next().await else {
        panic!("expected a delta")
    };

    assert!(
        w.convo.cancel_turn(&w.user, &id).await.expect("cancel"),
        "a turn was running"
    );

    let (rest, last) = drain(&mut stream).await;
    let Some(TurnEvent::Completed { message }) = last else {
        panic!("the stream ends with the stored message, got {last:?}")
    };
    assert_eq!(message.finish_reason, Some(FinishReason::Cancelled));
    assert_eq!(
        message.content,
        format!("{first}{rest}"),
        "exactly the text streamed"
    );
    assert!(
        message.content.len() < "echo: a long answer please".len(),
        "stopped early"
    );
    let history = w.history(&session).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1], *message, "the same message is stored");
    assert!(
        !w.convo.cancel_turn(&w.user, &id).await.expect("cancel"),
        "nothing is running any more"
    );
    w.send(&session, "next")
        .await
        .expect("the lock was released");
}

#[tokio::test]
async fn a_cancel_made_through_another_engine_stops_the_turn_through_the_store() {
    // Two engines over one store: two server processes.
    let settings = Settings {
        cancel_poll: Duration::from_millis(50),
        ..Settings::default()
    };
    let w = registered_world(
        MockProvider::new()
            .with_chunks(10)
            .with_chunk_delay(Duration::from_millis(100)),
        settings.clone(),
    )
    .await;
    let (a, b, user) = (&w.convo, second_engine(&w, settings), w.user);
    let id = w.session().await.id.to_string();

    let mut stream = a
        .stream_message(&user, &id, SendMessage::new("a long answer please"))
        .await
        .expect("stream");
    assert!(matches!(
        stream.next().await,
        Some(TurnEvent::Created { .. })
    ));
    assert!(matches!(stream.next().await, Some(TurnEvent::Delta { .. })));
    assert!(
        b.cancel_turn(&user, &id).await.expect("cancel on B"),
        "B sees the running turn"
    );

    let (_, last) = drain(&mut stream).await;
    let Some(TurnEvent::Completed { message }) = last else {
        panic!("A's stream ends with the stored message, got {last:?}")
    };
    assert_eq!(message.finish_reason, Some(FinishReason::Cancelled));
    assert!(
        message.content.len() < "echo: a long answer please".len(),
        "stopped early"
    );
}

#[tokio::test]
async fn a_cancelled_plain_send_answers_an_empty_cancelled_reply() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(500))).await;
    let session = w.session().await;
    let id = session.id.to_string();
    let convo = w.convo.clone();
    let user = w.user;
    let send = tokio::spawn({
        let id = id.clone();
        async move { convo.send_message(&user, &id, SendMessage::new("hi")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(w.convo.cancel_turn(&w.user, &id).await.expect("cancel"));
    let turn = send.await.expect("task").expect("the send completes");
    assert_eq!(
        turn.assistant_message.finish_reason,
        Some(FinishReason::Cancelled)
    );
    assert_eq!(turn.assistant_message.content, "");
    assert_eq!(w.history(&session).await.len(), 2);
}

#[tokio::test]
async fn cancelling_is_scoped_to_the_owner_and_harmless_when_idle() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let id = session.id.to_string();
    assert!(
        !w.convo
            .cancel_turn(&w.user, &id)
            .await
            .expect("idle cancel"),
        "no turn was running"
    );
    let stranger = UserId::new();
    assert!(matches!(
        w.convo.cancel_turn(&stranger, &id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo.cancel_turn(&w.user, "not-an-id").await,
        Err(ConvoError::NotFound(_))
    ));
    w.send(&session, "still fine")
        .await
        .expect("send after an idle cancel");
}

#[tokio::test]
async fn a_fork_copies_the_history_up_to_a_message_and_goes_its_own_way() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let id = session.id.to_string();
    for text in ["one", "two", "three"] {
        w.send(&session, text).await.expect("send");
    }

    // Edit message 3 ("two"): fork at 2, then send the new text.
    let fork = w
        .convo
        .fork_session(&w.user, &id, 2, Some("edited"))
        .await
        .expect("fork");
    assert_eq!(fork.agent_id, session.agent_id);
    assert_eq!(fork.message_count, 2);
    assert_eq!(fork.title.as_deref(), Some("edited"));
    assert_eq!(
        fork.forked_from,
        Some(convo_core::ForkOrigin {
            session_id: session.id,
            seq: 2
        })
    );
    w.send(&fork, "two, edited")
        .await
        .expect("send to the fork");

    let copied = w.history(&fork).await;
    let contents: Vec<&str> = copied.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        ["one", "echo: one", "two, edited", "echo: two, edited"]
    );
    assert_eq!(
        copied.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let original = w.history(&session).await;
    assert_eq!(original.len(), 6, "the source is unchanged");
    assert!(
        copied.iter().zip(&original).all(|(c, o)| c.id != o.id),
        "copies have ids of their own"
    );
    // The model saw the fork's history, not the source's.
    let last = w.mock.requests().last().cloned().expect("a request");
    let seen: Vec<&str> = last.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(seen, ["one", "echo: one", "two, edited"]);
}

#[tokio::test]
async fn forks_are_checked_like_everything_else() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let id = session.id.to_string();
    w.send(&session, "one").await.expect("send");

    let empty = w
        .convo
        .fork_session(&w.user, &id, 0, None)
        .await
        .expect("fork at 0");
    assert_eq!(empty.message_count, 0);
    assert!(w.history(&empty).await.is_empty());
    assert!(matches!(
        w.convo.fork_session(&w.user, &id, 3, None).await,
        Err(ConvoError::Invalid {
            field: "up_to_seq",
            ..
        })
    ));
    assert!(matches!(
        w.convo.fork_session(&UserId::new(), &id, 1, None).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo
            .fork_session(&w.user, &id, 1, Some(&"x".repeat(201)))
            .await,
        Err(ConvoError::Invalid { field: "title", .. })
    ));
}

#[tokio::test]
async fn every_turn_goes_in_the_usage_ledger() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let a = w.send(&session, "one").await.expect("send");
    let b = w.send(&session, "two").await.expect("send");
    w.mock
        .push(MockReply::Fail(convo_core::LlmError::Unavailable {
            message: "overloaded".into(),
            retry_after: None,
        }));
    assert!(w.send(&session, "three").await.is_err());

    let report = w
        .convo
        .usage(&w.user, convo_core::UsageGroupBy::Agent, None, None)
        .await
        .expect("usage");

    let expected: u64 = [a, b]
        .iter()
        .map(|t| t.assistant_message.usage.expect("mock usage").total_tokens)
        .sum();
    assert!(expected > 0);
    assert_eq!(report.groups.len(), 1);
    assert_eq!(report.groups[0].key, session.agent_id.to_string());
    assert_eq!(report.totals.total_tokens, expected);
    assert_eq!((report.totals.turns, report.totals.failures), (3, 1));
    let (start, end) = convo_core::month_of(convo_core::now());
    assert_eq!(
        (report.from, report.to),
        (start, end),
        "the current month by default"
    );
    let stranger = w
        .convo
        .usage(&UserId::new(), convo_core::UsageGroupBy::Day, None, None)
        .await
        .expect("usage");
    assert!(stranger.groups.is_empty(), "usage is per user");
}

#[tokio::test]
async fn a_spent_monthly_budget_refuses_turns_before_storing_anything() {
    let settings = Settings {
        monthly_token_budget: Some(1),
        ..Settings::default()
    };
    let w = registered_world(MockProvider::new(), settings).await;
    let session = w.session().await;
    w.send(&session, "one")
        .await
        .expect("the first turn is within the budget");
    let calls = w.mock.request_count();

    let refused = w.send(&session, "two").await;

    let Err(ConvoError::QuotaExceeded { resets_at }) = refused else {
        panic!("expected QuotaExceeded, got {refused:?}");
    };
    assert_eq!(resets_at, convo_core::month_of(convo_core::now()).1);
    assert_eq!(w.mock.request_count(), calls, "the model was not called");
    assert_eq!(w.history(&session).await.len(), 2, "nothing was stored");
}

#[tokio::test]
async fn a_user_may_run_only_so_many_turns_at_once() {
    let settings = Settings {
        max_concurrent_turns: Some(1),
        ..Settings::default()
    };
    let w = registered_world(
        MockProvider::new()
            .with_chunks(5)
            .with_chunk_delay(Duration::from_millis(100)),
        settings,
    )
    .await;
    let (first, second) = (w.session().await, w.session().await);
    let mut stream = w
        .convo
        .stream_message(&w.user, &first.id.to_string(), SendMessage::new("slow"))
        .await
        .expect("the first turn");

    let refused = w.send(&second, "meanwhile").await;
    assert!(
        matches!(refused, Err(ConvoError::RateLimited { .. })),
        "{refused:?}"
    );
    assert!(w.history(&second).await.is_empty(), "nothing was stored");

    let (_, last) = drain(&mut stream).await;
    assert!(matches!(last, Some(TurnEvent::Completed { .. })));
    w.send(&second, "now").await.expect("a slot is free again");
}

#[tokio::test]
async fn a_turn_streaming_faster_than_its_renewal_period_keeps_its_lease_and_hears_cancels() {
    // A lease of 300 ms (renewed every 100 ms) and a cancel poll of 100 ms,
    // under a model that streams a chunk every 40 ms for 1.2 s: no single
    // await outlasts either period, yet both must happen.
    let settings = Settings {
        turn_lease: Duration::from_millis(300),
        cancel_poll: Duration::from_millis(100),
        ..Settings::default()
    };
    let w = registered_world(
        MockProvider::new()
            .with_chunks(30)
            .with_chunk_delay(Duration::from_millis(40)),
        settings.clone(),
    )
    .await;
    let (a, b, user) = (&w.convo, second_engine(&w, settings), w.user);
    let id = w.session().await.id.to_string();
    let mut stream = a
        .stream_message(
            &user,
            &id,
            SendMessage::new("a long answer please, quite long indeed"),
        )
        .await
        .expect("stream");

    // Past two leases, the turn still holds the session.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = b
        .send_message(&user, &id, SendMessage::new("meanwhile"))
        .await;
    assert!(
        matches!(second, Err(ConvoError::TurnInProgress)),
        "the lease was renewed: {second:?}"
    );
    // And a cancel through the other engine is heard between chunks.
    assert!(b.cancel_turn(&user, &id).await.expect("cancel"));
    let (_, last) = drain(&mut stream).await;
    let Some(TurnEvent::Completed { message }) = last else {
        panic!("ends with the stored message, got {last:?}")
    };
    assert_eq!(message.finish_reason, Some(FinishReason::Cancelled));
}

// ---- reasoning effort and provider state ----

/// A project of the world's owner, for agent tests.
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

#[tokio::test]
async fn new_agents_get_the_current_flash_model_thinking_low() {
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let a = w
        .convo
        .create_agent(&w.user, &project, agent("Be kind."))
        .await
        .expect("agent");
    assert_eq!(a.model, "gemini-3.8-flash");
    assert_eq!(a.reasoning_effort, Some(ReasoningEffort::Low));

    // The effort reaches the model with every turn.
    let session = w
        .convo
        .start_session(&w.user, &a.id.to_string(), None)
        .await
        .expect("session");
    w.send(&session, "hi").await.expect("turn");
    let sent = w.mock.requests().pop().expect("request");
    assert_eq!(sent.reasoning_effort, Some(ReasoningEffort::Low));
}

#[tokio::test]
async fn a_level_the_model_does_not_take_is_refused_on_reasoning_effort() {
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    // Gemini 3.8 Flash takes low, medium and high, not minimal.
    let minimal = NewAgent {
        reasoning_effort: Some(ReasoningEffort::Minimal),
        ..agent("x")
    };
    let refused = w.convo.create_agent(&w.user, &project, minimal).await;
    match &refused {
        Err(ConvoError::Invalid {
            field,
            reason: message,
        }) => {
            assert_eq!(*field, "reasoning_effort");
            assert!(
                message.contains("gemini-3.8-flash") && message.contains("low, medium, high"),
                "{message}"
            );
        }
        other => panic!("expected Invalid(reasoning_effort), got {other:?}"),
    }
    // A lite model takes minimal; a 2.5 model takes no level at all.
    let lite = NewAgent {
        model: Some("gemini-3.5-flash-lite".into()),
        reasoning_effort: Some(ReasoningEffort::Minimal),
        ..agent("x")
    };
    let lite = w
        .convo
        .create_agent(&w.user, &project, lite)
        .await
        .expect("minimal on a lite model");
    let old = NewAgent {
        model: Some("gemini-2.5-flash-lite".into()),
        ..agent("x")
    };
    let old = w
        .convo
        .create_agent(&w.user, &project, old)
        .await
        .expect("a 2.5 model without an effort");
    assert_eq!(old.reasoning_effort, None, "no default where none is taken");
    let set_on_old = AgentPatch {
        reasoning_effort: Some(Some(ReasoningEffort::High)),
        ..Default::default()
    };
    assert_invalid(
        w.convo
            .update_agent(&w.user, &old.id.to_string(), set_on_old)
            .await,
        "reasoning_effort",
    );
    // Moving the lite agent (minimal) to 3.8 Flash without a new effort is
    // refused, and nothing changes; with one it goes through.
    let to_flash = AgentPatch {
        model: Some("gemini-3.8-flash".into()),
        ..Default::default()
    };
    assert_invalid(
        w.convo
            .update_agent(&w.user, &lite.id.to_string(), to_flash.clone())
            .await,
        "reasoning_effort",
    );
    let stored = w
        .convo
        .agent(&w.user, &lite.id.to_string())
        .await
        .expect("agent");
    assert_eq!(stored.model, "gemini-3.5-flash-lite");
    let moved = w
        .convo
        .update_agent(
            &w.user,
            &lite.id.to_string(),
            AgentPatch {
                reasoning_effort: Some(None),
                ..to_flash
            },
        )
        .await
        .expect("to 3.8 with the model's default");
    assert_eq!(
        (moved.model.as_str(), moved.reasoning_effort),
        ("gemini-3.8-flash", None)
    );
    // A model Convo does not know takes whatever is asked (its API decides).
    let unknown = NewAgent {
        model: Some("some-local-model".into()),
        reasoning_effort: Some(ReasoningEffort::Minimal),
        ..agent("x")
    };
    w.convo
        .create_agent(&w.user, &project, unknown)
        .await
        .expect("unknown model");
}

#[tokio::test]
async fn provider_state_is_stored_with_the_reply_and_sent_back_unchanged() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let state = ProviderState {
        provider: "gemini".into(),
        model: "gemini-3.8-flash".into(),
        thought_signature: Some("c2lnbmVkIGJ5IHRoZSBtb2RlbA==".into()),
    };
    w.mock.push(MockReply::Reply(LlmReply {
        text: "first answer".into(),
        finish_reason: FinishReason::Stop,
        usage: None,
        model: None,
        provider_state: Some(state.clone()),
    }));
    let turn = w.send(&session, "one").await.expect("turn");
    assert_eq!(turn.assistant_message.provider_state, Some(state.clone()));

    w.send(&session, "two").await.expect("turn");
    let sent = w.mock.requests().pop().expect("request");
    let echoed: Vec<_> = sent
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str(), m.provider_state.clone()))
        .collect();
    assert_eq!(
        echoed,
        [
            (Role::User, "one", None),
            (Role::Assistant, "first answer", Some(state.clone())),
            (Role::User, "two", None),
        ]
    );
    // A stream keeps it too.
    w.mock.push(MockReply::Reply(LlmReply {
        text: "streamed".into(),
        finish_reason: FinishReason::Stop,
        usage: None,
        model: None,
        provider_state: Some(state.clone()),
    }));
    let mut events = w
        .convo
        .stream_message(&w.user, &session.id.to_string(), SendMessage::new("three"))
        .await
        .expect("stream");
    while let Some(event) = events.next().await {
        if let TurnEvent::Completed { message } = event {
            assert_eq!(message.provider_state, Some(state.clone()));
        }
    }
    let stored = w.history(&session).await;
    assert_eq!(
        stored.last().and_then(|m| m.provider_state.clone()),
        Some(state)
    );
}

/// A hand-written export: one agent; a session with a user message and a
/// reply whose usage and context counts are `usage` and `context`; and a
/// second session forked from the first at `fork_seq`.
fn export_file(usage: u64, context: u64, fork_seq: u64) -> String {
    let lines = [
        json!({"type": "convo.export", "version": 1}),
        json!({"type": "project", "id": "p1", "name": "Imported"}),
        json!({"type": "agent", "id": "a1", "name": "A", "system_prompt": "Be kind."}),
        json!({"type": "session", "id": "s1", "agent_id": "a1"}),
        json!({"type": "message", "session_id": "s1", "seq": 1, "role": "user", "content": "hi"}),
        json!({"type": "message", "session_id": "s1", "seq": 2, "role": "assistant", "content": "hello",
               "usage": {"prompt_tokens": usage, "completion_tokens": usage, "total_tokens": usage,
                         "thoughts_tokens": usage, "cached_tokens": usage},
               "context": {"first_seq": context, "last_seq": context, "messages": context}}),
        json!({"type": "session", "id": "s2", "agent_id": "a1",
               "forked_from": {"session_id": "s1", "seq": fork_seq}}),
        json!({"type": "end", "agents": 1, "sessions": 2, "messages": 2}),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn import_text(w: &World, text: String) -> Result<convo_core::Project, ImportError> {
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(text.into_bytes())]);
    let records = convo_core::engine::parse_lines(chunks, 1 << 20, 1 << 16);
    w.convo.import_project(&w.user, records).await
}

#[tokio::test]
async fn an_import_refuses_integers_no_store_keeps_and_keeps_the_largest_one_exactly() {
    // Arrange: MongoDB keeps signed 64-bit integers; memory keeps u64.
    let w = world(MockProvider::new()).await;
    let max = u64::try_from(i64::MAX).expect("positive");
    let cases = [
        (
            "usage",
            export_file(u64::MAX, 1, 1),
            6,
            "usage.prompt_tokens",
        ),
        (
            "context",
            export_file(1, max + 1, 1),
            6,
            "context.first_seq",
        ),
        ("fork", export_file(1, 1, u64::MAX), 7, "forked_from.seq"),
    ];

    for (case, file, expected_line, field) in cases {
        // Act
        let result = import_text(&w, file).await;

        // Assert
        match result {
            Err(ImportError::Line { line, message }) => {
                assert_eq!(line, expected_line, "{case}: {message}");
                assert!(message.contains(field), "{case}: {message}");
            }
            other => panic!("{case}: expected a line error, got {other:?}"),
        }
        let projects = w
            .convo
            .list_projects(&w.user, &ListParams::default())
            .await
            .expect("list");
        assert!(projects.data.is_empty(), "{case}: nothing is left behind");
    }

    // Act: the largest integer every store keeps.
    let project = import_text(&w, export_file(max, max, 2))
        .await
        .expect("i64::MAX imports");

    // Assert: it comes back exactly.
    let exported: Vec<ExportRecord> = w
        .convo
        .export_project(&w.user, &project.id.to_string())
        .await
        .expect("export")
        .map(|r| r.expect("record"))
        .collect()
        .await;
    let usage = exported
        .iter()
        .find_map(|r| match r {
            ExportRecord::Message(m) => m.usage,
            _ => None,
        })
        .expect("the reply's usage");
    assert_eq!((usage.prompt_tokens, usage.cached_tokens), (max, Some(max)));
    let context = exported
        .iter()
        .find_map(|r| match r {
            ExportRecord::Message(m) => m.context,
            _ => None,
        })
        .expect("the reply's context");
    assert_eq!(context.messages, max);
}
