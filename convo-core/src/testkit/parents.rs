//! A child is stored only under a parent of the same owner: a store checks
//! ownership on insert, so a bug in a caller cannot graft one user's object
//! under another's (where the cascades and the owner-scoped reads would
//! then disagree about it).

use std::sync::Arc;

use super::fixtures::{agent, append_messages, assert_not_found, session, Fixture};
use crate::domain::{ChatSession, ForkOrigin};
use crate::store::Store;

/// An agent naming another owner's project, and a session naming another
/// owner's agent, are refused with `NotFound` and not stored.
pub async fn inserting_under_another_owners_parent_is_not_found(store: Arc<dyn Store>) {
    let mine = Fixture::insert(store.as_ref()).await;
    let theirs = Fixture::insert(store.as_ref()).await;

    let mut intruder = agent(&theirs.project);
    intruder.owner = mine.user.id;
    assert_not_found(
        store.insert_agent(&intruder).await,
        "insert_agent into another owner's project",
    );
    assert_eq!(
        store
            .agent(&mine.user.id, &intruder.id)
            .await
            .expect("agent() must succeed"),
        None,
        "a refused agent must not be stored"
    );

    let mut squatter = session(&theirs.agent);
    squatter.owner = mine.user.id;
    assert_not_found(
        store.insert_session(&squatter).await,
        "insert_session with another owner's agent",
    );
    assert_eq!(
        store
            .session(&mine.user.id, &squatter.id)
            .await
            .expect("session() must succeed"),
        None,
        "a refused session must not be stored"
    );
}

/// A session whose `project_id` is not its agent's project is refused with
/// `NotFound`: a project's cascade would otherwise miss it.
pub async fn a_session_in_another_project_than_its_agents_is_not_found(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let other_project = super::fixtures::project(&f.user.id);
    store
        .insert_project(&other_project)
        .await
        .expect("insert_project must succeed");
    let mut astray = session(&f.agent);
    astray.project_id = other_project.id;

    assert_not_found(
        store.insert_session(&astray).await,
        "insert_session naming another project than its agent's",
    );
    assert_eq!(
        store
            .session(&f.user.id, &astray.id)
            .await
            .expect("session() must succeed"),
        None,
        "a refused session must not be stored"
    );
}

/// Forking another owner's session is refused with `NotFound`, and no
/// session is left behind.
pub async fn a_fork_of_another_owners_session_is_not_found(store: Arc<dyn Store>) {
    let mine = Fixture::insert(store.as_ref()).await;
    let theirs = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &theirs.session.id, 2).await;
    let fork = ChatSession {
        message_count: 2,
        forked_from: Some(ForkOrigin {
            session_id: theirs.session.id,
            seq: 2,
        }),
        ..session(&mine.agent)
    };

    assert_not_found(
        store.insert_fork(&fork, &theirs.session.id, 2).await,
        "insert_fork from another owner's session",
    );
    assert_eq!(
        store
            .session(&mine.user.id, &fork.id)
            .await
            .expect("session() must succeed"),
        None,
        "no session is left behind"
    );
}
