//! The store conformance suite on [`SqliteStore`], each test on its own
//! temporary file (its two-handle behaviours on two `SqliteStore::open`s of
//! one file, as two processes would), and what only a file-backed store must
//! do: keep data across a reopen and refuse a read-only file's writes as
//! unavailable.

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

/// Two handles (two connection pools) on one new file.
async fn sqlite_twins() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let path = temp_db();
    let a = SqliteStore::open(&path).await.expect("open handle A");
    let b = SqliteStore::open(&path).await.expect("open handle B");
    (Arc::new(a) as Arc<dyn Store>, Arc::new(b) as Arc<dyn Store>)
}

convo_core::store_conformance_tests!(sqlite_store(), twins: sqlite_twins());

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
        .messages(
            &f.user.id,
            &f.session.id,
            &PageRequest::first(100, Order::Asc),
        )
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

/// A file at schema version 1 (before tools) migrates at open, and what it
/// held reads back as having no tools.
#[tokio::test]
async fn a_version_1_file_migrates_and_its_rows_read_as_without_tools() {
    let path = temp_db();
    let conn = rusqlite::Connection::open(&path).expect("create directly");
    conn.execute_batch(include_str!(
        "../src/store/sqlite/migrations/0001_initial.sql"
    ))
    .expect("the version 1 schema");
    let (user, project, agent, session) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    conn.execute_batch(&format!(
        "INSERT INTO projects VALUES ('{project}', '{user}', 'P', NULL, 1, 1);
         INSERT INTO agents (id, project_id, owner, name, system_prompt, model, temperature,
             max_output_tokens, context_messages, context_tokens, reasoning_effort,
             created_at, updated_at)
         VALUES ('{agent}', '{project}', '{user}', 'A', 'be brief', 'gemini-3.8-flash', NULL,
             NULL, 20, NULL, NULL, 1, 1);
         INSERT INTO sessions (id, agent_id, project_id, owner, title, message_count,
             created_at, updated_at)
         VALUES ('{session}', '{agent}', '{project}', '{user}', NULL, 1, 1, 1);
         INSERT INTO messages (id, session_id, seq, role, content, created_at)
         VALUES ('{}', '{session}', 1, 'user', 'hi', 1);
         PRAGMA user_version = 1;",
        uuid::Uuid::now_v7()
    ))
    .expect("version 1 rows");
    drop(conn);

    let store = SqliteStore::open(&path).await.expect("migrates at open");
    let owner = user.to_string().parse().expect("user id");
    let agent = store
        .agent(&owner, &agent.to_string().parse().expect("agent id"))
        .await
        .expect("read")
        .expect("the agent is still there");
    assert!(agent.tools.is_empty());
    assert_eq!(agent.max_tool_rounds, 8, "the default number of rounds");
    assert_eq!(agent.webhook_secret, None);
    let session_id = session.to_string().parse().expect("session id");
    let session = store
        .session(&owner, &session_id)
        .await
        .expect("read")
        .expect("the session is still there");
    assert!(session.pending_tool_calls.is_empty());
    let messages = store.last_messages(&session_id, 5).await.expect("read");
    assert_eq!(messages.len(), 1);
    assert!(messages[0].tool_calls.is_empty() && !messages[0].is_error);
    assert_eq!(messages[0].tool_call_id, None);
}
