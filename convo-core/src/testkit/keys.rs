//! Project API keys: stored, listed, found by their secret's hash, touched,
//! deleted (alone or with their project), and their per-minute request
//! counts.

use std::sync::Arc;

use chrono::{DurationRound, TimeDelta};
use tokio::sync::Barrier;

use super::fixtures::{api_key, assert_not_found, project, Fixture};
use crate::domain::{now, ApiKey, KeyId, KeyScope, Timestamp};
use crate::store::{Store, StoreError};

/// The start of the current minute: a window as the engine computes it
/// (a recent one, so a store that expires old windows keeps it for the test).
pub(super) fn this_minute() -> Timestamp {
    now()
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap_or_else(|_| now())
}

/// Inserts a fresh chat key of the fixture's project.
async fn insert_key(store: &dyn Store, f: &Fixture) -> ApiKey {
    let key = api_key(&f.project);
    store
        .insert_api_key(&key)
        .await
        .expect("insert_api_key into the owner's project must succeed");
    key
}

/// A project's keys are listed to its owner oldest (lowest id) first,
/// field for field, without another project's; each is found by its
/// secret's hash, and an unknown hash finds none.
pub async fn api_keys_are_listed_oldest_first_and_found_by_their_hash(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let at = now();
    let keys = [
        api_key(&f.project),
        ApiKey {
            scope: KeyScope::Admin,
            expires_at: Some(at + TimeDelta::days(30)),
            last_used_at: Some(at),
            rate_limit_per_minute: None,
            end_user_monthly_token_budget: None,
            ..api_key(&f.project)
        },
        ApiKey {
            end_user_monthly_token_budget: Some(u64::from(u32::MAX) * 4),
            ..api_key(&f.project)
        },
    ];
    for i in [2, 0, 1] {
        store
            .insert_api_key(&keys[i])
            .await
            .expect("insert_api_key must succeed");
    }
    let sibling = project(&f.user.id);
    store
        .insert_project(&sibling)
        .await
        .expect("insert_project");
    let sibling_key = api_key(&sibling);
    store
        .insert_api_key(&sibling_key)
        .await
        .expect("insert_api_key into another project of the owner");

    let listed = store
        .api_keys(&f.user.id, &f.project.id)
        .await
        .expect("api_keys must succeed");

    assert_eq!(
        listed, keys,
        "the project's keys, oldest first, read back equal, and no other project's"
    );
    for key in keys.iter().chain([&sibling_key]) {
        let found = store
            .api_key_by_hash(&key.secret_hash)
            .await
            .expect("api_key_by_hash must succeed");
        assert_eq!(found.as_ref(), Some(key), "a key is found by its hash");
    }
    let unknown = store
        .api_key_by_hash(&"0".repeat(64))
        .await
        .expect("api_key_by_hash must succeed");
    assert_eq!(unknown, None, "an unknown hash finds no key");
}

/// Another owner's project lists no keys to me, and a key naming me as the
/// owner of it (or of a missing project) is refused as `NotFound` and not
/// stored.
pub async fn api_keys_of_another_owners_project_are_unreachable(store: Arc<dyn Store>) {
    let mine = Fixture::insert(store.as_ref()).await;
    let theirs = Fixture::insert(store.as_ref()).await;
    let their_key = insert_key(store.as_ref(), &theirs).await;

    let listed = store
        .api_keys(&mine.user.id, &theirs.project.id)
        .await
        .expect("api_keys must succeed");
    assert!(
        listed.is_empty(),
        "another owner's project lists no keys to me, got {listed:?}"
    );

    let intruder = ApiKey {
        owner: mine.user.id,
        ..api_key(&theirs.project)
    };
    assert_not_found(
        store.insert_api_key(&intruder).await,
        "insert_api_key into another owner's project",
    );
    let orphan = api_key(&project(&mine.user.id));
    assert_not_found(
        store.insert_api_key(&orphan).await,
        "insert_api_key into a missing project",
    );
    for refused in [&intruder, &orphan] {
        let found = store
            .api_key_by_hash(&refused.secret_hash)
            .await
            .expect("api_key_by_hash must succeed");
        assert_eq!(found, None, "a refused key must not be stored");
    }
    let theirs_listed = store
        .api_keys(&theirs.user.id, &theirs.project.id)
        .await
        .expect("api_keys must succeed");
    assert_eq!(theirs_listed, [their_key], "the owner's keys are unchanged");
}

/// Deleting a key takes its owner and its project: through another owner
/// or another project it answers `false` and the key stays; through its
/// own it answers `true`, and the key is gone from the list and by hash;
/// a second delete answers `false`.
pub async fn deleting_an_api_key_needs_its_owner_and_project(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let stranger = Fixture::insert(store.as_ref()).await;
    let key = insert_key(store.as_ref(), &f).await;
    let sibling = project(&f.user.id);
    store
        .insert_project(&sibling)
        .await
        .expect("insert_project");

    let attempts = [
        ("another owner", stranger.user.id, f.project.id),
        ("another project of the owner", f.user.id, sibling.id),
    ];
    for (who, owner, project) in attempts {
        let deleted = store
            .delete_api_key(&owner, &project, &key.id)
            .await
            .expect("delete_api_key must succeed");
        assert!(!deleted, "a delete through {who} must answer false");
        let found = store
            .api_key_by_hash(&key.secret_hash)
            .await
            .expect("api_key_by_hash must succeed");
        assert_eq!(
            found.as_ref(),
            Some(&key),
            "a delete through {who} must leave the key"
        );
    }

    let deleted = store
        .delete_api_key(&f.user.id, &f.project.id, &key.id)
        .await
        .expect("delete_api_key must succeed");
    assert!(
        deleted,
        "the owner's delete in the key's project answers true"
    );
    let found = store
        .api_key_by_hash(&key.secret_hash)
        .await
        .expect("api_key_by_hash must succeed");
    assert_eq!(found, None, "a deleted key is not found by its hash");
    let listed = store
        .api_keys(&f.user.id, &f.project.id)
        .await
        .expect("api_keys must succeed");
    assert!(listed.is_empty(), "a deleted key is not listed: {listed:?}");
    let again = store
        .delete_api_key(&f.user.id, &f.project.id, &key.id)
        .await
        .expect("delete_api_key must succeed");
    assert!(!again, "deleting a deleted key answers false");
}

/// `touch_api_key` moves `last_used_at` forward only, and touching a key
/// that is gone does nothing and succeeds.
pub async fn touching_an_api_key_never_moves_last_used_back(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let key = insert_key(store.as_ref(), &f).await;
    let t1 = now();
    let last_used = || {
        let store = Arc::clone(&store);
        let hash = key.secret_hash.clone();
        async move {
            store
                .api_key_by_hash(&hash)
                .await
                .expect("api_key_by_hash must succeed")
                .expect("the key is stored")
                .last_used_at
        }
    };

    let steps = [
        (t1, Some(t1), "the first touch sets last_used_at"),
        (
            t1 - TimeDelta::minutes(5),
            Some(t1),
            "an earlier touch must not move it back",
        ),
        (
            t1 + TimeDelta::minutes(2),
            Some(t1 + TimeDelta::minutes(2)),
            "a later touch moves it forward",
        ),
    ];
    for (at, expected, why) in steps {
        store
            .touch_api_key(&key.id, at)
            .await
            .expect("touch_api_key must succeed");
        assert_eq!(last_used().await, expected, "{why}");
    }
    store
        .touch_api_key(&KeyId::new(), t1)
        .await
        .expect("touching a key that is not stored must succeed (and do nothing)");
}

/// A second key with a stored key's secret hash, even in another owner's
/// project, is a `Conflict`, and the hash still finds the first key.
pub async fn a_second_api_key_with_the_same_secret_hash_is_a_conflict(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let other = Fixture::insert(store.as_ref()).await;
    let first = insert_key(store.as_ref(), &f).await;
    let twin = ApiKey {
        secret_hash: first.secret_hash.clone(),
        ..api_key(&other.project)
    };

    let refused = store.insert_api_key(&twin).await;

    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "a duplicate secret hash must be a Conflict, got {refused:?}"
    );
    let found = store
        .api_key_by_hash(&first.secret_hash)
        .await
        .expect("api_key_by_hash must succeed");
    assert_eq!(found, Some(first), "the hash still finds the first key");
    let listed = store
        .api_keys(&other.user.id, &other.project.id)
        .await
        .expect("api_keys must succeed");
    assert!(listed.is_empty(), "the refused key is not stored");
}

/// Requests count 1, 2, 3 within a key's window, per key, and from 1 again
/// in the next window.
pub async fn key_requests_count_up_within_a_window_and_restart_in_the_next(store: Arc<dyn Store>) {
    let (key, other) = (KeyId::new(), KeyId::new());
    let window = this_minute();
    let next = window + TimeDelta::minutes(1);
    let count = |key: KeyId, window: Timestamp| {
        let store = Arc::clone(&store);
        async move {
            store
                .count_key_request(&key, window)
                .await
                .expect("count_key_request must succeed")
        }
    };

    let mut counts = Vec::new();
    for _ in 0..3 {
        counts.push(count(key, window).await);
    }
    let other_count = count(other, window).await;
    let mut next_counts = Vec::new();
    for _ in 0..2 {
        next_counts.push(count(key, next).await);
    }

    assert_eq!(counts, [1, 2, 3], "requests count up within a window");
    assert_eq!(other_count, 1, "each key has its own count");
    assert_eq!(next_counts, [1, 2], "the next window counts from 1 again");
}

/// 50 requests of one key racing in one window get the counts 1..=50:
/// none lost, none repeated.
pub async fn fifty_concurrent_key_requests_count_one_to_fifty(store: Arc<dyn Store>) {
    let key = KeyId::new();
    let window = this_minute();
    let start = Arc::new(Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                store.count_key_request(&key, window).await
            })
        })
        .collect();

    let mut counts = Vec::with_capacity(50);
    for task in tasks {
        counts.push(
            task.await
                .expect("the counting task must not panic")
                .expect("a concurrent count_key_request must succeed"),
        );
    }

    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<u64>>(),
        "50 concurrent requests must count exactly 1..=50"
    );
}

/// Deleting a project deletes its keys (no longer found by hash), and only
/// its keys.
pub async fn deleting_a_project_deletes_its_api_keys(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let doomed = insert_key(store.as_ref(), &f).await;
    let kept_project = project(&f.user.id);
    store
        .insert_project(&kept_project)
        .await
        .expect("insert_project");
    let kept = api_key(&kept_project);
    store.insert_api_key(&kept).await.expect("insert_api_key");

    let deleted = store
        .delete_project(&f.user.id, &f.project.id)
        .await
        .expect("delete_project must succeed");

    assert!(deleted, "delete_project answers true");
    let found = store
        .api_key_by_hash(&doomed.secret_hash)
        .await
        .expect("api_key_by_hash must succeed");
    assert_eq!(found, None, "a deleted project's key is not found by hash");
    let listed = store
        .api_keys(&f.user.id, &f.project.id)
        .await
        .expect("api_keys must succeed");
    assert!(listed.is_empty(), "a deleted project lists no keys");
    let survivor = store
        .api_key_by_hash(&kept.secret_hash)
        .await
        .expect("api_key_by_hash must succeed");
    assert_eq!(survivor, Some(kept), "another project's key stays");
}
