//! The change feed on MongoDB: one change stream on the database, filtered
//! to the collections the engine keeps answers from (`users`,
//! `revoked_tokens`, `api_keys`, `agents`, `projects`), delivering the key
//! of every inserted, updated, replaced or deleted document there,
//! whichever process wrote it, and to the deletion of chat sessions (a
//! session deleted or tombstoned: kept pages of messages then go). A turn's
//! writes to a session (its lock, its count) are not delivered: the
//! database filters them out.
//!
//! One stream for the database rather than one per collection: each open
//! stream holds a pooled connection in a long poll, and the database wakes
//! every waiting stream on every write to see whether it concerns it
//! (secantusd-rs re-polls its oplog for each waiting `getMore`). Under a
//! load of turns on secantusd-rs, one filtered database stream cost the
//! database about what four collection streams did (2,290 vs 2,100 µs of
//! its CPU per turn, within run-to-run noise; 2026-12-02), and it holds one
//! connection instead of one per collection. A database's stream reports
//! on all its non-system collections and a pipeline filters its events (MongoDB manual,
//! `db.watch()`, <https://www.mongodb.com/docs/manual/reference/method/db.watch/>,
//! consulted 2026-12-02).
//!
//! A change stream returns only changes made after it was opened
//! (MongoDB manual, "Change Streams", consulted 2026-12-01), so a source
//! is marked connected once its stream is open, and what was kept before is
//! dropped then. A stream error (the driver resumes once by itself on
//! resumable errors, from its resume token, so no change is skipped) marks
//! the source down until a new stream is open. Each stream is polled with
//! `maxAwaitTimeMS`, so an answer, even an empty one, comes at least every
//! [`MAX_AWAIT`]: a source not heard from in [`MAX_SILENCE`] is taken as
//! lagging, and the feed's answers are not used.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Bson, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType};
use mongodb::Database;

use crate::domain::{AgentId, KeyId, UserId};
use crate::store::{Change, ChangeFeed};

/// The watched collections.
const WATCHED: [&str; 5] = ["users", "revoked_tokens", "api_keys", "agents", "projects"];
/// Collections whose documents are not kept, but whose loss takes kept
/// pages of messages with it: dropped or renamed, everything kept goes.
const UNDERLYING: [&str; 2] = ["sessions", "messages"];
/// The feed's one source: the database's stream.
const SOURCE: usize = 0;
/// How long the server may hold an empty poll of a stream.
const MAX_AWAIT: Duration = Duration::from_millis(500);
/// How long a stream may go unheard before the feed stops being used.
const MAX_SILENCE: Duration = Duration::from_secs(2);
/// A poll answered faster than this with nothing (a server that does not
/// wait for `maxAwaitTimeMS`) is followed by a pause of this length, so an
/// idle stream does not spin.
const MIN_POLL: Duration = Duration::from_millis(10);
/// The pause before opening a stream again after it failed, doubled after
/// each failure in a row up to [`MAX_RETRY`] (a standalone `mongod` has no
/// change streams: it is asked rarely, and every request asks the store).
const RETRY: Duration = Duration::from_secs(1);
/// The longest pause between attempts to open a stream.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Starts the feed's stream on the current Tokio runtime; `None` outside one.
pub(super) fn start(db: &Database) -> Option<Arc<ChangeFeed>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let feed = Arc::new(ChangeFeed::new(1, MAX_SILENCE));
    runtime.spawn(watch(db.clone(), Arc::downgrade(&feed)));
    Some(feed)
}

/// The stream's filter: writes to the watched collections, a collection
/// renamed onto one of them (a rename's `ns` is its source, `to` its
/// target; e.g. `$out` replacing a collection), a chat session deleted or
/// tombstoned (the first step of every cascade: `deleted` set), the
/// sessions or messages collection dropped or renamed, and the events that
/// may make anything kept wrong without naming one of them (a dropped
/// database, the stream's end). An update that leaves a field as it was
/// writes no change event (as in MongoDB), so a cascade re-tombstoning a
/// session is not heard twice.
fn watched() -> Document {
    let mut renamed_onto = WATCHED.to_vec();
    renamed_onto.extend(UNDERLYING);
    doc! { "$match": { "$or": [
        { "ns.coll": { "$in": WATCHED.to_vec() } },
        { "to.coll": { "$in": renamed_onto } },
        { "ns.coll": "sessions", "operationType": "delete" },
        { "ns.coll": "sessions", "updateDescription.updatedFields.deleted": true },
        { "ns.coll": { "$in": UNDERLYING.to_vec() }, "operationType": { "$in": ["drop", "rename"] } },
        { "operationType": { "$in": ["dropDatabase", "invalidate"] } },
    ] } }
}

/// Keeps the database's stream open and feeds its changes, until the
/// store (the feed's only strong owner) is dropped.
async fn watch(db: Database, feed: Weak<ChangeFeed>) {
    let mut retry = RETRY;
    loop {
        let opened = db
            .watch()
            .pipeline([watched()])
            .max_await_time(MAX_AWAIT)
            .await;
        let Some(live) = feed.upgrade() else { return };
        match opened {
            Ok(mut stream) => {
                live.connected(SOURCE);
                retry = RETRY;
                drop(live);
                loop {
                    let asked = Instant::now();
                    let next = stream.next_if_any().await;
                    let Some(live) = feed.upgrade() else { return };
                    match next {
                        Ok(Some(event)) => {
                            live.heard(SOURCE);
                            live.apply(change_of(&event));
                        }
                        Ok(None) if stream.is_alive() => {
                            live.heard(SOURCE);
                            if asked.elapsed() < MIN_POLL {
                                tokio::time::sleep(MIN_POLL).await;
                            }
                        }
                        Ok(None) => {
                            // Closed by the server (an invalidate event).
                            live.disconnected(SOURCE);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change stream failed; authentication asks the store until it is back");
                            live.disconnected(SOURCE);
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                live.disconnected(SOURCE);
                tracing::warn!(error = %e, "cannot open a change stream; authentication asks the store");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// What one event may have made wrong: the document's key for writes, all
/// of it for anything else (a drop, a rename, an invalidate).
fn change_of(event: &ChangeStreamEvent<Document>) -> Change {
    let collection = event
        .ns
        .as_ref()
        .and_then(|ns| ns.coll.as_deref())
        .unwrap_or_default();
    let written = matches!(
        event.operation_type,
        OperationType::Insert
            | OperationType::Update
            | OperationType::Replace
            | OperationType::Delete
    );
    let id = event
        .document_key
        .as_ref()
        .and_then(|key| match key.get("_id") {
            Some(Bson::String(id)) => Some(id.as_str()),
            _ => None,
        });
    match (written, id) {
        (true, Some(id)) => change_of_document(collection, id),
        _ => Change::Everything,
    }
}

/// The change for a written document of `collection` with key `id`; an
/// id that does not parse forgets everything rather than nothing.
fn change_of_document(collection: &str, id: &str) -> Change {
    let parsed = match collection {
        "users" => UserId::parse(id).ok().map(Change::User),
        "revoked_tokens" => Some(Change::Token(id.to_owned())),
        "api_keys" => KeyId::parse(id).ok().map(Change::ApiKey),
        "agents" => AgentId::parse(id).ok().map(Change::Agent),
        "projects" => Some(Change::Projects),
        // Only deletions and tombstones get through the filter.
        "sessions" => Some(Change::Sessions),
        _ => None,
    };
    parsed.unwrap_or(Change::Everything)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProjectId, SessionId};

    #[test]
    fn each_collections_document_key_names_its_change() {
        let user = UserId::new();
        let key = KeyId::new();
        let agent = AgentId::new();
        let cases = [
            ("users", user.to_string(), Change::User(user)),
            (
                "revoked_tokens",
                "jti-1".into(),
                Change::Token("jti-1".into()),
            ),
            ("api_keys", key.to_string(), Change::ApiKey(key)),
            ("agents", agent.to_string(), Change::Agent(agent)),
            ("agents", "not an id".into(), Change::Everything),
            ("projects", ProjectId::new().to_string(), Change::Projects),
            ("sessions", SessionId::new().to_string(), Change::Sessions),
            ("elsewhere", "x".into(), Change::Everything),
        ];
        for (collection, id, expected) in cases {
            assert_eq!(
                change_of_document(collection, &id),
                expected,
                "{collection} {id}"
            );
        }
    }
}
