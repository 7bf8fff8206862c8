//! Messages: `seq` allocation, read back, the last-n window.

use std::sync::Arc;

use chrono::TimeDelta;

use super::fixtures::{append_messages, assert_not_found, assistant_draft, session, Fixture};
use crate::domain::{now, ChatSession, ForkOrigin, MessageDraft, Order, PageRequest, SessionId};
use crate::store::Store;

/// Appends get `seq` 1, 2, 3, return the draft as stored, read back equal, and
/// bump the session's `message_count` and `updated_at`.
pub async fn appended_messages_get_consecutive_seqs_and_read_back_equal(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let owner = f.user.id;
    // An old session, so any bump of `updated_at` shows.
    let old = now() - TimeDelta::hours(1);
    let s = ChatSession {
        created_at: old,
        updated_at: old,
        ..session(&f.agent)
    };
    store
        .insert_session(&s)
        .await
        .expect("insert_session must succeed");
    let drafts = [
        MessageDraft::user("hello"),
        assistant_draft("hi"),
        MessageDraft::user("bye"),
    ];

    let mut stored = Vec::new();
    for (i, draft) in drafts.iter().enumerate() {
        let m = store
            .append_message(&s.id, draft.clone())
            .await
            .expect("append_message must succeed");
        let seq = i as u64 + 1;
        assert_eq!(
            m,
            draft.clone().into_message(s.id, seq),
            "append_message must return the draft stored with seq {seq}"
        );
        stored.push(m);
    }

    let page = store
        .messages(&s.owner, &s.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("messages() must succeed");
    assert_eq!(
        page.data, stored,
        "messages() must read back what append_message returned, in seq order"
    );
    assert!(
        !page.has_more,
        "a page holding every message must have has_more = false"
    );
    let read = store
        .session(&owner, &s.id)
        .await
        .expect("session() must succeed")
        .expect("the session exists");
    assert_eq!(
        read.message_count, 3,
        "message_count must count the appended messages"
    );
    assert!(
        read.updated_at > old,
        "append_message must bump updated_at (still {})",
        read.updated_at
    );
}

/// 50 concurrent appends to one session get exactly `seq` 1..=50, and
/// `message_count` ends at 50.
pub async fn fifty_concurrent_appends_get_seqs_one_to_fifty(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let session_id = f.session.id;

    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .append_message(&session_id, MessageDraft::user(format!("racer {i}")))
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        let message = task
            .await
            .expect("the append task must not panic")
            .expect("a concurrent append_message must succeed");
        seqs.push(message.seq);
    }

    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=50).collect::<Vec<u64>>(),
        "50 concurrent appends must get seqs 1..=50, no gaps, no repeats"
    );
    let read = store
        .session(&f.user.id, &session_id)
        .await
        .expect("session() must succeed")
        .expect("the session exists");
    assert_eq!(
        read.message_count, 50,
        "message_count after 50 concurrent appends"
    );
    let page = store
        .messages(
            &f.user.id,
            &session_id,
            &PageRequest::first(100, Order::Asc),
        )
        .await
        .expect("messages() must succeed");
    let listed: Vec<u64> = page.data.iter().map(|m| m.seq).collect();
    assert_eq!(
        listed,
        (1..=50).collect::<Vec<u64>>(),
        "messages() must list the 50 messages in seq order"
    );
}

/// Appending to a session that does not exist is `NotFound`.
pub async fn appending_to_a_missing_session_is_not_found(store: Arc<dyn Store>) {
    let missing = SessionId::new();

    let result = store
        .append_message(&missing, MessageDraft::user("anyone there?"))
        .await;

    assert_not_found(result, "append_message to a session that was never stored");
}

/// `last_messages(n)` is the newest `n` in ascending `seq`; all of them when
/// the session is shorter; none for `n = 0` or an empty session.
pub async fn last_messages_returns_the_newest_n_in_ascending_seq(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let empty = f.insert_session(store.as_ref()).await;
    let all = append_messages(store.as_ref(), &f.session.id, 5).await;

    let cases: [(usize, &[crate::domain::Message]); 6] = [
        (0, &[]),
        (1, &all[4..]),
        (3, &all[2..]),
        (5, &all[..]),
        (6, &all[..]),
        (100, &all[..]),
    ];
    for (n, want) in cases {
        let got = store
            .last_messages(&f.session.id, n)
            .await
            .expect("last_messages must succeed");
        let seqs = |ms: &[crate::domain::Message]| ms.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(
            seqs(&got),
            seqs(want),
            "last_messages(n = {n}) of 5 messages: wrong seqs"
        );
        assert_eq!(
            got, want,
            "last_messages(n = {n}) must return the stored messages"
        );
    }
    let got = store
        .last_messages(&empty.id, 10)
        .await
        .expect("last_messages of an empty session must succeed");
    assert!(
        got.is_empty(),
        "last_messages of an empty session must be empty, got {got:?}"
    );
}

/// A fork holds copies of messages 1..=k (same seqs, roles, contents and
/// metadata; new ids), counts k messages, records its origin, takes new
/// messages from k+1, and leaves the source untouched.
pub async fn a_fork_copies_the_first_messages_under_new_ids(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let originals = append_messages(store.as_ref(), &f.session.id, 3).await;
    let reply = store
        .append_message(&f.session.id, assistant_draft("a reply"))
        .await
        .expect("append_message");
    let fork = ChatSession {
        message_count: 4,
        forked_from: Some(ForkOrigin {
            session_id: f.session.id,
            seq: 4,
        }),
        ..session(&f.agent)
    };
    // Later than the originals, so a store stamping the copies "now" is seen.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    store
        .insert_fork(&fork, &f.session.id, 4)
        .await
        .expect("insert_fork of existing messages must succeed");

    let read = store
        .session(&f.user.id, &fork.id)
        .await
        .expect("session")
        .expect("the fork is stored");
    assert_eq!(read, fork, "the fork reads back as inserted");
    let copies = store
        .last_messages(&fork.id, 10)
        .await
        .expect("last_messages");
    assert_eq!(copies.len(), 4, "the fork holds 4 messages");
    for (copy, original) in copies.iter().zip(originals.iter().chain([&reply])) {
        assert_ne!(copy.id, original.id, "a copy has a new id");
        assert_eq!(copy.session_id, fork.id, "a copy belongs to the fork");
        let as_original = crate::domain::Message {
            id: original.id,
            session_id: original.session_id,
            ..copy.clone()
        };
        assert_eq!(
            &as_original, original,
            "a copy equals its original but for ids (created_at included)"
        );
    }
    let next = store
        .append_message(&fork.id, MessageDraft::user("edited"))
        .await
        .expect("append to the fork");
    assert_eq!(next.seq, 5, "the fork continues after its copies");
    let source = store
        .last_messages(&f.session.id, 10)
        .await
        .expect("last_messages");
    assert_eq!(source.len(), 4, "the source is untouched");
    assert_eq!(source.last(), Some(&reply));
}

/// Forking past the end of the source, from a missing session, or into a
/// missing agent is not found, and leaves no session behind.
pub async fn a_fork_of_missing_messages_is_not_found(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &f.session.id, 2).await;
    let fork = ChatSession {
        message_count: 3,
        ..session(&f.agent)
    };
    assert_not_found(
        store.insert_fork(&fork, &f.session.id, 3).await,
        "insert_fork past the source's last message",
    );
    assert_not_found(
        store.insert_fork(&fork, &SessionId::new(), 1).await,
        "insert_fork from a missing session",
    );
    let mut orphan = session(&f.agent);
    orphan.agent_id = crate::domain::AgentId::new();
    assert_not_found(
        store.insert_fork(&orphan, &f.session.id, 1).await,
        "insert_fork into a missing agent",
    );
    for id in [fork.id, orphan.id] {
        assert!(
            store
                .session(&f.user.id, &id)
                .await
                .expect("session")
                .is_none(),
            "no session is left behind"
        );
    }
}
