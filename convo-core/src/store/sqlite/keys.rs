//! Project API keys and their per-minute request counts.
//!
//! Keys go with their project through the foreign key; a key's request
//! window (`key_windows`, one row per key) goes with its key through a
//! trigger (migration 0004).

use rusqlite::{params, OptionalExtension};

use super::rows::{self, int, millis, API_KEY_COLUMNS};
use super::SqliteStore;
use crate::domain::{ApiKey, KeyId, ProjectId, Timestamp, UserId};
use crate::store::StoreError;

/// Counts one request in the key's window starting at `?2` (milliseconds),
/// in one statement: the row is created at 1, counted up within its
/// window, and restarted at 1 by a later window. A request stamped with
/// an earlier window than the row's (a clock a little behind) counts in
/// the row's window, as in the memory store. In an `UPDATE`'s `SET`, every
/// column named is the row's old value, so `count` is decided on the old
/// `window_start`.
const COUNT_REQUEST: &str = "INSERT INTO key_windows (key_id, window_start, count) \
    VALUES (?1, ?2, 1) \
    ON CONFLICT (key_id) DO UPDATE SET \
    count = CASE WHEN excluded.window_start > window_start THEN 1 ELSE count + 1 END, \
    window_start = MAX(window_start, excluded.window_start) \
    RETURNING count";

impl SqliteStore {
    pub(super) async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let k = key.clone();
        self.write(move |tx| {
            // A duplicate `secret_hash` (or id) breaks a UNIQUE constraint:
            // `Conflict`, through the error mapping.
            let inserted = tx
                .prepare_cached(&format!(
                    "INSERT INTO api_keys ({API_KEY_COLUMNS}) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 \
                     WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?2 AND owner = ?3)"
                ))?
                .execute(params![
                    k.id.to_string(),
                    k.project_id.to_string(),
                    k.owner.to_string(),
                    k.name,
                    rows::scope_name(k.scope),
                    k.prefix,
                    k.secret_hash,
                    millis(k.created_at),
                    k.expires_at.map(millis),
                    k.last_used_at.map(millis),
                    k.rate_limit_per_minute,
                    k.end_user_monthly_token_budget.map(int),
                ])?;
            if inserted == 0 {
                return Err(StoreError::NotFound("project").into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let (owner, project) = (owner.to_string(), project.to_string());
        self.read(move |c| {
            // Ids are UUIDv7: id order is creation order, oldest first.
            let sql = format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE project_id = ?1 AND owner = ?2 \
                 ORDER BY id"
            );
            let keys = c
                .prepare_cached(&sql)?
                .query_map([project, owner], rows::api_key)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(keys)
        })
        .await
    }

    pub(super) async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        let (owner, project, id) = (owner.to_string(), project.to_string(), id.to_string());
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM api_keys WHERE id = ?1 AND owner = ?2 AND project_id = ?3",
                )?
                .execute([id, owner, project])?;
            Ok(deleted > 0)
        })
        .await
    }

    pub(super) async fn api_key_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let secret_hash = secret_hash.to_owned();
        // Each read is its own transaction, so it sees every write committed
        // before it, through any handle or process.
        self.read(move |c| {
            let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([secret_hash], rows::api_key)
                .optional()?)
        })
        .await
    }

    pub(super) async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE api_keys SET last_used_at = ?2 \
                 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )?
            .execute(params![id, millis(at)])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn count_key_request(
        &self,
        key: &KeyId,
        window: Timestamp,
    ) -> Result<u64, StoreError> {
        let key = key.to_string();
        // The write transaction holds the file's write lock, so the upsert
        // is atomic across connections and processes.
        self.write(move |tx| {
            let count: i64 = tx
                .prepare_cached(COUNT_REQUEST)?
                .query_row(params![key, millis(window)], |r| r.get(0))?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::COUNT_REQUEST;
    use crate::store::sqlite::migrate::migrate;

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .expect("foreign keys");
        migrate(&mut conn, ":memory:").expect("migrate");
        conn
    }

    fn count(conn: &Connection, key: &str, window: i64) -> i64 {
        conn.query_row(COUNT_REQUEST, rusqlite::params![key, window], |r| r.get(0))
            .expect("count")
    }

    fn windows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM key_windows", [], |r| r.get(0))
            .expect("count rows")
    }

    #[test]
    fn the_count_restarts_in_a_new_window_and_keeps_one_row_per_key() {
        let conn = migrated();
        let counts: Vec<i64> = [60_000, 60_000, 60_000, 120_000, 60_000, 120_000]
            .into_iter()
            .map(|w| count(&conn, "k", w))
            .collect();
        // The late request of the earlier window counts in the current one.
        assert_eq!(counts, [1, 2, 3, 1, 2, 3]);
        assert_eq!(windows(&conn), 1, "one row per key, whatever the windows");
    }

    #[test]
    fn a_keys_window_goes_with_the_key_and_with_its_projects_cascade() {
        let conn = migrated();
        conn.execute_batch(
            "INSERT INTO projects VALUES ('p', 'u', 'P', NULL, 1, 1);
             INSERT INTO api_keys (id, project_id, owner, name, scope, prefix, secret_hash,
                 created_at) VALUES ('k1', 'p', 'u', 'a', 'chat', 'ck_1', 'h1', 1),
                 ('k2', 'p', 'u', 'b', 'chat', 'ck_2', 'h2', 1);",
        )
        .expect("a project with two keys");
        count(&conn, "k1", 60_000);
        count(&conn, "k2", 60_000);

        conn.execute("DELETE FROM api_keys WHERE id = 'k1'", [])
            .expect("delete a key");
        assert_eq!(windows(&conn), 1, "a deleted key's window is dropped");
        conn.execute("DELETE FROM projects WHERE id = 'p'", [])
            .expect("delete the project");
        assert_eq!(
            windows(&conn),
            0,
            "a project's delete cascades to its keys and their windows"
        );
    }
}
