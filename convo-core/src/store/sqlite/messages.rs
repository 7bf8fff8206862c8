//! Messages: `seq` allocation and the append (one transaction: bump the
//! session's count, insert), reads, and idempotency records.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::error::SqliteError;
use super::page::{page, ListQuery};
use super::resources::check_session_owner;
use super::rows::{self, message_values, millis, INSERT_MESSAGE, MESSAGE_COLUMNS};
use super::SqliteStore;
use crate::domain::{now, Message, MessageDraft, MessageId, Page, PageRequest, SessionId, UserId};
use crate::store::{IdempotencyRecord, StoreError};

/// Inserts stored messages (seqs already allocated), one prepared statement
/// for all: the shared path of appends, bulk appends and forks.
pub(super) fn insert_messages(conn: &Connection, messages: &[Message]) -> Result<(), SqliteError> {
    let mut insert = conn.prepare_cached(INSERT_MESSAGE)?;
    for m in messages {
        let values =
            message_values(m).map_err(|e| SqliteError::Corrupt(format!("provider state: {e}")))?;
        insert.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// Appends `drafts` (at least one) to `session` with the next seqs: one
/// `UPDATE … RETURNING` reserves them (under the transaction's write lock,
/// so no other connection or process can interleave), then the inserts.
pub(super) fn append(
    conn: &Connection,
    session: SessionId,
    drafts: Vec<MessageDraft>,
) -> Result<Vec<Message>, SqliteError> {
    let n = drafts.len() as i64;
    let newest = drafts
        .iter()
        .map(|d| d.created_at)
        .max()
        .unwrap_or_else(now);
    let count: Option<i64> = conn
        .prepare_cached(
            "UPDATE sessions SET message_count = message_count + ?2, \
             updated_at = max(updated_at, ?3) WHERE id = ?1 RETURNING message_count",
        )?
        .query_row(params![session.to_string(), n, millis(newest)], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(count) = count else {
        return Err(StoreError::NotFound("chat session").into());
    };
    let first = u64::try_from(count - n + 1)
        .map_err(|_| SqliteError::Corrupt("negative message_count".into()))?;
    let messages: Vec<Message> = drafts
        .into_iter()
        .zip(first..)
        .map(|(draft, seq)| draft.into_message(session, seq))
        .collect();
    insert_messages(conn, &messages)?;
    Ok(messages)
}

/// The seq of a message of `session`, for cursors.
fn seq_of(conn: &Connection, session: &str, id: &MessageId) -> Result<i64, SqliteError> {
    conn.prepare_cached("SELECT seq FROM messages WHERE id = ?1 AND session_id = ?2")?
        .query_row([id.to_string(), session.to_owned()], |r| r.get(0))
        .optional()?
        .ok_or(SqliteError::Answer(StoreError::NotFound("message")))
}

/// A page of `session`'s messages (its cursors' seqs looked up first, so
/// run in one snapshot).
fn page_of(
    c: &Connection,
    session: String,
    request: &PageRequest<MessageId>,
) -> Result<Page<Message>, SqliteError> {
    let after = request
        .after
        .as_ref()
        .map(|id| seq_of(c, &session, id))
        .transpose()?;
    let before = request
        .before
        .as_ref()
        .map(|id| seq_of(c, &session, id))
        .transpose()?;
    let select = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?");
    let query = ListQuery {
        select: &select,
        params: vec![session.into()],
        key: "seq",
    };
    let (after, before) = (after.map(Into::into), before.map(Into::into));
    page(c, query, after, before, request, rows::message)
}

/// An idempotency record's messages, as stored (JSON).
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    user_message: Message,
    assistant_message: Option<Message>,
    /// Absent in records written before tools.
    #[serde(default)]
    messages: Vec<Message>,
}

impl SqliteStore {
    pub(super) async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        let session = *session;
        let mut stored = self
            .write(move |tx| append(tx, session, vec![draft]))
            .await?;
        stored
            .pop()
            .ok_or_else(|| StoreError::Internal("an append stored no message".into()))
    }

    pub(super) async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let session = *session;
        self.write(move |tx| append(tx, session, drafts)).await
    }

    pub(super) async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        // A context window longer than a page is a read that grows with
        // the data: off the runtime's threads (see `reads`).
        let short = n <= PageRequest::<MessageId>::MAX_LIMIT;
        let (session, n) = (session.to_string(), i64::try_from(n).unwrap_or(i64::MAX));
        let work = move |c: &Connection| {
            // The newest n through the (session_id, seq) index, read
            // backwards, then put in ascending order: O(n).
            let sql = format!(
                "SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?1 \
                 ORDER BY seq DESC LIMIT ?2) ORDER BY seq"
            );
            let messages = c
                .prepare_cached(&sql)?
                .query_map(params![session, n], rows::message)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(messages)
        };
        if short {
            self.read(work).await
        } else {
            self.read_scan(work).await
        }
    }

    /// A page of `owner`'s `session`: the ownership check, the cursors'
    /// seqs and the page in one store call and one read transaction.
    ///
    /// One call, because each takes a connection from the pool; one
    /// transaction, because in WAL mode each read transaction takes and
    /// drops a read lock in the shared-memory index, and when no other
    /// connection of the process holds it that is an `fcntl` call made
    /// under a mutex the process's connections share (SQLite's
    /// `unixShmLock`): traced on `GET …/messages` (2 cores, release),
    /// those calls and the wake-ups of threads waiting on that mutex were
    /// most of the system calls SQLite added to a request.
    pub(super) async fn messages(
        &self,
        owner: &UserId,
        session: &SessionId,
        request: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        let (owner, session, request) = (owner.to_string(), session.to_string(), request.clone());
        self.read_snapshot(move |c| {
            check_session_owner(c, &session, &owner)?;
            page_of(c, session, &request)
        })
        .await
    }

    pub(super) async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let (session, key) = (session.to_string(), key.to_owned());
        self.read(move |c| {
            let found: Option<(String, i64)> = c
                .prepare_cached(
                    "SELECT record, expires_at FROM idempotency \
                     WHERE session_id = ?1 AND key = ?2 AND expires_at > ?3",
                )?
                .query_row(params![session, key, millis(now())], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((json, expires_at)) = found else {
                return Ok(None);
            };
            let record: StoredRecord = serde_json::from_str(&json)
                .map_err(|e| SqliteError::Corrupt(format!("idempotency record: {e}")))?;
            let expires_at = chrono::DateTime::from_timestamp_millis(expires_at)
                .ok_or_else(|| SqliteError::Corrupt("idempotency expiry".into()))?;
            Ok(Some(IdempotencyRecord {
                user_message: record.user_message,
                assistant_message: record.assistant_message,
                messages: record.messages,
                expires_at,
            }))
        })
        .await
    }

    pub(super) async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let (session, key) = (session.to_string(), key.to_owned());
        let json = serde_json::to_string(&StoredRecord {
            user_message: record.user_message.clone(),
            assistant_message: record.assistant_message.clone(),
            messages: record.messages.clone(),
        })
        .map_err(|e| StoreError::Internal(format!("idempotency record: {e}")))?;
        let expires_at = millis(record.expires_at);
        self.write(move |tx| {
            let exists = tx
                .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?
                .exists([&session])?;
            if !exists {
                return Err(StoreError::NotFound("chat session").into());
            }
            // Expired records of the session can go (nothing reads them).
            tx.execute(
                "DELETE FROM idempotency WHERE session_id = ?1 AND expires_at <= ?2",
                params![session, millis(now())],
            )?;
            tx.execute(
                "INSERT INTO idempotency (session_id, key, record, expires_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (session_id, key) \
                 DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at",
                params![session, key, json, expires_at],
            )?;
            Ok(())
        })
        .await
    }
}
