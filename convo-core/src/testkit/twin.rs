//! Two handles on one backend (two engine instances, two processes): what
//! the trait promises between them. These behaviours take both handles and
//! run only when the backend's test file gives
//! [`store_conformance_tests!`](crate::store_conformance_tests) a way to open
//! a second handle.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;

use chrono::TimeDelta;

use super::fixtures::{unique_email, user, Fixture};
use crate::domain::{now, MessageDraft};
use crate::store::Store;

/// Long enough that no test outlives it by accident.
const LONG: Duration = Duration::from_secs(30);

/// 40 appends racing through two handles (20 each) get seqs 1..=40: no
/// gaps, no repeats, and `message_count` is 40 through both.
pub async fn concurrent_appends_through_two_handles_keep_seq_contiguous(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let f = Fixture::insert(a.as_ref()).await;
    let session = f.session.id;
    let start = Arc::new(Barrier::new(40));

    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store
                    .append_message(&session, MessageDraft::user(format!("racer {i}")))
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::with_capacity(40);
    for task in tasks {
        let message = task
            .await
            .expect("the append task must not panic")
            .expect("a concurrent append_message must succeed");
        seqs.push(message.seq);
    }

    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=40).collect::<Vec<u64>>(),
        "appends through two handles must get seqs 1..=40, no gaps, no repeats"
    );
    for (name, store) in [("A", &a), ("B", &b)] {
        let read = store
            .session(&f.user.id, &session)
            .await
            .expect("session()")
            .expect("the session is there");
        assert_eq!(
            read.message_count, 40,
            "message_count read through handle {name}"
        );
    }
}

/// The lock taken through one handle refuses a holder on the other, and is
/// free to it once released; 20 lockers racing through both get one winner.
pub async fn the_turn_lock_taken_through_one_handle_excludes_the_other(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let f = Fixture::insert(a.as_ref()).await;
    let (o, s) = (f.user.id, f.session.id);

    assert!(
        a.try_lock_turn(&o, &s, "a", LONG)
            .await
            .expect("lock A")
            .is_some(),
        "A takes the free lock through handle A"
    );
    assert!(
        b.try_lock_turn(&o, &s, "b", LONG)
            .await
            .expect("lock B")
            .is_none(),
        "B, through handle B, must be refused while A holds the lock"
    );
    b.unlock_turn(&s, "b", None).await.expect("unlock B");
    assert!(
        b.try_lock_turn(&o, &s, "b", LONG)
            .await
            .expect("lock B")
            .is_none(),
        "B's unlock through handle B must not release A's lock"
    );
    a.unlock_turn(&s, "a", None).await.expect("unlock A");
    assert!(
        b.try_lock_turn(&o, &s, "b", LONG)
            .await
            .expect("lock B")
            .is_some(),
        "B gets the lock through handle B once A released it"
    );
    b.unlock_turn(&s, "b", None).await.expect("unlock B");

    let start = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store
                    .try_lock_turn(&o, &s, &format!("racer-{i}"), LONG)
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        let won = task
            .await
            .expect("the lock task must not panic")
            .expect("a concurrent try_lock_turn must succeed");
        winners += usize::from(won.is_some());
    }
    assert_eq!(
        winners, 1,
        "exactly one of 20 lockers racing through two handles must win"
    );
}

/// A cancel requested through one handle reaches the holder polling through
/// the other.
pub async fn a_cancel_through_one_handle_reaches_the_holder_on_the_other(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let f = Fixture::insert(a.as_ref()).await;
    let (o, s) = (f.user.id, f.session.id);
    assert!(
        a.try_lock_turn(&o, &s, "a", LONG)
            .await
            .expect("lock A")
            .is_some(),
        "A takes the lock through handle A"
    );

    assert!(
        b.cancel_turn(&s).await.expect("cancel through B"),
        "cancel_turn through handle B sees A's running turn"
    );

    assert!(
        a.turn_cancel_requested(&s, "a")
            .await
            .expect("turn_cancel_requested through A"),
        "the holder, polling through handle A, sees the request made through B"
    );
}

/// A token revoked through one handle no longer authenticates through the
/// other, on the very next call: no handle may keep an answer the other can
/// make stale.
pub async fn a_revocation_through_one_handle_fails_authenticate_on_the_other(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let ada = user(&unique_email());
    a.insert_user(&ada).await.expect("insert_user must succeed");
    let jti = uuid::Uuid::now_v7().to_string();
    let before = b
        .authenticate(&ada.id, &jti)
        .await
        .expect("authenticate must succeed");
    assert_eq!(
        before.as_ref(),
        Some(&ada),
        "before the revocation the other handle must authenticate the user"
    );

    a.revoke_token(&jti, now() + TimeDelta::hours(1))
        .await
        .expect("revoke_token must succeed");

    let after = b
        .authenticate(&ada.id, &jti)
        .await
        .expect("authenticate must succeed");
    assert_eq!(
        after, None,
        "a revocation through one handle must hold at once on the other"
    );
}

/// A key deleted through one handle is missed by `api_key_by_hash` on the
/// other at once, even right after that handle found it: no handle may keep
/// a key the other deleted.
pub async fn a_key_deleted_through_one_handle_is_missed_at_once_through_the_other(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let f = Fixture::insert(a.as_ref()).await;
    let key = super::fixtures::api_key(&f.project);
    a.insert_api_key(&key).await.expect("insert_api_key");
    let before = b
        .api_key_by_hash(&key.secret_hash)
        .await
        .expect("api_key_by_hash must succeed");
    assert_eq!(
        before.as_ref(),
        Some(&key),
        "the other handle finds the key before the delete"
    );

    let deleted = a
        .delete_api_key(&f.user.id, &f.project.id, &key.id)
        .await
        .expect("delete_api_key must succeed");

    assert!(deleted, "the delete through A answers true");
    let after = b
        .api_key_by_hash(&key.secret_hash)
        .await
        .expect("api_key_by_hash must succeed");
    assert_eq!(
        after, None,
        "a key deleted through one handle must be missed at once on the other"
    );
}

/// 40 requests of one key racing through two handles in one window get the
/// counts 1..=40: processes sharing a backend share the limit.
pub async fn key_requests_counted_through_two_handles_share_one_window(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let key = crate::domain::KeyId::new();
    let window = super::keys::this_minute();
    let start = Arc::new(Barrier::new(40));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.count_key_request(&key, window).await
            })
        })
        .collect();

    let mut counts = Vec::with_capacity(40);
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
        (1..=40).collect::<Vec<u64>>(),
        "requests through two handles must count exactly 1..=40"
    );
}

/// Pages of one session read through handle B while handle A appends and
/// then deletes it: each page is exactly the stored messages next to its
/// cursor, whatever B saw of the session before (a backend may remember
/// how long a session was, to read a tighter range of `seq`s), and once
/// the session is gone every page is not found.
pub async fn pages_read_through_one_handle_follow_appends_and_deletes_through_the_other(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    use crate::domain::{Order, PageRequest};
    let f = Fixture::insert(a.as_ref()).await;
    let (owner, session) = (f.user.id, f.session.id);
    let page = |limit: usize, order, after, before| PageRequest {
        limit,
        order,
        after,
        before,
    };
    let contents = |p: &crate::domain::Page<crate::domain::Message>| {
        p.data.iter().map(|m| m.seq).collect::<Vec<_>>()
    };
    let mut stored = super::fixtures::append_messages(a.as_ref(), &session, 30).await;

    // B reads the oldest and the newest 10: it has now seen seqs up to 30.
    let oldest = b
        .messages(&owner, &session, &page(10, Order::Asc, None, None))
        .await
        .expect("a page through B");
    assert_eq!(contents(&oldest), (1..=10).collect::<Vec<u64>>());
    assert!(oldest.has_more);
    let newest = b
        .messages(&owner, &session, &page(10, Order::Desc, None, None))
        .await
        .expect("a page through B");
    assert_eq!(contents(&newest), (21..=30).rev().collect::<Vec<u64>>());

    // A appends 5 more: B's newest page shows them, and no more than 10.
    stored.extend(super::fixtures::append_messages(a.as_ref(), &session, 5).await);
    let newest = b
        .messages(&owner, &session, &page(10, Order::Desc, None, None))
        .await
        .expect("a page through B after A's appends");
    assert_eq!(
        contents(&newest),
        (26..=35).rev().collect::<Vec<u64>>(),
        "B's newest page must hold A's latest appends"
    );
    assert!(newest.has_more);
    // Upwards from message 30: the 5 new ones, and nothing beyond.
    let after = b
        .messages(
            &owner,
            &session,
            &page(10, Order::Asc, Some(stored[29].id), None),
        )
        .await
        .expect("a page after a cursor through B");
    assert_eq!(contents(&after), (31..=35).collect::<Vec<u64>>());
    assert!(!after.has_more, "nothing lies beyond the newest message");
    // Between two cursors, walking down from `before`.
    let between = b
        .messages(
            &owner,
            &session,
            &page(3, Order::Asc, None, Some(stored[19].id)),
        )
        .await
        .expect("a page before a cursor through B");
    assert_eq!(contents(&between), vec![17, 18, 19]);
    assert!(between.has_more);

    // A deletes the session: B, which saw 35 messages, finds none of it.
    assert!(a
        .delete_session(&owner, &session)
        .await
        .expect("delete_session through A"));
    for (order, after) in [
        (Order::Asc, None),
        (Order::Desc, None),
        (Order::Asc, Some(stored[4].id)),
    ] {
        let read = b
            .messages(&owner, &session, &page(10, order, after, None))
            .await;
        assert!(
            matches!(read, Err(crate::store::StoreError::NotFound(_))),
            "a deleted session's page ({order:?}, after {after:?}) must be not found through B, got {read:?}"
        );
    }
}
