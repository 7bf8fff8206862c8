//! The store conformance suite on [`SqliteStore`], each test on its own
//! temporary file, and what only a file-backed store must do: keep data
//! across a reopen, refuse a read-only file's writes as unavailable, and keep
//! `seq` and the turn lock right between two handles (two processes) on one
//! file.

#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use convo_core::store::{MessageDraft, PageRequest};
use convo_core::testkit::{append_messages, Fixture};
use convo_core::{Order, SqliteLocation, SqliteStore, Store, StoreError};

/// A path for a fresh database file, under the target directory's scratch
/// space (`cargo clean` removes them).
fn temp_db() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite_conformance");
    std::fs::create_dir_all(&dir).expect("make the scratch directory");
    dir.join(format!("{}.db", uuid::Uuid::now_v7()))
}

async fn sqlite_store() -> Arc<dyn Store> {
    let store = SqliteStore::open(temp_db())
        .await
        .expect("open a new SQLite file");
    Arc::new(store)
}

convo_core::store_conformance_tests!(sqlite_store());

#[tokio::test]
async fn a_reopened_file_keeps_its_data() {
    let path = temp_db();
    let store = SqliteStore::open(&path).await.expect("open");
    let f = Fixture::insert(&store).await;
    let written = append_messages(&store, &f.session.id, 3).await;
    drop(store);

    let reopened = SqliteStore::open(&path).await.expect("reopen");

    let session = reopened
        .session(&f.user.id, &f.session.id)
        .await
        .expect("session()")
        .expect("the session is still there");
    assert_eq!(session.message_count, 3, "message_count survives a reopen");
    let read = reopened
        .messages(&f.session.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("messages()");
    assert_eq!(
        read.data, written,
        "messages read back equal after a reopen"
    );
    let next = reopened
        .append_message(&f.session.id, MessageDraft::user("after reopen"))
        .await
        .expect("append after reopen");
    assert_eq!(next.seq, 4, "seq continues after a reopen");
}

#[tokio::test]
async fn writes_to_a_read_only_file_are_unavailable_and_reads_still_work() {
    let path = temp_db();
    let store = SqliteStore::open(&path).await.expect("open");
    let f = Fixture::insert(&store).await;
    drop(store);
    let location = format!("sqlite://{}?mode=ro", path.display());
    let location = SqliteLocation::parse(&location).expect("parse");

    let read_only = SqliteStore::open_location(location)
        .await
        .expect("open read-only");

    assert!(
        read_only
            .session(&f.user.id, &f.session.id)
            .await
            .expect("a read works")
            .is_some(),
        "the read-only store reads the session"
    );
    let refused = read_only
        .append_message(&f.session.id, MessageDraft::user("nope"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "a write to a read-only file must be Unavailable (503), got {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_keep_seq_contiguous_and_share_the_turn_lock() {
    let path = temp_db();
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open A"));
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open B"));
    let f = Fixture::insert(a.as_ref()).await;
    let session = f.session.id;

    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move {
                store
                    .append_message(&session, MessageDraft::user(format!("racer {i}")))
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.expect("no panic").expect("append").seq);
    }

    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=40).collect::<Vec<u64>>(),
        "appends through two handles must get seqs 1..=40, no gaps, no repeats"
    );
    let lease = std::time::Duration::from_secs(30);
    assert!(
        a.try_lock_turn(&session, "a", lease).await.expect("lock A"),
        "A takes the free lock"
    );
    assert!(
        !b.try_lock_turn(&session, "b", lease).await.expect("lock B"),
        "B, on another handle, must be refused while A holds the lock"
    );
    a.unlock_turn(&session, "a").await.expect("unlock A");
    assert!(
        b.try_lock_turn(&session, "b", lease)
            .await
            .expect("lock B again"),
        "B gets the lock once A released it"
    );
}

#[tokio::test]
async fn a_file_written_by_a_newer_convo_is_refused_at_open() {
    let path = temp_db();
    drop(SqliteStore::open(&path).await.expect("create"));
    let conn = rusqlite::Connection::open(&path).expect("open directly");
    conn.execute_batch("PRAGMA user_version = 999")
        .expect("pretend a newer schema");
    drop(conn);

    let refused = SqliteStore::open(&path).await;

    match refused {
        Err(StoreError::Internal(message)) => assert!(
            message.contains("schema version 999") && message.contains("upgrade Convo"),
            "the refusal must say why and what to do: {message}"
        ),
        other => panic!("a newer schema must be refused as Internal, got {other:?}"),
    }
}
