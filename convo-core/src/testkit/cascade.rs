//! Cascading deletes: a parent takes its children with it, and only them.

use std::sync::Arc;

use super::fixtures::{
    agent, append_messages, assert_empty_or_not_found, assert_not_found, session, Fixture,
};
use crate::domain::{now, ChatSession, MessageDraft, Order, PageRequest};
use crate::store::{IdempotencyRecord, Store};

/// Panics unless the session and its messages are gone and nothing can be appended to it.
async fn assert_session_gone(store: &dyn Store, s: &ChatSession, why: &str) {
    let read = store
        .session(&s.owner, &s.id)
        .await
        .expect("session() must succeed");
    assert_eq!(read, None, "{why}: the session must read as None");
    let page = store
        .messages(&s.owner, &s.id, &PageRequest::first(100, Order::Asc))
        .await
        .map(|p| p.data);
    assert_empty_or_not_found(page, &format!("{why}: messages() of the session"));
    assert_empty_or_not_found(
        store.last_messages(&s.id, 100).await,
        &format!("{why}: last_messages() of the session"),
    );
    let append = store
        .append_message(&s.id, MessageDraft::user("too late"))
        .await;
    assert_not_found(append, &format!("{why}: append_message to the session"));
}

/// Panics unless the session still reads back with its messages.
async fn assert_session_intact(store: &dyn Store, s: &ChatSession, messages: usize, why: &str) {
    let read = store
        .session(&s.owner, &s.id)
        .await
        .expect("session() must succeed");
    assert!(read.is_some(), "{why}: a sibling session must survive");
    let page = store
        .messages(&s.owner, &s.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("messages() must succeed");
    assert_eq!(
        page.data.len(),
        messages,
        "{why}: a sibling session must keep its messages"
    );
}

/// Deleting a project deletes its agents, sessions and messages (and nothing
/// of the owner's other projects); nothing can be added under it afterwards.
pub async fn deleting_a_project_deletes_its_agents_sessions_and_messages(store: Arc<dyn Store>) {
    let doomed = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &doomed.session.id, 2).await;
    let second_agent = doomed.insert_agent(store.as_ref()).await;
    let sibling = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &sibling.session.id, 1).await;
    let owner = doomed.user.id;

    let deleted = store
        .delete_project(&owner, &doomed.project.id)
        .await
        .expect("delete_project must succeed");

    assert!(
        deleted,
        "delete_project of a stored project must return true"
    );
    let why = "after delete_project";
    for a in [&doomed.agent, &second_agent] {
        let read = store
            .agent(&owner, &a.id)
            .await
            .expect("agent() must succeed");
        assert_eq!(read, None, "{why}: its agents must read as None");
    }
    assert_session_gone(store.as_ref(), &doomed.session, why).await;
    let listed = store
        .agents(
            &owner,
            &doomed.project.id,
            &PageRequest::first(100, Order::Asc),
        )
        .await;
    assert_empty_or_not_found(
        listed.map(|p| p.data),
        &format!("{why}: agents() of the project"),
    );
    let listed = store
        .sessions(
            &owner,
            &doomed.agent.id,
            None,
            &PageRequest::first(100, Order::Asc),
        )
        .await;
    assert_empty_or_not_found(
        listed.map(|p| p.data),
        &format!("{why}: sessions() of its agent"),
    );
    assert_not_found(
        store.insert_agent(&agent(&doomed.project)).await,
        &format!("{why}: insert_agent into it"),
    );
    assert_not_found(
        store.insert_session(&session(&doomed.agent)).await,
        &format!("{why}: insert_session under its agent"),
    );
    let read = store
        .agent(&sibling.user.id, &sibling.agent.id)
        .await
        .expect("agent() must succeed");
    assert!(
        read.is_some(),
        "{why}: another project's agent must survive"
    );
    assert_session_intact(store.as_ref(), &sibling.session, 1, why).await;
}

/// Deleting an agent deletes its sessions and messages but keeps its project
/// and the project's other agents; no session can be added under it afterwards.
pub async fn deleting_an_agent_deletes_its_sessions_and_messages_but_keeps_its_project(
    store: Arc<dyn Store>,
) {
    let f = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &f.session.id, 2).await;
    let second_session = f.insert_session(store.as_ref()).await;
    let sibling_agent = f.insert_agent(store.as_ref()).await;
    let sibling_session = session(&sibling_agent);
    store
        .insert_session(&sibling_session)
        .await
        .expect("insert_session must succeed");
    append_messages(store.as_ref(), &sibling_session.id, 1).await;
    let owner = f.user.id;

    let deleted = store
        .delete_agent(&owner, &f.agent.id)
        .await
        .expect("delete_agent must succeed");

    assert!(deleted, "delete_agent of a stored agent must return true");
    let why = "after delete_agent";
    let read = store
        .agent(&owner, &f.agent.id)
        .await
        .expect("agent() must succeed");
    assert_eq!(read, None, "{why}: the agent must read as None");
    assert_session_gone(store.as_ref(), &f.session, why).await;
    assert_session_gone(store.as_ref(), &second_session, why).await;
    assert_not_found(
        store.insert_session(&session(&f.agent)).await,
        &format!("{why}: insert_session under it"),
    );
    let read = store
        .project(&owner, &f.project.id)
        .await
        .expect("project() must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&f.project),
        "{why}: its project must stay"
    );
    let read = store
        .agent(&owner, &sibling_agent.id)
        .await
        .expect("agent() must succeed");
    assert!(
        read.is_some(),
        "{why}: the project's other agent must survive"
    );
    assert_session_intact(store.as_ref(), &sibling_session, 1, why).await;
}

/// Deleting a session deletes its messages and idempotency records but keeps
/// its agent and the agent's other sessions.
pub async fn deleting_a_session_deletes_its_messages_and_idempotency_records(
    store: Arc<dyn Store>,
) {
    let f = Fixture::insert(store.as_ref()).await;
    let stored = append_messages(store.as_ref(), &f.session.id, 2).await;
    let record = IdempotencyRecord {
        user_message: stored[0].clone(),
        assistant_message: Some(stored[1].clone()),
        messages: vec![stored[1].clone()],
        expires_at: now() + chrono::TimeDelta::hours(1),
    };
    store
        .save_idempotency_record(&f.session.id, "key-1", &record)
        .await
        .expect("save_idempotency_record must succeed");
    let sibling = f.insert_session(store.as_ref()).await;
    append_messages(store.as_ref(), &sibling.id, 1).await;
    let owner = f.user.id;

    let deleted = store
        .delete_session(&owner, &f.session.id)
        .await
        .expect("delete_session must succeed");

    assert!(
        deleted,
        "delete_session of a stored session must return true"
    );
    let why = "after delete_session";
    assert_session_gone(store.as_ref(), &f.session, why).await;
    match store.idempotency_record(&f.session.id, "key-1").await {
        Ok(None) | Err(crate::store::StoreError::NotFound(_)) => {}
        other => {
            panic!("{why}: its idempotency record must be gone (None or NotFound), got {other:?}")
        }
    }
    let read = store
        .agent(&owner, &f.agent.id)
        .await
        .expect("agent() must succeed");
    assert_eq!(read.as_ref(), Some(&f.agent), "{why}: its agent must stay");
    assert_session_intact(store.as_ref(), &sibling, 1, why).await;
}
