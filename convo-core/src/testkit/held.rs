//! What a turn gets from the lock and gives back with its release: the
//! session as it stands under the lock (so a turn reads it nowhere else),
//! appends under the lock that keep `seq` whole even when the lock was
//! lost, and the ledger entry written with the release.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use super::fixtures::{append_messages, assert_not_found, Fixture};
use crate::domain::{
    now, ChatSession, MessageDraft, Order, PageRequest, SessionId, ToolCall, UsageGroupBy,
    UsageRecord, UserId,
};
use crate::store::{Store, StoreError};

/// Long enough that no test outlives it by accident.
const LONG: Duration = Duration::from_secs(30);

async fn lock(store: &dyn Store, s: &ChatSession, holder: &str, lease: Duration) -> ChatSession {
    store
        .try_lock_turn(&s.owner, &s.id, holder, lease)
        .await
        .expect("try_lock_turn must succeed on the owner's session")
        .unwrap_or_else(|| panic!("{holder} must get the free lock"))
}

async fn seqs(store: &dyn Store, s: &ChatSession) -> Vec<u64> {
    store
        .messages(&s.owner, &s.id, &PageRequest::first(100, Order::Asc))
        .await
        .expect("messages() must succeed")
        .data
        .iter()
        .map(|m| m.seq)
        .collect()
}

async fn count(store: &dyn Store, s: &ChatSession) -> u64 {
    store
        .session(&s.owner, &s.id)
        .await
        .expect("session() must succeed")
        .expect("the session exists")
        .message_count
}

/// The owner's usage of the last hour, by agent: one agent's.
async fn one_agents_usage(store: &dyn Store, owner: &UserId) -> Vec<crate::domain::UsageGroup> {
    let (from, to) = (now() - TimeDelta::hours(1), now() + TimeDelta::hours(1));
    let groups = store
        .usage(owner, from, to, UsageGroupBy::Agent)
        .await
        .expect("usage");
    assert_eq!(groups.len(), 1, "one agent's usage, got {groups:?}");
    groups
}

/// The lock returns the session as stored: its messages counted and the
/// calls a paused turn waits for, on taking and on renewing alike.
pub async fn the_turn_lock_returns_the_session_as_it_stands(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &f.session.id, 2).await;
    let calls = vec![ToolCall {
        id: "call-1".into(),
        name: "get_weather".into(),
        arguments: serde_json::json!({ "city": "Oslo" }),
        provider_state: None,
    }];
    store
        .set_pending_tool_calls(&f.session.id, &calls)
        .await
        .expect("set_pending_tool_calls");

    let taken = lock(store.as_ref(), &f.session, "a", LONG).await;
    let renewed = lock(store.as_ref(), &f.session, "a", LONG).await;

    for (what, locked) in [("taking", taken), ("renewing", renewed)] {
        assert_eq!(locked.id, f.session.id, "{what}: the locked session's id");
        assert_eq!(
            locked.owner, f.user.id,
            "{what}: the locked session's owner"
        );
        assert_eq!(locked.message_count, 2, "{what}: its message_count");
        assert_eq!(
            locked.pending_tool_calls, calls,
            "{what}: its pending calls"
        );
    }
}

/// Another owner's session cannot be locked (and its lock is left alone)
/// nor its messages read: both are `NotFound`, as a missing session's are.
pub async fn another_owners_session_can_be_neither_locked_nor_read(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &f.session.id, 1).await;
    let stranger = Fixture::insert(store.as_ref()).await.user.id;
    let page = PageRequest::first(10, Order::Asc);

    for (what, owner, session) in [
        ("another owner's session", stranger, f.session.id),
        ("a missing session", f.user.id, SessionId::new()),
    ] {
        assert_not_found(
            store.try_lock_turn(&owner, &session, "thief", LONG).await,
            &format!("try_lock_turn of {what}"),
        );
        match store.messages(&owner, &session, &page).await {
            Err(StoreError::NotFound("chat session")) => {}
            other => {
                panic!("messages() of {what}: expected NotFound(\"chat session\"), got {other:?}")
            }
        }
    }
    let owner = lock(store.as_ref(), &f.session, "owner", LONG).await;
    assert_eq!(
        owner.message_count, 1,
        "the owner's lock and session are untouched"
    );
}

/// Appends under the lock (one at a time and in a batch) continue the
/// seqs, and the session's `message_count` and window follow them at once,
/// before the release as after it.
pub async fn appends_under_the_turn_lock_keep_seq_and_count(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    append_messages(store.as_ref(), &f.session.id, 1).await;
    let s = &f.session;

    lock(store.as_ref(), s, "a", LONG).await;
    let user = store
        .append_message(&s.id, MessageDraft::user("under the lock"))
        .await
        .expect("append under the lock");
    let batch = store
        .append_messages(
            &s.id,
            vec![MessageDraft::user("tool 1"), MessageDraft::user("tool 2")],
        )
        .await
        .expect("bulk append under the lock");
    let reply = store
        .append_message(&s.id, MessageDraft::user("reply"))
        .await
        .expect("a second append under the lock");
    let window = store.last_messages(&s.id, 2).await.expect("last_messages");
    let held_count = count(store.as_ref(), s).await;
    store
        .unlock_turn(&s.id, "a", None)
        .await
        .expect("unlock_turn");
    let after = store
        .append_message(&s.id, MessageDraft::user("after the release"))
        .await
        .expect("append after the release");

    assert_eq!(user.seq, 2, "the first append under the lock");
    assert_eq!(
        batch.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 4],
        "a batch under the lock"
    );
    assert_eq!(reply.seq, 5, "the next append under the lock");
    assert_eq!(
        window.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![4, 5],
        "the window under the lock ends with the last append"
    );
    assert_eq!(held_count, 5, "message_count while the lock is held");
    assert_eq!(after.seq, 6, "an append after the release");
    assert_eq!(
        count(store.as_ref(), s).await,
        6,
        "message_count at the end"
    );
    assert_eq!(seqs(store.as_ref(), s).await, (1..=6).collect::<Vec<_>>());
}

/// A holder whose lease ran out may still append (it does not know): its
/// appends and the new holder's, interleaved, still get consecutive seqs.
pub async fn appends_after_a_lost_lease_leave_no_gap(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let s = &f.session;
    lock(store.as_ref(), s, "slow", Duration::from_millis(200)).await;
    let first = store
        .append_message(&s.id, MessageDraft::user("slow 1"))
        .await
        .expect("the slow holder's first append");
    tokio::time::sleep(Duration::from_millis(400)).await;

    let taken = lock(store.as_ref(), s, "next", LONG).await;
    let next = store
        .append_message(&s.id, MessageDraft::user("next 1"))
        .await
        .expect("the new holder's append");
    let late = store
        .append_message(&s.id, MessageDraft::user("slow 2"))
        .await
        .expect("the slow holder's late append");
    let again = store
        .append_message(&s.id, MessageDraft::user("next 2"))
        .await
        .expect("the new holder's second append");

    assert_eq!(first.seq, 1, "the slow holder's first append");
    assert_eq!(taken.message_count, 1, "the new holder sees one message");
    let mut all = vec![next.seq, late.seq, again.seq];
    all.sort_unstable();
    assert_eq!(all, vec![2, 3, 4], "interleaved appends: no gap, no repeat");
    assert_eq!(count(store.as_ref(), s).await, 4, "message_count");
    assert_eq!(seqs(store.as_ref(), s).await, vec![1, 2, 3, 4]);
}

/// Released with a ledger entry, the lock records it (once), also when the
/// lease had already gone to someone else: the model call happened.
pub async fn releasing_the_turn_lock_records_its_usage(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let s = &f.session;
    let record = |owner: UserId| UsageRecord {
        owner,
        project_id: f.project.id,
        agent_id: f.agent.id,
        session_id: s.id,
        at: now(),
        usage: None,
        failed: true,
        key_id: None,
        end_user: crate::domain::EndUser::parse("end-user-1").ok(),
    };

    lock(store.as_ref(), s, "a", LONG).await;
    store
        .unlock_turn(&s.id, "a", Some(&record(f.user.id)))
        .await
        .expect("unlock_turn with usage");
    lock(store.as_ref(), s, "b", LONG).await;
    store
        .unlock_turn(&s.id, "not-the-holder", Some(&record(f.user.id)))
        .await
        .expect("unlock_turn with usage by a former holder");

    let groups = one_agents_usage(store.as_ref(), &f.user.id).await;
    assert_eq!(groups[0].totals.turns, 2, "both releases recorded a turn");
    assert_eq!(groups[0].totals.failures, 2, "both as failures");
    let (from, to) = (now() - TimeDelta::hours(1), now() + TimeDelta::hours(1));
    let by_end_user = store
        .usage(&f.user.id, from, to, UsageGroupBy::EndUser)
        .await
        .expect("usage");
    assert_eq!(
        by_end_user
            .iter()
            .map(|g| g.key.as_str())
            .collect::<Vec<_>>(),
        ["end-user-1"],
        "the release's entry keeps its end user"
    );
    assert!(
        store
            .try_lock_turn(&s.owner, &s.id, "c", LONG)
            .await
            .expect("try_lock_turn")
            .is_none(),
        "a former holder's release leaves the current holder's lock"
    );
}

/// The turn's last append with its release (`append_and_unlock`): the
/// message gets the next seq and is counted, the lock is free after it,
/// and the usage entry is recorded once.
pub async fn the_last_append_releases_the_lock_and_records_usage_once(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let s = &f.session;
    append_messages(store.as_ref(), &s.id, 2).await;
    let record = UsageRecord {
        owner: f.user.id,
        project_id: f.project.id,
        agent_id: f.agent.id,
        session_id: s.id,
        at: now(),
        usage: None,
        failed: false,
        key_id: None,
        end_user: None,
    };

    lock(store.as_ref(), s, "turn", LONG).await;
    let user = store
        .append_message(&s.id, MessageDraft::user("question"))
        .await
        .expect("the user message under the lock");
    let (reply, released) = store
        .append_and_unlock(&s.id, "turn", MessageDraft::user("answer"), Some(&record))
        .await
        .expect("append_and_unlock by the holder");
    assert!(released, "the holder's release goes through");
    assert_eq!((user.seq, reply.seq), (3, 4), "the next seqs");
    assert_eq!(reply.content, "answer");
    assert_eq!(count(store.as_ref(), s).await, 4, "message_count");
    assert_eq!(seqs(store.as_ref(), s).await, vec![1, 2, 3, 4]);
    lock(store.as_ref(), s, "next", LONG).await;

    let groups = one_agents_usage(store.as_ref(), &f.user.id).await;
    assert_eq!(groups[0].totals.turns, 1, "one entry for the turn");
    assert_eq!(groups[0].totals.failures, 0);
}

/// The turn's last append to a session deleted while the turn ran: not
/// found, and nothing of it is left behind for a later read to find.
pub async fn the_last_append_to_a_session_deleted_meanwhile_is_not_found(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let s = &f.session;
    lock(store.as_ref(), s, "turn", LONG).await;
    store
        .append_message(&s.id, MessageDraft::user("question"))
        .await
        .expect("the user message under the lock");
    assert!(
        store
            .delete_session(&f.user.id, &s.id)
            .await
            .expect("delete_session"),
        "deleted"
    );

    assert_not_found(
        store
            .append_and_unlock(&s.id, "turn", MessageDraft::user("answer"), None)
            .await,
        "the reply to a deleted session",
    );
    assert_not_found(
        store
            .messages(&f.user.id, &s.id, &PageRequest::first(20, Order::Asc))
            .await,
        "the deleted session's messages",
    );
}

/// A holder whose lease ran out and went to another holder ends its turn
/// with `append_and_unlock`: its message takes the next free seq (no gap,
/// no repeat), and the other holder's lock stays held.
pub async fn the_last_append_after_a_lost_lease_leaves_the_new_holders_lock(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let s = &f.session;
    lock(store.as_ref(), s, "slow", Duration::from_millis(200)).await;
    store
        .append_message(&s.id, MessageDraft::user("slow 1"))
        .await
        .expect("the slow holder's first append");
    tokio::time::sleep(Duration::from_millis(400)).await;
    lock(store.as_ref(), s, "next", LONG).await;
    let next = store
        .append_message(&s.id, MessageDraft::user("next 1"))
        .await
        .expect("the new holder's append");

    let (late, _) = store
        .append_and_unlock(&s.id, "slow", MessageDraft::user("slow 2"), None)
        .await
        .expect("the slow holder's last append");
    assert_eq!((next.seq, late.seq), (2, 3), "no gap, no repeat");
    assert_eq!(count(store.as_ref(), s).await, 3, "message_count");
    assert!(
        store
            .try_lock_turn(&s.owner, &s.id, "third", LONG)
            .await
            .expect("try_lock_turn")
            .is_none(),
        "the slow holder's release leaves the new holder's lock"
    );
}

/// A turn's context window read through handle A holds what handle B
/// appended between A's turns (a backend may remember the newest messages
/// of a session it runs turns in; what it remembers must give way).
pub async fn a_window_read_under_the_lock_holds_the_other_handles_appends(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let f = Fixture::insert(a.as_ref()).await;
    let s = &f.session;
    let window = |store: Arc<dyn Store>, n: usize| async move {
        store
            .last_messages(&s.id, n)
            .await
            .expect("last_messages")
            .iter()
            .map(|m| m.seq)
            .collect::<Vec<_>>()
    };

    lock(a.as_ref(), s, "first", LONG).await;
    a.append_message(&s.id, MessageDraft::user("question 1"))
        .await
        .expect("A's user message");
    assert_eq!(window(Arc::clone(&a), 10).await, vec![1]);
    a.append_and_unlock(&s.id, "first", MessageDraft::user("answer 1"), None)
        .await
        .expect("A's reply with the release");

    let between = b
        .append_message(&s.id, MessageDraft::user("through B"))
        .await
        .expect("B's append between A's turns");
    assert_eq!(between.seq, 3);

    let taken = lock(a.as_ref(), s, "second", LONG).await;
    assert_eq!(taken.message_count, 3, "A's lock sees B's message");
    a.append_message(&s.id, MessageDraft::user("question 2"))
        .await
        .expect("A's second user message");
    assert_eq!(window(Arc::clone(&a), 10).await, vec![1, 2, 3, 4]);
    assert_eq!(window(Arc::clone(&a), 2).await, vec![3, 4]);
    let (reply, _) = a
        .append_and_unlock(&s.id, "second", MessageDraft::user("answer 2"), None)
        .await
        .expect("A's second reply");
    assert_eq!(reply.seq, 5);
    lock(a.as_ref(), s, "third", LONG).await;
    a.append_message(&s.id, MessageDraft::user("question 3"))
        .await
        .expect("A's third user message");
    assert_eq!(window(Arc::clone(&a), 3).await, vec![4, 5, 6]);
    a.unlock_turn(&s.id, "third", None).await.expect("unlock");
}

/// The same through two handles (two processes): the holder whose lease
/// ran out appends through one after the new holder appended through the
/// other, and neither seq is lost nor repeated.
pub async fn appends_after_a_lease_lost_to_the_other_handle_leave_no_gap(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let f = Fixture::insert(a.as_ref()).await;
    let s = &f.session;
    lock(a.as_ref(), s, "slow", Duration::from_millis(200)).await;
    a.append_message(&s.id, MessageDraft::user("slow 1"))
        .await
        .expect("the slow holder's first append");
    tokio::time::sleep(Duration::from_millis(400)).await;

    let taken = lock(b.as_ref(), s, "next", LONG).await;
    let next = b
        .append_message(&s.id, MessageDraft::user("next 1"))
        .await
        .expect("the new holder's append through B");
    let late = a
        .append_message(&s.id, MessageDraft::user("slow 2"))
        .await
        .expect("the slow holder's late append through A");
    b.unlock_turn(&s.id, "next", None).await.expect("unlock B");
    a.unlock_turn(&s.id, "slow", None).await.expect("unlock A");

    assert_eq!(taken.message_count, 1, "B's lock sees one message");
    assert_eq!(
        (next.seq, late.seq),
        (2, 3),
        "B's append, then A's late one"
    );
    for (name, store) in [("A", &a), ("B", &b)] {
        assert_eq!(
            count(store.as_ref(), s).await,
            3,
            "message_count through {name}"
        );
        assert_eq!(
            seqs(store.as_ref(), s).await,
            vec![1, 2, 3],
            "seqs through {name}"
        );
    }
}
