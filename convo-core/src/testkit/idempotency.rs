//! Idempotency records: per session and key, until they expire.

use std::sync::Arc;

use chrono::TimeDelta;

use super::fixtures::{append_messages, assistant_draft, Fixture};
use crate::domain::{now, Message, Timestamp};
use crate::store::{IdempotencyRecord, Store};

fn record(
    user_message: &Message,
    assistant_message: Option<&Message>,
    expires_at: Timestamp,
) -> IdempotencyRecord {
    IdempotencyRecord {
        user_message: user_message.clone(),
        assistant_message: assistant_message.cloned(),
        // The whole turn round-trips too, not only the reply.
        messages: assistant_message.cloned().into_iter().collect(),
        expires_at,
    }
}

/// A key never saved reads as `None`.
pub async fn a_missing_idempotency_record_reads_as_none(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;

    let read = store
        .idempotency_record(&f.session.id, "never-saved")
        .await
        .expect("idempotency_record must succeed");

    assert_eq!(read, None, "a key that was never saved must read as None");
}

/// A saved record reads back equal, and saving again under the key replaces it.
pub async fn idempotency_records_round_trip_and_can_be_replaced(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let question = append_messages(store.as_ref(), &f.session.id, 1)
        .await
        .remove(0);
    let pending = record(&question, None, now() + TimeDelta::hours(1));

    store
        .save_idempotency_record(&f.session.id, "key-1", &pending)
        .await
        .expect("save_idempotency_record must succeed");
    let read = store
        .idempotency_record(&f.session.id, "key-1")
        .await
        .expect("idempotency_record must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&pending),
        "a saved record must read back equal"
    );

    let answer = store
        .append_message(&f.session.id, assistant_draft("answer"))
        .await
        .expect("append_message must succeed");
    let answered = record(&question, Some(&answer), now() + TimeDelta::hours(2));
    store
        .save_idempotency_record(&f.session.id, "key-1", &answered)
        .await
        .expect("save_idempotency_record must succeed");
    let read = store
        .idempotency_record(&f.session.id, "key-1")
        .await
        .expect("idempotency_record must succeed");
    assert_eq!(
        read.as_ref(),
        Some(&answered),
        "saving under the same key must replace the record"
    );
}

/// A key saved in one session reads as `None` in another, and other keys stay `None`.
pub async fn idempotency_records_are_scoped_per_session(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let other = f.insert_session(store.as_ref()).await;
    let question = append_messages(store.as_ref(), &f.session.id, 1)
        .await
        .remove(0);
    let saved = record(&question, None, now() + TimeDelta::hours(1));

    store
        .save_idempotency_record(&f.session.id, "shared-key", &saved)
        .await
        .expect("save_idempotency_record must succeed");

    let elsewhere = store
        .idempotency_record(&other.id, "shared-key")
        .await
        .expect("idempotency_record must succeed");
    assert_eq!(
        elsewhere, None,
        "the same key in another session must read as None"
    );
    let other_key = store
        .idempotency_record(&f.session.id, "other-key")
        .await
        .expect("idempotency_record must succeed");
    assert_eq!(
        other_key, None,
        "another key in the same session must read as None"
    );
    let here = store
        .idempotency_record(&f.session.id, "shared-key")
        .await
        .expect("idempotency_record must succeed");
    assert_eq!(
        here.as_ref(),
        Some(&saved),
        "the record must still read back in its own session"
    );
}

/// A record whose `expires_at` has passed reads as `None`.
pub async fn an_expired_idempotency_record_reads_as_none(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let question = append_messages(store.as_ref(), &f.session.id, 1)
        .await
        .remove(0);
    let expired = record(&question, None, now() - TimeDelta::seconds(1));

    store
        .save_idempotency_record(&f.session.id, "stale", &expired)
        .await
        .expect("save_idempotency_record must succeed");

    let read = store
        .idempotency_record(&f.session.id, "stale")
        .await
        .expect("idempotency_record must succeed");
    assert_eq!(
        read, None,
        "a record that expired a second ago must read as None"
    );
}
