//! Versioned migrations: `PRAGMA user_version` is the number of migrations
//! applied; each start-up applies the missing ones in one transaction, and
//! refuses a file from a newer Convo rather than misread it.

use rusqlite::{Connection, TransactionBehavior};

use super::error::SqliteError;

/// The migrations, oldest first: migration *i* (from 0) takes the schema
/// from version *i* to *i + 1*. Never edit one that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_tools.sql"),
    include_str!("migrations/0003_external_identities.sql"),
    include_str!("migrations/0004_api_keys.sql"),
];

/// The schema version this build writes.
pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

fn version(conn: &Connection) -> Result<i64, SqliteError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Brings the file at `path` (open on `conn`) to [`latest`]. Safe when
/// several processes start at once: the check and the migrations run under
/// one write lock. An up-to-date file is only read, so a read-only one opens.
pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<(), SqliteError> {
    let newer = |found| SqliteError::NewerSchema {
        path: path.to_owned(),
        found,
        known: latest(),
    };
    let found = version(conn)?;
    if found > latest() {
        return Err(newer(found));
    }
    if found < 0 {
        // Not a version Convo ever writes: some other program's file.
        return Err(SqliteError::Corrupt(format!(
            "{path} has schema version {found}; it was not made by Convo"
        )));
    }
    if found == latest() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again under the lock: another process may have migrated meanwhile.
    let found = version(&tx)?;
    if found > latest() {
        return Err(newer(found));
    }
    let applied_already = usize::try_from(found).unwrap_or(0);
    for (applied, migration) in MIGRATIONS.iter().enumerate().skip(applied_already) {
        tx.execute_batch(migration)?;
        tracing::info!(version = applied + 1, "applied a SQLite schema migration");
    }
    // A PRAGMA takes no bound parameters; the value is our own constant.
    tx.execute_batch(&format!("PRAGMA user_version = {}", latest()))?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_leaves_the_latest_version() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, ":memory:").expect("first migration");
        migrate(&mut conn, ":memory:").expect("second run is a no-op");
        assert_eq!(version(&conn).ok(), Some(latest()));
    }

    #[test]
    fn a_negative_schema_version_is_refused_and_nothing_is_migrated() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("PRAGMA user_version = -1").expect("set");

        let refused = migrate(&mut conn, "other.db");

        assert!(refused.is_err(), "a negative version must be refused");
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .expect("count");
        assert_eq!(tables, 0, "no migration may run on a foreign file");
    }

    #[test]
    fn a_file_from_a_newer_convo_is_refused_naming_both_versions() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("PRAGMA user_version = 99").expect("set");

        let refused = migrate(&mut conn, "future.db").map_err(|e| e.to_string());

        let message = refused.expect_err("a newer schema must be refused");
        assert!(
            message.contains("future.db")
                && message.contains("version 99")
                && message.contains(&format!("up to {}", latest())),
            "the refusal must name the file and both versions: {message}"
        );
    }
}
