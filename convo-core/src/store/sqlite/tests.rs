//! How the read statements run: prepared once and kept, and walking an
//! index instead of sorting (what the read throughput rests on).

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, StatementStatus};

use super::connect::{configure, in_snapshot};
use super::error::SqliteError;
use super::migrate::migrate;
use super::page::{list_sql, page, ListQuery};
use super::rows::{self, AGENT_COLUMNS, MESSAGE_COLUMNS, PROJECT_COLUMNS, SESSION_COLUMNS};
use crate::domain::{MessageId, Order, PageRequest};

/// A path for a new database file in the system's temporary directory,
/// named after the tests that make it (`convo-<what>-<uuid>.db`).
pub(super) fn temp_db(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("convo-{what}-{}.db", uuid::Uuid::now_v7()))
}

/// A configured, migrated connection to a new in-memory database.
fn connection() -> Connection {
    let mut conn = Connection::open_in_memory().expect("open an in-memory database");
    configure(&mut conn).expect("configure the connection");
    migrate(&mut conn, ":memory:").expect("migrate");
    conn
}

/// Every list's `SELECT … WHERE <filter>` and its key, as the store runs them.
fn lists() -> Vec<(String, &'static str)> {
    vec![
        (
            format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE owner = ?"),
            "id",
        ),
        (
            format!("SELECT {AGENT_COLUMNS} FROM agents WHERE project_id = ? AND owner = ?"),
            "id",
        ),
        (
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE agent_id = ? AND owner = ?"),
            "id",
        ),
        (
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?"),
            "seq",
        ),
    ]
}

#[test]
fn a_page_read_again_with_another_limit_is_not_prepared_again() {
    let conn = connection();
    let select = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?");

    for limit in [20, 20, 5] {
        let query = ListQuery {
            select: &select,
            params: vec![MessageId::new().to_string().into()],
            key: "seq",
        };
        page(
            &conn,
            query,
            None,
            None,
            &PageRequest::<MessageId>::first(limit, Order::Asc),
            rows::message,
        )
        .expect("read a page");
    }

    let statement = conn
        .prepare_cached(&list_sql(&select, "seq", false, false, true))
        .expect("the cached statement");
    assert_eq!(
        statement.get_status(StatementStatus::Run),
        3,
        "the three pages must have run the one cached statement"
    );
    assert_eq!(
        statement.get_status(StatementStatus::RePrepare),
        0,
        "binding the LIMIT must not make SQLite parse and plan the query again"
    );
}

#[test]
fn every_page_walks_an_index_without_sorting() {
    let conn = connection();
    let mut sqls: Vec<String> = Vec::new();
    for (select, key) in lists() {
        for (lo, hi) in [(false, false), (true, false), (false, true), (true, true)] {
            for ascending in [true, false] {
                sqls.push(list_sql(&select, key, lo, hi, ascending));
            }
        }
    }
    // `last_messages`: the newest n, read backwards.
    sqls.push(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?1 ORDER BY seq DESC"
    ));

    for sql in sqls {
        let mut explain = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        // Explaining runs nothing; the parameters only need a value.
        let nulls = vec![Value::Null; explain.parameter_count()];
        let plan: Vec<String> = explain
            .query_map(params_from_iter(nulls), |r| r.get::<_, String>(3))
            .expect("the plan")
            .collect::<Result<_, _>>()
            .expect("the plan's rows");
        let plan = plan.join("; ");
        assert!(
            plan.starts_with("SEARCH") && !plan.contains("TEMP B-TREE"),
            "{sql}\nmust search an index in its order, not scan or sort: {plan}"
        );
    }
}

#[test]
fn a_snapshot_read_runs_in_one_transaction_and_ends_it_even_when_it_fails() {
    let conn = connection();

    let failed: Result<(), _> = in_snapshot(&conn, |_| {
        Err(SqliteError::Corrupt("a failure from the test".into()))
    });
    let inside = in_snapshot(&conn, |c| Ok(c.is_autocommit())).expect("a snapshot read");

    assert!(
        matches!(failed, Err(SqliteError::Corrupt(_))),
        "the work's own error is reported, got {failed:?}"
    );
    assert!(!inside, "the work must run inside a transaction");
    assert!(
        conn.is_autocommit(),
        "the connection must go back to the pool outside any transaction"
    );
    let begin = conn.prepare_cached("BEGIN").expect("the cached BEGIN");
    assert_eq!(
        begin.get_status(StatementStatus::Run),
        2,
        "both snapshots must have run the one cached BEGIN"
    );
}
