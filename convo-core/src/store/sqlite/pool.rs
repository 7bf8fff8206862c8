//! The connection pools: deadpool's managed pool of rusqlite connections,
//! each call run on tokio's blocking threads (`deadpool-sync`).
//!
//! Why not deadpool-sqlite's own manager: its `recycle` runs `SELECT $1`
//! through `interact` on every checkout (deadpool-sqlite 0.12.1,
//! `Manager::recycle`), so every store call made two trips to the blocking
//! pool, the recycle query parsed afresh each time. Profiled on `GET
//! /api/projects` (2 cores, release), thread hand-offs and futex waits were
//! about half of the server's CPU and SQLite's own work ~12%. A connection
//! to a local file does not go stale the way a network connection does; the
//! one thing recycling must catch is a connection whose call panicked
//! (its mutex poisoned), and that needs no trip.

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool::Runtime;
use deadpool_sync::SyncWrapper;
use rusqlite::Connection;

pub(super) use deadpool_sync::InteractError;

/// A pool of connections to one database.
pub(super) type Pool = managed::Pool<Manager>;
/// What getting a connection can fail with.
pub(super) type PoolError = managed::PoolError<rusqlite::Error>;
/// A hook run on each new connection.
pub(super) type Hook = managed::Hook<Manager>;
/// A hook's failure.
pub(super) type HookError = managed::HookError<rusqlite::Error>;

/// Opens connections to `name` (a path, or a `file:` URI) on the blocking
/// threads, and recycles them without a query.
#[derive(Debug)]
pub(super) struct Manager {
    name: String,
}

impl Manager {
    /// Connections to `name`.
    pub(super) fn new(name: String) -> Self {
        Self { name }
    }
}

impl managed::Manager for Manager {
    type Type = SyncWrapper<Connection>;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let name = self.name.clone();
        // `Connection::open` accepts `file:` URIs (its default flags include
        // SQLITE_OPEN_URI), as deadpool-sqlite's manager relied on too.
        SyncWrapper::new(Runtime::Tokio1, move || Connection::open(name)).await
    }

    async fn recycle(&self, conn: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if conn.is_mutex_poisoned() {
            return Err(RecycleError::message(
                "a call on this connection panicked; it is dropped",
            ));
        }
        Ok(())
    }
}
