//! Bulk append: consecutive seqs after the existing ones, all or nothing.

use std::sync::Arc;

use chrono::TimeDelta;

use super::fixtures::{append_messages, assert_not_found, assistant_draft, session, Fixture};
use crate::domain::{now, ChatSession, MessageDraft, Order, PageRequest, SessionId};
use crate::store::Store;

/// A batch lands after the existing messages with consecutive seqs, returns
/// the drafts as stored, reads back equal, and bumps `message_count` and
/// `updated_at`.
pub async fn a_bulk_append_continues_the_seqs_and_reads_back_equal(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let old = now() - TimeDelta::hours(1);
    let s = ChatSession {
        created_at: old,
        updated_at: old,
        ..session(&f.agent)
    };
    store.insert_session(&s).await.expect("insert_session");
    let before = append_messages(store.as_ref(), &s.id, 2).await;
    let drafts = vec![
        MessageDraft::user("one"),
        assistant_draft("two"),
        MessageDraft::user("three"),
    ];

    let stored = store
        .append_messages(&s.id, drafts.clone())
        .await
        .expect("append_messages must succeed");

    let expected: Vec<_> = drafts
        .into_iter()
        .zip(3..)
        .map(|(d, seq)| d.into_message(s.id, seq))
        .collect();
    assert_eq!(stored, expected, "the batch must be stored as seqs 3, 4, 5");
    let page = store
        .messages(&s.owner, &s.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("messages()");
    assert_eq!(
        page.data,
        [before, expected].concat(),
        "messages() must read back the old messages, then the batch"
    );
    let read = store
        .session(&f.user.id, &s.id)
        .await
        .expect("session()")
        .expect("the session exists");
    assert_eq!(read.message_count, 5, "message_count counts the batch");
    assert!(read.updated_at > old, "a bulk append must bump updated_at");
    let none = store.append_messages(&s.id, Vec::new()).await;
    assert_eq!(none, Ok(Vec::new()), "an empty batch stores nothing");
}

/// Batches racing single appends keep every batch's seqs consecutive, and
/// all seqs 1..=N with no gaps.
pub async fn concurrent_bulk_appends_keep_each_batch_contiguous(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let session_id = f.session.id;

    let batches: Vec<_> = (0..5)
        .map(|b| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let drafts = (0..10)
                    .map(|i| MessageDraft::user(format!("batch {b} #{i}")))
                    .collect();
                store.append_messages(&session_id, drafts).await
            })
        })
        .collect();
    let singles: Vec<_> = (0..10)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .append_message(&session_id, MessageDraft::user(format!("single {i}")))
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for batch in batches {
        let stored = batch
            .await
            .expect("no panic")
            .expect("a concurrent append_messages must succeed");
        let batch_seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
        let first = batch_seqs[0];
        assert_eq!(
            batch_seqs,
            (first..first + 10).collect::<Vec<u64>>(),
            "a batch's seqs must be consecutive"
        );
        seqs.extend(batch_seqs);
    }
    for single in singles {
        seqs.push(single.await.expect("no panic").expect("append").seq);
    }

    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=60).collect::<Vec<u64>>(),
        "5 batches of 10 and 10 single appends must get seqs 1..=60"
    );
}

/// A batch that fails stores nothing: a repeated id, an id already stored,
/// or a missing session.
pub async fn a_failed_bulk_append_stores_nothing(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let existing = append_messages(store.as_ref(), &f.session.id, 1).await;
    let taken = MessageDraft {
        id: existing[0].id,
        ..MessageDraft::user("reuses a stored id")
    };
    let twice = MessageDraft::user("sent twice");
    let cases = [
        (
            "a batch reusing a stored message's id",
            vec![MessageDraft::user("a"), taken, MessageDraft::user("c")],
        ),
        (
            "a batch repeating an id",
            vec![twice.clone(), MessageDraft::user("b"), twice],
        ),
    ];

    for (what, drafts) in cases {
        let result = store.append_messages(&f.session.id, drafts).await;

        assert!(result.is_err(), "{what} must fail, got {result:?}");
        let page = store
            .messages(
                &f.user.id,
                &f.session.id,
                &PageRequest::first(100, Order::Asc),
            )
            .await
            .expect("messages()");
        assert_eq!(
            page.data, existing,
            "{what} must store none of its messages"
        );
        let read = store
            .session(&f.user.id, &f.session.id)
            .await
            .expect("session()")
            .expect("the session exists");
        assert_eq!(
            read.message_count, 1,
            "{what} must leave message_count alone"
        );
    }
    let next = store
        .append_message(&f.session.id, MessageDraft::user("after"))
        .await
        .expect("append after a failed batch");
    assert_eq!(next.seq, 2, "a failed batch leaves no gap in seq");
    assert_not_found(
        store
            .append_messages(&SessionId::new(), vec![MessageDraft::user("lost")])
            .await,
        "append_messages to a session that was never stored",
    );
}
