//! Opening the file: the two connection pools, each connection's settings,
//! WAL, and the migrations.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::Timeouts;
use deadpool::Runtime;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::error::SqliteError;
use super::pool::{Hook, HookError, Manager, Pool};
use super::wal_index::WalIndex;
use super::{migrate, SqliteLocation, SqliteStore};
use crate::store::{ChangeFeed, StoreError};

/// How long a write waits for another process's write lock before the call
/// answers [`StoreError::Unavailable`].
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a pooled connection (the writer is one).
const POOL_WAIT: Duration = Duration::from_secs(30);
/// Connections that read in parallel with the writer (WAL lets them).
const READERS: usize = 4;
/// Prepared statements kept per connection. rusqlite's default of 16 is
/// fewer than the distinct statements the store runs (each list has a
/// variant per cursor and direction), so a mixed load would evict and parse
/// them again; a statement is a few KiB.
const STATEMENT_CACHE: usize = 128;

/// Every connection's settings (per connection in SQLite, so set on each).
pub(super) fn configure(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Foreign keys are off by default in SQLite; the cascades need them.
    // synchronous = FULL: see the module doc of `SqliteStore` for what a
    // power cut can lose.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
    // The query planner stability guarantee: a statement's plan never
    // depends on the values bound to it. Without it, the bundled SQLite
    // (3.50.2, built with SQLITE_ENABLE_STAT4) treats a bound `LIMIT ?` as
    // able to change the plan (`sqlite3ExprIsInteger` sets the parameter's
    // bit in the statement's `expmask`), so binding it expires the
    // statement and every page and `last_messages` call parsed and planned
    // its query again (the tests count it). The plans kept are the
    // index walks the queries are written for (the tests check them), and
    // the store never gathers the statistics (`ANALYZE`) a re-plan could use.
    // <https://www.sqlite.org/c3ref/c_dbconfig_defensive.html>,
    // SQLITE_DBCONFIG_ENABLE_QPSG (read 2026-12-01).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The name SQLite opens: a plain path, or a `file:` URI for read-only mode
/// (`?`, `#` and `%` are the characters a URI path must escape).
fn open_name(location: &SqliteLocation) -> String {
    let path = location.path().to_string_lossy();
    if !location.is_read_only() {
        return path.into_owned();
    }
    let escaped = path
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    format!("file:{escaped}?mode=ro")
}

fn pool(name: &str, size: usize) -> Result<Pool, SqliteError> {
    let hook = Hook::async_fn(|conn, _| {
        Box::pin(async move {
            conn.interact(configure)
                .await
                .map_err(|e| HookError::message(e.to_string()))?
                .map_err(HookError::Backend)
        })
    });
    Pool::builder(Manager::new(name.to_owned()))
        .runtime(Runtime::Tokio1)
        .max_size(size)
        .timeouts(Timeouts {
            wait: Some(POOL_WAIT),
            create: Some(POOL_WAIT),
            recycle: Some(POOL_WAIT),
        })
        .post_create(hook)
        .build()
        .map_err(|e| SqliteError::Interact(format!("cannot build the connection pool: {e}")))
}

/// `work` between a `BEGIN` and a `COMMIT`, both prepared once per
/// connection (`Connection::transaction` parses them on every call).
pub(super) fn in_snapshot<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, SqliteError>,
) -> Result<T, SqliteError> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let out = work(conn);
    // Ended the same way when `work` failed: a read transaction has nothing
    // to undo, and the connection must go back to the pool outside one.
    let ended = conn.prepare_cached("COMMIT")?.execute([]);
    if ended.is_err() && !conn.is_autocommit() {
        // Best effort; the COMMIT's own error is the one reported.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let out = out?;
    ended?;
    Ok(out)
}

impl SqliteStore {
    /// Opens (creating it if need be) the database file at `path`, read-write.
    pub async fn open(path: impl Into<std::path::PathBuf>) -> Result<Self, StoreError> {
        Self::open_location(SqliteLocation::file(path)).await
    }

    /// Opens the database a [`SqliteLocation`] names: switches it to WAL
    /// and applies the missing migrations. A file written by a newer Convo
    /// is refused ([`StoreError::Internal`], naming both schema versions).
    pub async fn open_location(location: SqliteLocation) -> Result<Self, StoreError> {
        let name = open_name(&location);
        let writer = pool(&name, 1)?;
        let readers = pool(&name, READERS)?;
        let shown = location.path().display().to_string();
        let conn = writer.get().await.map_err(SqliteError::from)?;
        conn.interact(move |conn| -> Result<(), SqliteError> {
            // WAL: readers never wait for the writer, and a commit is one
            // append to the log. Kept in the file; a read-only file keeps
            // whatever mode it has.
            let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            migrate::migrate(conn, &shown)
        })
        .await
        .map_err(SqliteError::from)??;
        drop(conn);
        // Not on a read-only file: SQLite may keep its index in private
        // memory there, and the `-shm` file could be another process's to reset.
        let feed = if location.is_read_only() {
            None
        } else {
            let path = location.path().to_owned();
            tokio::task::spawn_blocking(move || WalIndex::open(&path, &name))
                .await
                .map_err(|e| SqliteError::Interact(format!("mapping the WAL index: {e}")))?
                .map(|index| Arc::new(ChangeFeed::probed(Box::new(index))))
        };
        if feed.is_none() {
            tracing::info!(
                path = %location.path().display(),
                "the WAL index cannot be mapped: every request reads authentication from the file"
            );
        }
        Ok(Self {
            writer,
            readers,
            location,
            feed,
        })
    }

    /// Where the data is.
    pub fn location(&self) -> &SqliteLocation {
        &self.location
    }

    /// Runs `work` on the writer in one `BEGIN IMMEDIATE` transaction,
    /// committed if `work` succeeds and rolled back otherwise. Taking the
    /// write lock up front makes a second process wait (`busy_timeout`)
    /// instead of failing half-way.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, SqliteError> + Send + 'static,
    {
        let conn = self.writer.get().await.map_err(SqliteError::from)?;
        let out = conn
            .interact(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = work(&tx)?;
                tx.commit()?;
                Ok::<_, SqliteError>(out)
            })
            .await
            .map_err(SqliteError::from)?;
        Ok(out?)
    }
}
