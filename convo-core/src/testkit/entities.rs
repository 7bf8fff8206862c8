//! Projects, agents and sessions: insert, read, update, delete.

use std::sync::Arc;

use chrono::TimeDelta;

use super::fixtures::{
    agent, append_messages, assert_not_found, insert_user, project, session, Fixture,
};
use crate::domain::{now, Order, PageRequest};
use crate::store::Store;

/// A project reads back equal, its update writes name, description and
/// `updated_at`, and once deleted it is gone (a second delete is `false`, an
/// update `NotFound`).
pub async fn projects_can_be_inserted_read_updated_and_deleted(store: Arc<dyn Store>) {
    let owner = insert_user(store.as_ref()).await;
    let mut p = project(&owner.id);

    store
        .insert_project(&p)
        .await
        .expect("insert_project must succeed");
    let read = store
        .project(&owner.id, &p.id)
        .await
        .expect("project() must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&p),
        "project() must return the inserted project"
    );
    let listed = store
        .projects(&owner.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("projects() must succeed");
    assert_eq!(
        listed.data,
        vec![p.clone()],
        "projects() must list the inserted project"
    );

    p.name = "Renamed".to_owned();
    p.description = None;
    p.updated_at = p.created_at + TimeDelta::seconds(1);
    store
        .update_project(&p)
        .await
        .expect("update_project of a stored project must succeed");
    let read = store
        .project(&owner.id, &p.id)
        .await
        .expect("project() must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&p),
        "project() must return the updated name, description and updated_at"
    );

    let deleted = store
        .delete_project(&owner.id, &p.id)
        .await
        .expect("delete_project must succeed");
    assert!(
        deleted,
        "delete_project of a stored project must return true"
    );
    let read = store
        .project(&owner.id, &p.id)
        .await
        .expect("project() must succeed");
    assert_eq!(read, None, "a deleted project must read as None");
    let again = store
        .delete_project(&owner.id, &p.id)
        .await
        .expect("delete_project must succeed");
    assert!(!again, "deleting a deleted project must return false");
    assert_not_found(
        store.update_project(&p).await,
        "update_project of a deleted project",
    );
    let listed = store
        .projects(&owner.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("projects() must succeed");
    assert!(
        listed.data.is_empty(),
        "projects() must not list a deleted project, got {:?}",
        listed.data
    );
}

/// An agent reads back equal, its update writes every settable field, and
/// once deleted it is gone (a second delete is `false`, an update `NotFound`).
pub async fn agents_can_be_inserted_read_updated_and_deleted(store: Arc<dyn Store>) {
    let owner = insert_user(store.as_ref()).await;
    let p = project(&owner.id);
    store
        .insert_project(&p)
        .await
        .expect("insert_project must succeed");
    let mut a = agent(&p);

    store
        .insert_agent(&a)
        .await
        .expect("insert_agent into a stored project must succeed");
    let read = store
        .agent(&owner.id, &a.id)
        .await
        .expect("agent() must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&a),
        "agent() must return the inserted agent"
    );
    let listed = store
        .agents(&owner.id, &p.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("agents() must succeed");
    assert_eq!(
        listed.data,
        vec![a.clone()],
        "agents() must list the inserted agent"
    );

    a.name = "Renamed".to_owned();
    a.system_prompt = "You are verbose.".to_owned();
    a.model = "mock-2".to_owned();
    a.temperature = None;
    a.max_output_tokens = Some(1024);
    a.context_messages = 7;
    a.context_tokens = Some(900);
    a.reasoning_effort = Some(crate::domain::ReasoningEffort::High);
    a.updated_at = a.created_at + TimeDelta::seconds(1);
    store
        .update_agent(&a)
        .await
        .expect("update_agent of a stored agent must succeed");
    let read = store
        .agent(&owner.id, &a.id)
        .await
        .expect("agent() must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&a),
        "agent() must return every updated field"
    );

    let deleted = store
        .delete_agent(&owner.id, &a.id)
        .await
        .expect("delete_agent must succeed");
    assert!(deleted, "delete_agent of a stored agent must return true");
    let read = store
        .agent(&owner.id, &a.id)
        .await
        .expect("agent() must succeed");
    assert_eq!(read, None, "a deleted agent must read as None");
    let again = store
        .delete_agent(&owner.id, &a.id)
        .await
        .expect("delete_agent must succeed");
    assert!(!again, "deleting a deleted agent must return false");
    assert_not_found(
        store.update_agent(&a).await,
        "update_agent of a deleted agent",
    );
    let read = store
        .project(&owner.id, &p.id)
        .await
        .expect("project() must succeed");
    assert!(read.is_some(), "deleting an agent must keep its project");
}

/// An agent whose project never existed is refused with `NotFound`.
pub async fn inserting_an_agent_into_a_missing_project_is_not_found(store: Arc<dyn Store>) {
    let owner = insert_user(store.as_ref()).await;
    let never_stored = project(&owner.id);
    let orphan = agent(&never_stored);

    assert_not_found(
        store.insert_agent(&orphan).await,
        "insert_agent into a project that was never stored",
    );
    let read = store
        .agent(&owner.id, &orphan.id)
        .await
        .expect("agent() must succeed");
    assert_eq!(read, None, "a refused agent must not be stored");
}

/// A session reads back equal, its update writes title and `updated_at`, and
/// once deleted it is gone (a second delete is `false`, an update `NotFound`).
pub async fn sessions_can_be_inserted_read_updated_and_deleted(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let owner = f.user.id;
    let read = store
        .session(&owner, &f.session.id)
        .await
        .expect("session() must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&f.session),
        "session() must return the inserted session"
    );
    let listed = store
        .sessions(
            &owner,
            &f.agent.id,
            None,
            &PageRequest::first(100, Order::Asc),
        )
        .await
        .expect("sessions() must succeed");
    assert_eq!(
        listed.data,
        vec![f.session.clone()],
        "sessions() must list the inserted session"
    );

    let mut s = f.session.clone();
    s.title = Some("Renamed".to_owned());
    s.updated_at = s.created_at + TimeDelta::seconds(1);
    store
        .update_session(&s)
        .await
        .expect("update_session of a stored session must succeed");
    let read = store
        .session(&owner, &s.id)
        .await
        .expect("session() must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&s),
        "session() must return the updated title and updated_at"
    );

    let deleted = store
        .delete_session(&owner, &s.id)
        .await
        .expect("delete_session must succeed");
    assert!(
        deleted,
        "delete_session of a stored session must return true"
    );
    let read = store
        .session(&owner, &s.id)
        .await
        .expect("session() must succeed");
    assert_eq!(read, None, "a deleted session must read as None");
    let again = store
        .delete_session(&owner, &s.id)
        .await
        .expect("delete_session must succeed");
    assert!(!again, "deleting a deleted session must return false");
    assert_not_found(
        store.update_session(&s).await,
        "update_session of a deleted session",
    );
    let read = store
        .agent(&owner, &f.agent.id)
        .await
        .expect("agent() must succeed");
    assert!(read.is_some(), "deleting a session must keep its agent");
}

/// A session whose agent never existed is refused with `NotFound`.
pub async fn inserting_a_session_for_a_missing_agent_is_not_found(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let never_stored = agent(&f.project);
    let orphan = session(&never_stored);

    assert_not_found(
        store.insert_session(&orphan).await,
        "insert_session for an agent that was never stored",
    );
    let read = store
        .session(&f.user.id, &orphan.id)
        .await
        .expect("session() must succeed");
    assert_eq!(read, None, "a refused session must not be stored");
}

/// `update_session` from a stale copy writes title and `updated_at` but keeps
/// the `message_count` that `append_message` maintains.
pub async fn updating_a_session_keeps_its_message_count(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let stale = f.session.clone();
    append_messages(store.as_ref(), &f.session.id, 3).await;

    let renamed = crate::domain::ChatSession {
        title: Some("Renamed".to_owned()),
        updated_at: now(),
        ..stale
    };
    store
        .update_session(&renamed)
        .await
        .expect("update_session of a stored session must succeed");

    let read = store
        .session(&f.user.id, &f.session.id)
        .await
        .expect("session() must succeed")
        .expect("session exists");
    assert_eq!(
        read.message_count, 3,
        "update_session must not overwrite message_count (stale copy said 0)"
    );
    assert_eq!(
        read.title.as_deref(),
        Some("Renamed"),
        "update_session must write the title"
    );
    assert_eq!(
        read.updated_at, renamed.updated_at,
        "update_session must write updated_at"
    );
}
