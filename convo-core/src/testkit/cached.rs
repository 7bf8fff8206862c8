//! Two engines on two handles of one backend, when the store keeps a
//! [`ChangeFeed`](crate::store::ChangeFeed): what one revokes or changes,
//! the other stops answering from memory once the change has reached it
//! (at once through the engine that made it), and while the feed is down
//! every request asks the store. On a store without a feed the same
//! behaviours hold at once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fixtures::{append_messages, session, unique_email, user, Fixture};
use crate::domain::{now, KeyScope, NewApiKey, NewProject, Order, ProjectPatch, SessionId, UserId};
use crate::engine::{KeyRefusal, ListParams, Settings};
use crate::llm::MockProvider;
use crate::store::Store;
use crate::Convo;

/// Generous: a change stream delivers in milliseconds, but a loaded test
/// machine may be slow; nothing here waits for it unless it must.
const DEADLINE: Duration = Duration::from_secs(30);

fn engine(store: &Arc<dyn Store>) -> Convo {
    Convo::new(
        Arc::clone(store),
        Arc::new(MockProvider::new()),
        Settings::default(),
    )
}

/// Waits until the handle's feed (if it has one) is usable, so that the
/// answers read next are kept; a feed that never gets there is a failure.
async fn feed_ready(store: &Arc<dyn Store>) {
    let started = Instant::now();
    while let Some(feed) = store.changes() {
        if feed.is_healthy() {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the store's change feed never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `done` until it answers `true`, failing with `what` after the deadline.
async fn eventually<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < DEADLINE, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A token revoked through engine A: refused by A before the revocation
/// returns, and by engine B (which had it in memory) once the change arrives.
pub async fn a_token_revoked_through_one_engine_is_refused_by_the_other_once_its_change_arrives(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let (on_a, on_b) = (engine(&a), engine(&b));
    let u = user(&unique_email());
    a.insert_user(&u).await.expect("insert_user");
    let jti = uuid::Uuid::new_v4().to_string();
    feed_ready(&a).await;
    feed_ready(&b).await;
    for (name, convo) in [("A", &on_a), ("B", &on_b), ("B again", &on_b)] {
        let found = convo.authenticate(&u.id, &jti).await.expect("authenticate");
        assert_eq!(found.as_ref(), Some(&u), "{name} knows the live token");
    }

    on_a.revoke_token(&jti, now() + chrono::TimeDelta::hours(1))
        .await
        .expect("revoke_token");

    let on_revoker = on_a.authenticate(&u.id, &jti).await.expect("authenticate");
    assert_eq!(on_revoker, None, "the revoking engine refuses it at once");
    eventually("B still accepts the revoked token", || async {
        on_b.authenticate(&u.id, &jti)
            .await
            .expect("authenticate")
            .is_none()
    })
    .await;
    let again = on_b.authenticate(&u.id, &jti).await.expect("authenticate");
    assert_eq!(again, None, "and never accepts it again");
}

/// A key revoked through engine A: refused by A at once, by engine B once
/// the change arrives.
pub async fn a_key_revoked_through_one_engine_is_refused_by_the_other_once_its_change_arrives(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let (on_a, on_b) = (engine(&a), engine(&b));
    let f = Fixture::insert(a.as_ref()).await;
    let issued = on_a
        .create_api_key(
            &f.user.id,
            f.project.id,
            NewApiKey {
                name: "twin".into(),
                scope: KeyScope::Chat,
                expires_at: None,
                rate_limit_per_minute: None,
                end_user_monthly_token_budget: None,
            },
        )
        .await
        .expect("create_api_key");
    feed_ready(&a).await;
    feed_ready(&b).await;
    for (name, convo) in [("A", &on_a), ("B", &on_b), ("B again", &on_b)] {
        let found = convo
            .authenticate_api_key(&issued.secret)
            .await
            .expect("authenticate_api_key");
        assert!(found.is_ok(), "{name} knows the live key: {found:?}");
    }

    on_a.revoke_api_key(&f.user.id, f.project.id, issued.key.id)
        .await
        .expect("revoke_api_key");

    let on_revoker = on_a
        .authenticate_api_key(&issued.secret)
        .await
        .expect("authenticate_api_key");
    assert_eq!(
        on_revoker.err(),
        Some(KeyRefusal::Unknown),
        "the revoking engine refuses it at once"
    );
    eventually("B still accepts the revoked key", || async {
        on_b.authenticate_api_key(&issued.secret)
            .await
            .expect("authenticate_api_key")
            .is_err()
    })
    .await;
}

/// An agent edited through handle A is no longer answered from B's memory
/// once the change arrives.
pub async fn an_agent_changed_through_one_handle_is_forgotten_by_the_other(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let f = Fixture::insert(a.as_ref()).await;
    feed_ready(&b).await;
    let Some(feed) = b.changes() else { return };
    let ticket = feed.ticket().expect("a healthy feed gives tickets");
    feed.keep_agent(ticket, &f.agent);
    assert_eq!(
        feed.agent(&f.user.id, &f.agent.id).as_ref(),
        Some(&f.agent),
        "kept"
    );

    let mut edited = f.agent.clone();
    edited.system_prompt = "Changed elsewhere.".into();
    a.update_agent(&edited).await.expect("update_agent");

    eventually("B still answers the old agent from memory", || async {
        feed.agent(&f.user.id, &f.agent.id).is_none()
    })
    .await;
}

/// The names on the owner's first page of projects, as `convo` lists them.
async fn project_names(convo: &Convo, owner: &UserId) -> Vec<String> {
    convo
        .list_projects(owner, &ListParams::default())
        .await
        .expect("list_projects")
        .data
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// A project created, renamed or deleted through engine A: A's next list
/// shows it at once, B's (which had the page in memory) once the change
/// arrives.
pub async fn project_pages_follow_writes_made_through_the_other_engine(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let (on_a, on_b) = (engine(&a), engine(&b));
    let u = user(&unique_email());
    a.insert_user(&u).await.expect("insert_user");
    feed_ready(&a).await;
    feed_ready(&b).await;
    for (name, convo) in [("A", &on_a), ("B", &on_b), ("B again", &on_b)] {
        assert!(
            project_names(convo, &u.id).await.is_empty(),
            "{name}: none yet"
        );
    }
    let p = on_a
        .create_project(
            &u.id,
            NewProject {
                name: "First".into(),
                description: None,
            },
        )
        .await
        .expect("create_project");
    listed_by_both(&on_a, &on_b, &u.id, &["First"], "the new project").await;

    let patch = ProjectPatch {
        name: Some("Renamed".into()),
        description: None,
    };
    on_a.update_project(u.id, p.id, patch)
        .await
        .expect("update_project");
    listed_by_both(&on_a, &on_b, &u.id, &["Renamed"], "the new name").await;

    on_a.delete_project(&u.id, p.id)
        .await
        .expect("delete_project");
    listed_by_both(&on_a, &on_b, &u.id, &[], "no project").await;
}

/// `names` are what the writing engine `on_a` lists at once, and what
/// `on_b` lists once the change has reached it.
async fn listed_by_both(on_a: &Convo, on_b: &Convo, owner: &UserId, names: &[&str], what: &str) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        project_names(on_a, owner).await,
        names,
        "A lists {what} at once"
    );
    eventually(&format!("B never lists {what}"), || async {
        project_names(on_b, owner).await == names
    })
    .await;
}

/// The seqs of a page of the session's messages as `convo` lists it, or
/// `None` when the session is not found.
async fn listed_seqs(
    convo: &Convo,
    owner: &UserId,
    session: &SessionId,
    order: Order,
) -> Option<Vec<u64>> {
    let params = ListParams {
        order: Some(order),
        ..ListParams::default()
    };
    match convo.list_messages(owner, session, &params).await {
        Ok(page) => Some(page.data.iter().map(|m| m.seq).collect()),
        Err(crate::ConvoError::NotFound(_)) => None,
        Err(e) => panic!("list_messages: {e}"),
    }
}

/// A session's first page of messages, once full, never changes while the
/// session lives, so engine B may keep it; its newest messages it reads
/// from the store every time (an append through A shows at once). A
/// session deleted through A, by itself or with its agent, is not found
/// through A at once, and through B once the change arrives.
pub async fn message_pages_follow_deletions_made_through_the_other_engine(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let (on_a, on_b) = (engine(&a), engine(&b));
    let f = Fixture::insert(a.as_ref()).await;
    let (owner, s) = (f.user.id, f.session.id);
    let second = session(&f.agent);
    a.insert_session(&second).await.expect("insert_session");
    append_messages(a.as_ref(), &s, 25).await;
    append_messages(a.as_ref(), &second.id, 25).await;
    feed_ready(&a).await;
    feed_ready(&b).await;
    let first: Vec<u64> = (1..=20).collect();
    for (name, convo) in [("A", &on_a), ("B", &on_b), ("B again", &on_b)] {
        for id in [&s, &second.id] {
            assert_eq!(
                listed_seqs(convo, &owner, id, Order::Asc).await,
                Some(first.clone()),
                "{name}: the first page"
            );
        }
    }

    append_messages(a.as_ref(), &s, 1).await;
    assert_eq!(
        listed_seqs(&on_b, &owner, &s, Order::Desc)
            .await
            .and_then(|seqs| seqs.first().copied()),
        Some(26),
        "B lists A's append among the newest at once"
    );
    assert_eq!(
        listed_seqs(&on_b, &owner, &s, Order::Asc).await,
        Some(first.clone()),
        "the first page is as it was"
    );

    assert!(
        on_a.delete_session(owner, s).await.is_ok(),
        "delete_session"
    );
    assert_eq!(
        listed_seqs(&on_a, &owner, &s, Order::Asc).await,
        None,
        "A: not found at once"
    );
    eventually("B still lists the deleted session's first page", || async {
        listed_seqs(&on_b, &owner, &s, Order::Asc).await.is_none()
    })
    .await;

    assert!(
        on_a.delete_agent(owner, f.agent.id).await.is_ok(),
        "delete_agent"
    );
    assert_eq!(
        listed_seqs(&on_a, &owner, &second.id, Order::Asc).await,
        None,
        "A: the agent's session is not found at once"
    );
    eventually("B still lists the deleted agent's session", || async {
        listed_seqs(&on_b, &owner, &second.id, Order::Asc)
            .await
            .is_none()
    })
    .await;
}

/// While B's feed is down, B keeps nothing and asks the store each time: a
/// token revoked through A is refused by B on its very next request.
pub async fn while_the_feed_is_down_every_request_asks_the_store(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let (on_a, on_b) = (engine(&a), engine(&b));
    let u = user(&unique_email());
    a.insert_user(&u).await.expect("insert_user");
    let jti = uuid::Uuid::new_v4().to_string();
    feed_ready(&b).await;
    if let Some(feed) = b.changes() {
        // Every source down, as when the streams fail.
        for source in 0..8 {
            feed.disconnected(source);
        }
        assert!(!feed.is_healthy(), "the feed is down");
    }
    for _ in 0..2 {
        let found = on_b.authenticate(&u.id, &jti).await.expect("authenticate");
        assert_eq!(found.as_ref(), Some(&u), "B knows the live token");
    }

    on_a.revoke_token(&jti, now() + chrono::TimeDelta::hours(1))
        .await
        .expect("revoke_token");

    let found = on_b.authenticate(&u.id, &jti).await.expect("authenticate");
    assert_eq!(found, None, "refused at once while the feed is down");
}
