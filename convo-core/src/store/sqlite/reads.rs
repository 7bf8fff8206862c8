//! Where a read runs: on the caller's thread when it is short, on tokio's
//! blocking threads when it is not.
//!
//! A trip to the blocking threads costs two thread hand-offs and their
//! futex waits per call. For the reads most requests make (a row by its
//! key, a page of at most [`PageRequest::MAX_LIMIT`] rows through an
//! index, from pages SQLite already holds in memory) those hand-offs cost
//! more than the read: measured on `GET …/messages` (2 cores, release),
//! running the read in place took about 40% less of the server's CPU per
//! request. So a *short* read ([`SqliteStore::read`],
//! [`SqliteStore::read_snapshot`]) runs in place, which is what tokio's
//! guidance allows for work of tens of microseconds between `.await`s.
//!
//! What could make it wait longer is kept off the runtime's threads:
//! - **Locks.** In WAL mode a reader never waits for the writer. The rare
//!   cases where it could (another process recovering the log after a
//!   crash) would sleep in SQLite's busy handler, so an in-place read runs
//!   with no busy timeout and, if SQLite answers "busy", is run again on
//!   the blocking threads with the usual timeout.
//! - **Reads that grow with the data** (usage sums over a month, a context
//!   window of thousands of messages) go to the blocking threads
//!   ([`SqliteStore::read_scan`]).
//!
//! A panic in an in-place read poisons the connection's mutex, so the pool
//! drops the connection, as it does for a panic on the blocking threads.
//!
//! [`PageRequest::MAX_LIMIT`]: crate::domain::PageRequest::MAX_LIMIT

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use deadpool_sync::SyncWrapper;
use rusqlite::{Connection, ErrorCode};

use super::connect::{in_snapshot, BUSY_TIMEOUT};
use super::error::SqliteError;
use super::SqliteStore;
use crate::store::StoreError;

/// What an in-place attempt came to.
enum InPlace<T> {
    /// The read ran: its answer.
    Ran(Result<T, SqliteError>),
    /// SQLite was busy: run it where it may wait.
    Busy,
}

impl SqliteStore {
    /// Runs `work`, one short statement (see the module doc), on a reader.
    /// No explicit transaction: a statement in autocommit mode reads one
    /// snapshot by itself, and `BEGIN` and `COMMIT` around it would be two
    /// more statements to run on every read.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SqliteError> + Clone + Send + 'static,
    {
        self.short_read(work).await
    }

    /// Runs `work`, several short statements, on a reader inside one read
    /// transaction, so they all see one snapshot (e.g. a cursor's `seq`
    /// and the page after it, with no write landing between).
    pub(super) async fn read_snapshot<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SqliteError> + Clone + Send + 'static,
    {
        self.short_read(move |conn| in_snapshot(conn, work)).await
    }

    /// Runs `work`, a read whose cost grows with the data, on a reader on
    /// the blocking threads.
    pub(super) async fn read_scan<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SqliteError> + Send + 'static,
    {
        let conn = self.readers.get().await.map_err(SqliteError::from)?;
        on_blocking_threads(&conn, work).await
    }

    /// In place first; on the blocking threads if SQLite was busy.
    async fn short_read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SqliteError> + Clone + Send + 'static,
    {
        let conn = self.readers.get().await.map_err(SqliteError::from)?;
        short_read_on(&conn, work).await
    }
}

/// A short read on `conn`: in place first; on the blocking threads if
/// SQLite was busy.
async fn short_read_on<T, F>(conn: &SyncWrapper<Connection>, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, SqliteError> + Clone + Send + 'static,
{
    let again = work.clone();
    match in_place(conn, work) {
        InPlace::Ran(out) => Ok(out?),
        InPlace::Busy => on_blocking_threads(conn, again).await,
    }
}

/// One trip to the blocking threads.
async fn on_blocking_threads<T, F>(conn: &SyncWrapper<Connection>, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, SqliteError> + Send + 'static,
{
    let out = conn
        .interact(move |conn| work(conn))
        .await
        .map_err(SqliteError::from)?;
    Ok(out?)
}

/// Runs `work` on this thread with no busy timeout.
fn in_place<T>(
    conn: &SyncWrapper<Connection>,
    work: impl FnOnce(&Connection) -> Result<T, SqliteError>,
) -> InPlace<T> {
    // The guard lives inside the closure, so a panic drops it while
    // unwinding: the mutex is poisoned and the pool drops the connection.
    let ran = catch_unwind(AssertUnwindSafe(|| {
        let conn = conn
            .lock()
            .map_err(|_| SqliteError::Interact("a reader connection is poisoned".into()))?;
        conn.busy_timeout(Duration::ZERO)?;
        let out = work(&conn);
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok::<_, SqliteError>(out)
    }));
    match ran {
        Ok(Ok(out)) if is_busy(&out) => InPlace::Busy,
        Ok(Ok(out)) => InPlace::Ran(out),
        Ok(Err(e)) => InPlace::Ran(Err(e)),
        Err(_) => InPlace::Ran(Err(SqliteError::Interact("a read panicked".into()))),
    }
}

/// Whether SQLite answered "busy" or "locked": worth waiting for.
fn is_busy<T>(out: &Result<T, SqliteError>) -> bool {
    matches!(
        out,
        Err(SqliteError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)))
            if matches!(failure.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;

    use deadpool::Runtime;

    use super::*;

    fn temp_db() -> PathBuf {
        super::super::tests::temp_db("reads")
    }

    async fn wrapped(path: PathBuf) -> SyncWrapper<Connection> {
        SyncWrapper::new(Runtime::Tokio1, move || Connection::open(path))
            .await
            .expect("open a connection")
    }

    fn busy_timeout_ms(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .expect("read busy_timeout")
    }

    #[tokio::test]
    async fn a_short_read_runs_on_the_callers_thread_and_keeps_the_busy_timeout() {
        let conn = wrapped(temp_db()).await;
        conn.lock()
            .expect("lock")
            .busy_timeout(BUSY_TIMEOUT)
            .expect("set");
        let caller = thread::current().id();

        let ran = in_place(&conn, |c| Ok((thread::current().id(), busy_timeout_ms(c))));

        let InPlace::Ran(Ok((thread, timeout_inside))) = ran else {
            panic!("the read did not run in place");
        };
        assert_eq!(thread, caller);
        assert_eq!(
            timeout_inside, 0,
            "an in-place read must not sleep on a lock"
        );
        let after = busy_timeout_ms(&conn.lock().expect("lock"));
        assert_eq!(after, i64::try_from(BUSY_TIMEOUT.as_millis()).expect("ms"));
    }

    #[tokio::test]
    async fn a_scan_runs_on_the_blocking_threads() {
        let store = SqliteStore::open(temp_db()).await.expect("open");
        let caller = thread::current().id();
        let thread = store
            .read_scan(|_| Ok(thread::current().id()))
            .await
            .expect("read");
        assert_ne!(thread, caller);
    }

    #[tokio::test]
    async fn a_panicking_read_poisons_its_connection_so_the_pool_drops_it() {
        let conn = wrapped(temp_db()).await;
        let ran = in_place::<()>(&conn, |_| panic!("a read that panics"));
        assert!(matches!(ran, InPlace::Ran(Err(SqliteError::Interact(_)))));
        assert!(conn.is_mutex_poisoned());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_read_that_meets_a_locked_file_waits_for_it_on_the_blocking_threads() {
        let path = temp_db();
        let conn = wrapped(path.clone()).await;
        conn.lock()
            .expect("lock")
            .busy_timeout(BUSY_TIMEOUT)
            .expect("set");
        // Another process writing to the file (a rollback-journal file:
        // there, unlike in WAL mode, a writer's exclusive lock keeps
        // readers out, which is how a reader meets "busy").
        let locker = Connection::open(&path).expect("open the locker");
        locker
            .execute_batch("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
            .expect("take the file exclusively");
        let caller = thread::current().id();
        let (met_tx, met_rx) = std::sync::mpsc::channel::<()>();
        let release = thread::spawn(move || {
            // Held until the read has met it once, then a while longer.
            let _ = met_rx.recv();
            thread::sleep(Duration::from_millis(200));
            locker.execute_batch("COMMIT").expect("commit");
        });

        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let answer = short_read_on(&conn, move |c| {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = met_tx.send(());
            }
            let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
            Ok((n, thread::current().id()))
        })
        .await;
        release.join().expect("the locker thread");

        let (rows, thread) = answer.expect("the read waited for the lock instead of failing");
        assert_eq!(rows, 1, "the read saw the committed row");
        assert_ne!(
            thread, caller,
            "the second attempt ran on the blocking threads"
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }
}
