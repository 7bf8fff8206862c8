//! Owner scoping: another user's objects do not exist for you.

use std::sync::Arc;

use super::fixtures::{insert_user, Fixture};
use crate::domain::{Order, PageRequest};
use crate::store::Store;

/// Another owner's project reads as `None`, is not deleted (`false`) and is not listed.
pub async fn projects_are_invisible_to_other_owners(store: Arc<dyn Store>) {
    let mine = Fixture::insert(store.as_ref()).await;
    let theirs = Fixture::insert(store.as_ref()).await;
    let me = mine.user.id;
    let all = PageRequest::first(100, Order::Asc);

    let read = store
        .project(&me, &theirs.project.id)
        .await
        .expect("project() must succeed");
    assert_eq!(read, None, "project() with another owner's id must be None");
    let deleted = store
        .delete_project(&me, &theirs.project.id)
        .await
        .expect("delete_project must succeed");
    assert!(
        !deleted,
        "delete_project of another owner's project must return false"
    );
    let still = store
        .project(&theirs.user.id, &theirs.project.id)
        .await
        .expect("project() must succeed");
    assert!(
        still.is_some(),
        "a refused delete_project must leave the owner's project in place"
    );

    let listed = store
        .projects(&me, &all)
        .await
        .expect("projects() must succeed");
    assert_eq!(
        listed.data,
        vec![mine.project.clone()],
        "projects() must list only the caller's projects"
    );
    let stranger = insert_user(store.as_ref()).await;
    let listed = store
        .projects(&stranger.id, &all)
        .await
        .expect("projects() must succeed");
    assert!(
        listed.data.is_empty(),
        "a user without projects must list none, got {:?}",
        listed.data
    );
    assert!(!listed.has_more, "an empty list must have has_more = false");
}

/// Another owner's agent reads as `None`, is not deleted (`false`), and
/// listing the agents of another owner's project is empty.
pub async fn agents_are_invisible_to_other_owners(store: Arc<dyn Store>) {
    let mine = Fixture::insert(store.as_ref()).await;
    let theirs = Fixture::insert(store.as_ref()).await;
    let me = mine.user.id;
    let all = PageRequest::first(100, Order::Asc);

    let read = store
        .agent(&me, &theirs.agent.id)
        .await
        .expect("agent() must succeed");
    assert_eq!(read, None, "agent() with another owner's id must be None");
    let deleted = store
        .delete_agent(&me, &theirs.agent.id)
        .await
        .expect("delete_agent must succeed");
    assert!(
        !deleted,
        "delete_agent of another owner's agent must return false"
    );
    let still = store
        .agent(&theirs.user.id, &theirs.agent.id)
        .await
        .expect("agent() must succeed");
    assert!(
        still.is_some(),
        "a refused delete_agent must leave the owner's agent in place"
    );

    let listed = store
        .agents(&me, &theirs.project.id, &all)
        .await
        .expect("agents() must succeed");
    assert!(
        listed.data.is_empty(),
        "listing the agents of another owner's project must be empty, got {:?}",
        listed.data
    );
    assert!(!listed.has_more, "an empty list must have has_more = false");
    let listed = store
        .agents(&theirs.user.id, &mine.project.id, &all)
        .await
        .expect("agents() must succeed");
    assert!(
        listed.data.is_empty(),
        "listing the agents of another owner's project must be empty, got {:?}",
        listed.data
    );
}

/// Another owner's session reads as `None`, is not deleted (`false`), and
/// listing the sessions of another owner's agent is empty.
pub async fn sessions_are_invisible_to_other_owners(store: Arc<dyn Store>) {
    let mine = Fixture::insert(store.as_ref()).await;
    let theirs = Fixture::insert(store.as_ref()).await;
    let me = mine.user.id;
    let all = PageRequest::first(100, Order::Asc);

    let read = store
        .session(&me, &theirs.session.id)
        .await
        .expect("session() must succeed");
    assert_eq!(read, None, "session() with another owner's id must be None");
    let deleted = store
        .delete_session(&me, &theirs.session.id)
        .await
        .expect("delete_session must succeed");
    assert!(
        !deleted,
        "delete_session of another owner's session must return false"
    );
    let still = store
        .session(&theirs.user.id, &theirs.session.id)
        .await
        .expect("session() must succeed");
    assert!(
        still.is_some(),
        "a refused delete_session must leave the owner's session in place"
    );

    let listed = store
        .sessions(&me, &theirs.agent.id, None, &all)
        .await
        .expect("sessions() must succeed");
    assert!(
        listed.data.is_empty(),
        "listing the sessions of another owner's agent must be empty, got {:?}",
        listed.data
    );
    assert!(!listed.has_more, "an empty list must have has_more = false");
    let listed = store
        .sessions(&theirs.user.id, &mine.agent.id, None, &all)
        .await
        .expect("sessions() must succeed");
    assert!(
        listed.data.is_empty(),
        "listing the sessions of another owner's agent must be empty, got {:?}",
        listed.data
    );
}
