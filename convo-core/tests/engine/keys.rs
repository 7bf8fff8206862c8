//! Project API keys: made, found by their secret, confined to their
//! project and end user, limited, and accounted.

use std::sync::Arc;

use convo_core::{
    ApiKey, Caller, ConvoError, EndUser, KeyRefusal, KeyScope, ListParams, MockProvider, NewApiKey,
    NewProject, SendMessage, Settings, UsageGroupBy,
};

use crate::support::*;

fn new_key(scope: KeyScope) -> NewApiKey {
    NewApiKey {
        name: "backend".into(),
        scope,
        expires_at: None,
        rate_limit_per_minute: None,
        end_user_monthly_token_budget: None,
    }
}

fn end_user(id: &str) -> Option<EndUser> {
    Some(EndUser::parse(id).expect("end user"))
}

/// A project with one agent, and a key of `new`'s scope for it.
async fn keyed(w: &World, new: NewApiKey) -> (convo_core::Agent, Arc<ApiKey>) {
    let project = w
        .convo
        .create_project(
            &w.user,
            NewProject {
                name: "Shop".into(),
                description: None,
            },
        )
        .await
        .expect("project");
    let agent = w
        .convo
        .create_agent(&w.user, project.id, agent("Help."))
        .await
        .expect("agent");
    let issued = w
        .convo
        .create_api_key(&w.user, project.id, new)
        .await
        .expect("key");
    let key = w
        .convo
        .authenticate_api_key(&issued.secret)
        .await
        .expect("store")
        .expect("the new key authenticates");
    (agent, key)
}

/// A new project of the world's user.
async fn project(w: &World) -> convo_core::Project {
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
}

fn chat(key: &Arc<ApiKey>, who: &str) -> Caller {
    Caller::key(key.clone(), end_user(who)).expect("caller")
}

#[tokio::test]
async fn a_secret_is_shown_once_stored_hashed_and_revocable() {
    let w = world(MockProvider::new()).await;
    let project = project(&w).await;
    let issued = w
        .convo
        .create_api_key(&w.user, project.id, new_key(KeyScope::Chat))
        .await
        .expect("key");
    assert!(issued.secret.starts_with("ck_"));
    assert!(issued.secret.starts_with(&issued.key.prefix));
    assert_ne!(issued.key.secret_hash, issued.secret);
    assert!(!issued.key.secret_hash.contains(&issued.secret[3..]));

    let listed = w
        .convo
        .list_api_keys(&w.user, project.id)
        .await
        .expect("list");
    assert_eq!(listed, vec![issued.key.clone()]);

    // Another user sees no project, so no keys, and cannot revoke.
    let stranger = w
        .convo
        .register("stranger@example.com", "password123", None)
        .await
        .expect("register");
    assert!(matches!(
        w.convo.list_api_keys(&stranger.id, project.id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo
            .revoke_api_key(&stranger.id, project.id, issued.key.id)
            .await,
        Err(ConvoError::NotFound(_))
    ));

    // A second engine on the same store (another server process) refuses
    // the key as soon as it is revoked.
    let other = second_engine(&w, Settings::default());
    assert!(other
        .authenticate_api_key(&issued.secret)
        .await
        .expect("store")
        .is_ok());
    w.convo
        .revoke_api_key(&w.user, project.id, issued.key.id)
        .await
        .expect("revoke");
    assert_eq!(
        other
            .authenticate_api_key(&issued.secret)
            .await
            .expect("store")
            .map(|_| ()),
        Err(KeyRefusal::Unknown)
    );
    // A near miss or garbage is unknown too, without a store error.
    let mut near = issued.secret.clone();
    near.pop();
    near.push('x');
    for bad in [near.as_str(), "ck_", "", "Bearer x"] {
        assert_eq!(
            w.convo
                .authenticate_api_key(bad)
                .await
                .expect("store")
                .map(|_| ()),
            Err(KeyRefusal::Unknown),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn bad_key_settings_are_refused_by_field() {
    let w = world(MockProvider::new()).await;
    let project = project(&w).await;
    let cases = [
        (
            NewApiKey {
                name: " ".into(),
                ..new_key(KeyScope::Chat)
            },
            "name",
        ),
        (
            NewApiKey {
                expires_at: Some(convo_core::now() - chrono::TimeDelta::seconds(1)),
                ..new_key(KeyScope::Chat)
            },
            "expires_at",
        ),
        (
            NewApiKey {
                rate_limit_per_minute: Some(0),
                ..new_key(KeyScope::Chat)
            },
            "rate_limit_per_minute",
        ),
        (
            NewApiKey {
                end_user_monthly_token_budget: Some(0),
                ..new_key(KeyScope::Chat)
            },
            "end_user_monthly_token_budget",
        ),
    ];
    for (new, field) in cases {
        match w.convo.create_api_key(&w.user, project.id, new).await {
            Err(ConvoError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(w
        .convo
        .list_api_keys(&w.user, project.id)
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let w = world(MockProvider::new()).await;
    let (agent, _) = keyed(&w, new_key(KeyScope::Chat)).await;
    let issued = w
        .convo
        .create_api_key(
            &w.user,
            agent.project_id,
            NewApiKey {
                expires_at: Some(convo_core::now() + chrono::TimeDelta::milliseconds(50)),
                ..new_key(KeyScope::Chat)
            },
        )
        .await
        .expect("key");
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    assert_eq!(
        w.convo
            .authenticate_api_key(&issued.secret)
            .await
            .expect("store")
            .map(|_| ()),
        Err(KeyRefusal::Expired)
    );
}

#[tokio::test]
async fn a_chat_key_serves_its_end_user_in_its_project_only() {
    let w = world(MockProvider::new()).await;
    let (agent, key) = keyed(&w, new_key(KeyScope::Chat)).await;
    let alice = chat(&key, "alice");
    let bob = chat(&key, "bob");

    let session = w
        .convo
        .start_session(&alice, agent.id, None)
        .await
        .expect("start");
    assert_eq!(session.end_user, end_user("alice"));
    w.convo
        .send_message(&alice, session.id, SendMessage::new("hi"))
        .await
        .expect("send");

    // Bob sees nothing of Alice's.
    assert!(matches!(
        w.convo.session(&bob, session.id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo
            .send_message(&bob, session.id, SendMessage::new("mine?"))
            .await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo
            .list_messages(&bob, session.id, &ListParams::default())
            .await,
        Err(ConvoError::NotFound(_))
    ));
    let bobs = w
        .convo
        .list_sessions(&bob, agent.id, &ListParams::default())
        .await
        .expect("list");
    assert!(bobs.data.is_empty());
    // Naming Alice does not help Bob.
    let named = w
        .convo
        .list_end_user_sessions(
            &bob,
            agent.id,
            end_user("alice").as_ref(),
            &ListParams::default(),
        )
        .await
        .expect("list");
    assert!(named.data.is_empty());

    // The owner sees it, with its end user, and filters by end user.
    let all = w
        .convo
        .list_end_user_sessions(
            &w.user,
            agent.id,
            end_user("alice").as_ref(),
            &ListParams::default(),
        )
        .await
        .expect("list");
    assert_eq!(all.data.len(), 1);
    assert_eq!(all.data[0].end_user, end_user("alice"));
    let none = w
        .convo
        .list_end_user_sessions(
            &w.user,
            agent.id,
            end_user("carol").as_ref(),
            &ListParams::default(),
        )
        .await
        .expect("list");
    assert!(none.data.is_empty());
    // The owner's own sessions are not an end user's.
    let owners = w
        .convo
        .start_session(&w.user, agent.id, None)
        .await
        .expect("start");
    assert!(matches!(
        w.convo.session(&alice, owners.id).await,
        Err(ConvoError::NotFound(_))
    ));

    // A chat key manages nothing.
    assert!(matches!(
        w.convo.agent(&alice, agent.id).await,
        Err(ConvoError::InsufficientScope(_))
    ));
    assert!(matches!(
        w.convo.delete_session(&alice, session.id).await,
        Err(ConvoError::InsufficientScope(_))
    ));
    assert!(matches!(
        w.convo.fork_session(&alice, session.id, 1, None).await,
        Err(ConvoError::InsufficientScope(_))
    ));
    assert!(w.convo.session(&w.user, session.id).await.is_ok());
}

#[tokio::test]
async fn a_key_reaches_nothing_outside_its_project() {
    let w = world(MockProvider::new()).await;
    let (_, key) = keyed(&w, new_key(KeyScope::Admin)).await;
    let elsewhere = w.session().await; // the owner's other project
    let admin = Caller::key(key.clone(), None).expect("caller");
    assert!(matches!(
        w.convo.session(&admin, elsewhere.id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo.agent(&admin, elsewhere.agent_id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo.delete_agent(&admin, elsewhere.agent_id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo.delete_session(&admin, elsewhere.id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo
            .start_session(&admin, elsewhere.agent_id, None)
            .await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo.project(&admin, elsewhere.project_id).await,
        Err(ConvoError::NotFound(_))
    ));
    // Untouched.
    assert!(w.convo.session(&w.user, elsewhere.id).await.is_ok());
    assert!(w.convo.agent(&w.user, elsewhere.agent_id).await.is_ok());
    // Inside its project, an admin key does what the owner does.
    let made = w
        .convo
        .create_agent(&admin, key.project_id, agent("Hi."))
        .await
        .expect("admin makes an agent");
    w.convo
        .delete_agent(&admin, made.id)
        .await
        .expect("and deletes it");
}

#[tokio::test]
async fn a_keys_rate_limit_is_per_minute_and_shared_by_engines() {
    let w = world(MockProvider::new()).await;
    let project = project(&w).await;
    let issued = w
        .convo
        .create_api_key(
            &w.user,
            project.id,
            NewApiKey {
                rate_limit_per_minute: Some(3),
                ..new_key(KeyScope::Chat)
            },
        )
        .await
        .expect("key");
    let other = second_engine(&w, Settings::default());
    let mut refused = 0;
    // A minute boundary may fall inside the loop: then a new window opens,
    // so at most 3 + 3 of 8 pass; within one minute exactly 3.
    for i in 0..8 {
        let engine = if i % 2 == 0 { &w.convo } else { &other };
        match engine.authenticate_api_key(&issued.secret).await {
            Ok(Ok(_)) => {}
            Err(ConvoError::KeyRateLimited { limit, retry_after }) => {
                assert_eq!(limit, 3);
                assert!(retry_after.as_secs() >= 1 && retry_after.as_secs() <= 60);
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused >= 2, "only {refused} of 8 refused");
}

#[tokio::test]
async fn turns_are_accounted_per_key_and_end_user_and_budgets_hold() {
    let w = world(MockProvider::new()).await;
    let (agent, key) = keyed(
        &w,
        NewApiKey {
            end_user_monthly_token_budget: Some(1),
            ..new_key(KeyScope::Chat)
        },
    )
    .await;
    let alice = chat(&key, "alice");
    let session = w
        .convo
        .start_session(&alice, agent.id, None)
        .await
        .expect("start");
    w.convo
        .send_message(&alice, session.id, SendMessage::new("one"))
        .await
        .expect("the first turn is under budget");
    let before = w
        .convo
        .list_messages(&w.user, session.id, &ListParams::default())
        .await
        .expect("list")
        .data
        .len();
    match w
        .convo
        .send_message(&alice, session.id, SendMessage::new("two"))
        .await
    {
        Err(ConvoError::EndUserQuotaExceeded { resets_at }) => {
            assert_eq!(resets_at, convo_core::month_of(convo_core::now()).1)
        }
        other => panic!("{other:?}"),
    }
    let after = w
        .convo
        .list_messages(&w.user, session.id, &ListParams::default())
        .await
        .expect("list")
        .data
        .len();
    assert_eq!(before, after, "a refused turn stores nothing");
    // Bob's budget is his own.
    let bob = chat(&key, "bob");
    let bobs = w
        .convo
        .start_session(&bob, agent.id, None)
        .await
        .expect("start");
    w.convo
        .send_message(&bob, bobs.id, SendMessage::new("hi"))
        .await
        .expect("bob is under budget");
    // The owner's own turn is not an end user's.
    let own = w
        .convo
        .start_session(&w.user, agent.id, None)
        .await
        .expect("start");
    w.convo
        .send_message(&w.user, own.id, SendMessage::new("hi"))
        .await
        .expect("owner");

    let by_user = w
        .convo
        .usage(&w.user, UsageGroupBy::EndUser, None, None)
        .await
        .expect("usage");
    let keys: Vec<_> = by_user.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["", "alice", "bob"]);
    let by_key = w
        .convo
        .usage(&w.user, UsageGroupBy::Key, None, None)
        .await
        .expect("usage");
    let keys: Vec<_> = by_key.groups.iter().map(|g| g.key.clone()).collect();
    assert_eq!(keys, [String::new(), key.id.to_string()]);
    assert_eq!(by_key.groups[1].totals.turns, 2);
}

#[tokio::test]
async fn last_used_at_is_written_in_the_background_once_a_minute_at_most() {
    let w = world(MockProvider::new()).await;
    let project = project(&w).await;
    let issued = w
        .convo
        .create_api_key(&w.user, project.id, new_key(KeyScope::Admin))
        .await
        .expect("key");
    let last_used = || async {
        w.convo
            .list_api_keys(&w.user, project.id)
            .await
            .expect("list")[0]
            .last_used_at
    };
    assert_eq!(last_used().await, None, "never used");
    let used = |engine: convo_core::Convo| {
        let secret = issued.secret.clone();
        async move {
            engine
                .authenticate_api_key(&secret)
                .await
                .expect("store")
                .expect("live key");
        }
    };
    used(w.convo.clone()).await;
    let mut first = None;
    for _ in 0..200 {
        first = last_used().await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let first = first.expect("last_used_at recorded");
    // Within the minute, more uses (here and on another engine, which
    // reads the fresh `last_used_at`) write nothing.
    used(w.convo.clone()).await;
    used(second_engine(&w, Settings::default())).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(last_used().await, Some(first));
}
