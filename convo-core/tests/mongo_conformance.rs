//! The store conformance suite on [`MongoStore`], against a real MongoDB-wire
//! server (`scripts/test.sh` starts SecantusDB and sets `CONVO_TEST_MONGODB_URI`).
//!
//! Without that variable the tests say so loudly and pass vacuously on a
//! developer machine; under CI (`CI` set) they fail instead.

#![cfg(feature = "mongodb")]

use std::sync::Arc;

use convo_core::{MongoStore, Store};

/// One database per test process run, so runs never see each other's data.
fn database_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| format!("convo_conformance_{}", uuid::Uuid::now_v7().simple()))
        .clone()
}

/// The test server's URI, or `None` (loudly; never under CI).
fn mongo_uri() -> Option<String> {
    let Ok(uri) = std::env::var("CONVO_TEST_MONGODB_URI") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the MongoDB tests: CONVO_TEST_MONGODB_URI is not set"
        );
        eprintln!("\n*** SKIPPED: MongoStore conformance test; set CONVO_TEST_MONGODB_URI (scripts/test.sh does) ***\n");
        return None;
    };
    Some(uri)
}

async fn mongo_store() -> Option<Arc<dyn Store>> {
    let uri = mongo_uri()?;
    let store = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect to the test MongoDB");
    Some(Arc::new(store))
}

/// Two clients (two connection pools) on the one database, as two server
/// processes would hold.
async fn mongo_twins() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
    let uri = mongo_uri()?;
    let a = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect handle A to the test MongoDB");
    let b = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect handle B to the test MongoDB");
    Some((Arc::new(a) as Arc<dyn Store>, Arc::new(b) as Arc<dyn Store>))
}

/// A handle on the test database and its `messages` collection through a
/// driver client of its own, to change documents behind the store's back;
/// `None` as [`mongo_uri`] says.
async fn store_and_raw_messages(
) -> Option<(MongoStore, mongodb::Collection<mongodb::bson::Document>)> {
    let uri = mongo_uri()?;
    let store = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect to the test MongoDB");
    let client = mongodb::Client::with_uri_str(&uri)
        .await
        .expect("a driver client");
    let messages = client.database(&database_name()).collection("messages");
    Some((store, messages))
}

convo_core::store_conformance_tests!(optional: mongo_store(), twins: mongo_twins());

/// A message missing from the middle of a session (a hole in `seq`, as a
/// crash between `$inc` and insert could leave on a deployment without
/// transactions) does not cut a page short, though the handle reads a
/// tight `seq` range once it has seen how long the session is: that read
/// comes back one short, and the page is read again with its own bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hole_in_seq_does_not_cut_a_page_short() {
    use convo_core::store::PageRequest;
    use convo_core::testkit::{append_messages, Fixture};
    use convo_core::Order;
    use mongodb::bson::doc;

    let Some((store, messages)) = store_and_raw_messages().await else {
        return;
    };
    let f = Fixture::insert(&store).await;
    let stored = append_messages(&store, &f.session.id, 30).await;
    let page = |order, after| PageRequest {
        limit: 10,
        order,
        after,
        before: None,
    };
    let seqs = |p: &convo_core::Page<convo_core::Message>| {
        p.data.iter().map(|m| m.seq).collect::<Vec<u64>>()
    };
    // Seen whole once: the handle now knows seqs reach 30.
    let first = store
        .messages(&f.user.id, &f.session.id, &page(Order::Asc, None))
        .await
        .expect("a first page");
    assert_eq!(seqs(&first), (1..=10).collect::<Vec<_>>());

    let removed = messages
        .delete_one(doc! { "session_id": f.session.id.to_string(), "seq": 5_i64 })
        .await
        .expect("remove message 5 behind the store's back");
    assert_eq!(removed.deleted_count, 1);

    let asc = store
        .messages(&f.user.id, &f.session.id, &page(Order::Asc, None))
        .await
        .expect("the first page again");
    assert_eq!(seqs(&asc), vec![1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
    assert!(asc.has_more);
    let after = store
        .messages(
            &f.user.id,
            &f.session.id,
            &page(Order::Asc, Some(stored[1].id)),
        )
        .await
        .expect("a page after message 2");
    assert_eq!(seqs(&after), vec![3, 4, 6, 7, 8, 9, 10, 11, 12, 13]);
    let before = store
        .messages(
            &f.user.id,
            &f.session.id,
            &PageRequest {
                limit: 10,
                order: Order::Asc,
                after: None,
                before: Some(stored[15].id),
            },
        )
        .await
        .expect("a page before message 16");
    assert_eq!(seqs(&before), (6..=15).collect::<Vec<_>>());
    assert!(before.has_more);
    let down = store
        .messages(
            &f.user.id,
            &f.session.id,
            &PageRequest {
                limit: 10,
                order: Order::Desc,
                after: Some(stored[13].id),
                before: None,
            },
        )
        .await
        .expect("a descending page after message 14");
    assert_eq!(seqs(&down), vec![13, 12, 11, 10, 9, 8, 7, 6, 4, 3]);
    assert!(down.has_more);
}

/// Messages stored before message documents carried their session's owner
/// (no `owner` field) are read by the session's owner, and by nobody else:
/// for them the page asks the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stored_without_an_owner_are_read_by_the_sessions_owner_only() {
    use convo_core::store::PageRequest;
    use convo_core::testkit::{append_messages, Fixture};
    use convo_core::Order;
    use mongodb::bson::doc;

    let Some((store, messages)) = store_and_raw_messages().await else {
        return;
    };
    let f = Fixture::insert(&store).await;
    let stranger = Fixture::insert(&store).await;
    append_messages(&store, &f.session.id, 3).await;
    let unset = messages
        .update_many(
            doc! { "session_id": f.session.id.to_string() },
            doc! { "$unset": { "owner": "" } },
        )
        .await
        .expect("drop the owner field, as older documents lack it");
    assert_eq!(unset.modified_count, 3);

    let page = PageRequest::first(10, Order::Asc);
    let mine = store
        .messages(&f.user.id, &f.session.id, &page)
        .await
        .expect("the owner reads the older messages");
    assert_eq!(
        mine.data.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let theirs = store
        .messages(&stranger.user.id, &f.session.id, &page)
        .await;
    assert!(
        matches!(theirs, Err(convo_core::StoreError::NotFound(_))),
        "another user must not read them, got {theirs:?}"
    );
    // And with owners on the messages, another user is refused from the
    // messages themselves.
    append_messages(&store, &stranger.session.id, 2).await;
    let foreign = store
        .messages(&f.user.id, &stranger.session.id, &page)
        .await;
    assert!(
        matches!(foreign, Err(convo_core::StoreError::NotFound(_))),
        "a session of another user's is not found, got {foreign:?}"
    );
}

/// A message stored but not counted (a process that crashed between its
/// insert and the count, or whose lease ran out) is in the next turn's
/// window, though this handle remembers the session's newest messages from
/// its own last turn: its append meets the uncounted seq, the count is
/// repaired, and the window is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncounted_message_is_in_the_next_turns_window() {
    use convo_core::store::MessageDraft;
    use convo_core::testkit::Fixture;
    use mongodb::bson::doc;
    use std::time::Duration;

    let Some((store, messages)) = store_and_raw_messages().await else {
        return;
    };
    let f = Fixture::insert(&store).await;
    let (owner, s) = (f.user.id, f.session.id);
    let lease = Duration::from_secs(30);
    let window = |n| {
        let store = &store;
        async move {
            store
                .last_messages(&s, n)
                .await
                .expect("last_messages")
                .iter()
                .map(|m| (m.seq, m.content.clone()))
                .collect::<Vec<_>>()
        }
    };

    store
        .try_lock_turn(&owner, &s, "one", lease)
        .await
        .expect("lock")
        .expect("free");
    store
        .append_message(&s, MessageDraft::user("q1"))
        .await
        .expect("q1");
    assert_eq!(window(10).await.len(), 1);
    store
        .append_and_unlock(&s, "one", MessageDraft::user("a1"), None)
        .await
        .expect("a1");

    // Seq 3 stored behind the store's back, the count left at 2.
    let mut uncounted = messages
        .find_one(doc! { "session_id": s.to_string(), "seq": 2_i64 })
        .await
        .expect("read message 2")
        .expect("message 2 is stored");
    uncounted.insert("_id", uuid::Uuid::now_v7().to_string());
    uncounted.insert("seq", 3_i64);
    uncounted.insert("content", "uncounted");
    messages
        .insert_one(uncounted)
        .await
        .expect("store seq 3 uncounted");

    let taken = store
        .try_lock_turn(&owner, &s, "two", lease)
        .await
        .expect("lock")
        .expect("free");
    assert_eq!(taken.message_count, 2, "the count does not know seq 3");
    let q2 = store
        .append_message(&s, MessageDraft::user("q2"))
        .await
        .expect("q2");
    assert_eq!(q2.seq, 4, "the append steps over the uncounted seq");
    assert_eq!(
        window(2).await,
        vec![(3, "uncounted".to_owned()), (4, "q2".to_owned())]
    );
    store.unlock_turn(&s, "two", None).await.expect("unlock");
}
