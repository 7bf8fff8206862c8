//! Projects, agents and sessions: defaults, validation, ownership, cascades, lists.

use convo_core::{
    AgentPatch, ListParams, MockProvider, NewAgent, NewProject, Order, ProjectPatch, SendMessage,
    Settings, Store,
};

use crate::support::*;

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
        // A typed cursor is checked as text is: an id of no message here.
        after: Some(convo_core::MessageId::new().into()),
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
    assert_not_found(c.project(&other, &pid).await, "get project");
    assert_not_found(
        c.update_project(&other, &pid, ProjectPatch::default())
            .await,
        "update project",
    );
    assert_not_found(
        c.list_agents(&other, &pid, &ListParams::default()).await,
        "list agents",
    );
    assert_not_found(
        c.create_agent(&other, &pid, agent("x")).await,
        "create agent",
    );
    assert_not_found(c.agent(&other, &aid).await, "get agent");
    assert_not_found(
        c.update_agent(&other, &aid, AgentPatch::default()).await,
        "update agent",
    );
    assert_not_found(
        c.list_sessions(&other, &aid, &ListParams::default()).await,
        "list sessions",
    );
    assert_not_found(c.start_session(&other, &aid, None).await, "start session");
    assert_not_found(c.session(&other, &sid).await, "get session");
    assert_not_found(
        c.update_session(&other, &sid, Some("t")).await,
        "update session",
    );
    assert_not_found(
        c.list_messages(&other, &sid, &ListParams::default()).await,
        "list messages",
    );
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

#[tokio::test]
async fn operations_take_typed_ids_and_their_text_alike() {
    let w = world(MockProvider::new()).await;
    let c = &w.convo;
    let session = w.session().await;
    let (sid, aid, pid) = (session.id, session.agent_id, session.project_id);
    let sid_text = sid.to_string();

    // The same object whichever form names it.
    assert_eq!(c.session(&w.user, sid).await.expect("typed").id, sid);
    assert_eq!(c.session(&w.user, &sid).await.expect("&typed").id, sid);
    assert_eq!(
        c.session(&w.user, sid_text.as_str())
            .await
            .expect("&str")
            .id,
        sid
    );
    assert_eq!(
        c.session(&w.user, &sid_text).await.expect("&String").id,
        sid
    );
    assert_eq!(
        c.session(&w.user, sid_text.clone())
            .await
            .expect("String")
            .id,
        sid
    );
    assert_eq!(c.agent(&w.user, aid).await.expect("agent").id, aid);
    assert_eq!(c.project(&w.user, pid).await.expect("project").id, pid);
    let turn = c
        .send_message(&w.user, sid, SendMessage::new("typed"))
        .await
        .expect("a turn by typed id");
    assert_eq!(turn.assistant_message.session_id, sid);
    let forked = c
        .fork_session(&w.user, sid, 2, None)
        .await
        .expect("a fork by typed id");
    assert_eq!(forked.forked_from.map(|f| f.session_id), Some(sid));

    // Text that is no id is the kind's NotFound, as before typed ids.
    for (result, kind) in [
        (c.project(&w.user, "nope").await.map(|_| ()), "project"),
        (c.agent(&w.user, "nope").await.map(|_| ()), "agent"),
        (c.session(&w.user, "nope").await.map(|_| ()), "chat session"),
        (c.cancel_turn(&w.user, "").await.map(|_| ()), "chat session"),
        (
            c.send_message(&w.user, "nope", SendMessage::new("hi"))
                .await
                .map(|_| ()),
            "chat session",
        ),
    ] {
        match result {
            Err(convo_core::ConvoError::NotFound(what)) => assert_eq!(what, kind),
            other => panic!("expected NotFound({kind}), got {other:?}"),
        }
    }
    // An id of another kind, passed as text, names nothing of this kind.
    assert_not_found(
        c.agent(&w.user, &sid_text).await,
        "a session id as an agent's",
    );
}

#[tokio::test]
async fn a_pages_typed_cursor_walks_the_list_and_matches_its_text() {
    let w = world(MockProvider::new()).await;
    for i in 0..5 {
        let project = NewProject {
            name: format!("p{i}"),
            description: None,
        };
        w.convo
            .create_project(&w.user, project)
            .await
            .expect("project");
    }
    let all = w
        .convo
        .list_projects(&w.user, &ListParams::default())
        .await
        .expect("all");

    let mut params = ListParams {
        limit: Some(2),
        ..ListParams::default()
    };
    let mut walked = Vec::new();
    loop {
        let page = w.convo.list_projects(&w.user, &params).await.expect("page");
        walked.extend(page.data.iter().map(|p| p.id));
        match page.next_after() {
            Some(last) => params.after = Some(last.into()),
            None => break,
        }
    }
    assert_eq!(walked, all.data.iter().map(|p| p.id).collect::<Vec<_>>());

    // A typed cursor and its text read the same page, both ways.
    let first = all.data[1].id;
    let last = all.data[4].id;
    for (typed, text) in [
        (
            ListParams {
                after: Some(first.into()),
                ..ListParams::default()
            },
            ListParams {
                after: Some(first.to_string().into()),
                ..ListParams::default()
            },
        ),
        (
            ListParams {
                before: Some(last.into()),
                limit: Some(2),
                ..ListParams::default()
            },
            ListParams {
                before: Some(last.to_string().as_str().into()),
                limit: Some(2),
                ..ListParams::default()
            },
        ),
    ] {
        let by_id = w.convo.list_projects(&w.user, &typed).await.expect("typed");
        let by_text = w.convo.list_projects(&w.user, &text).await.expect("text");
        assert_eq!(by_id, by_text, "{typed:?} and {text:?}");
        assert!(!by_id.data.is_empty(), "{typed:?} reads something");
    }
}
