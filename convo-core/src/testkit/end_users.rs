//! End users (the people a project API key serves): sessions that record
//! one, the owner's list filtered by one, their tokens for the monthly
//! budget, and the usage report by key and by end user.

use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::fixtures::{end_user, project, session, Fixture};
use super::pagination::assert_paginates;
use crate::domain::{
    now, ChatSession, EndUser, KeyId, Order, PageRequest, Timestamp, Usage, UsageGroupBy,
    UsageRecord,
};
use crate::store::Store;

fn at(day: u32, hour: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 10, day, hour, 0, 0)
        .single()
        .expect("a valid date")
}

fn tokens(total: u64) -> Option<Usage> {
    Some(Usage {
        prompt_tokens: total,
        completion_tokens: 0,
        total_tokens: total,
        thoughts_tokens: None,
        cached_tokens: None,
    })
}

/// A ledger entry of the fixture's session, in `project` of the fixture's owner.
fn record(
    f: &Fixture,
    project: crate::domain::ProjectId,
    at: Timestamp,
    usage: Option<Usage>,
    key_id: Option<KeyId>,
    end_user: Option<&EndUser>,
) -> UsageRecord {
    UsageRecord {
        owner: f.user.id,
        project_id: project,
        agent_id: f.agent.id,
        session_id: f.session.id,
        at,
        usage,
        failed: usage.is_none(),
        key_id,
        end_user: end_user.cloned(),
    }
}

/// Inserts a session of the fixture's agent for `who`.
async fn insert_session_for(store: &dyn Store, f: &Fixture, who: Option<&EndUser>) -> ChatSession {
    let s = ChatSession {
        end_user: who.cloned(),
        ..session(&f.agent)
    };
    store
        .insert_session(&s)
        .await
        .expect("insert_session must succeed");
    s
}

/// A session keeps the end user it was started for, through `session`,
/// `sessions` and `update_session`; one started for none reads as none.
pub async fn sessions_keep_their_end_user(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let alice = end_user("alice@example.test");
    let hers = insert_session_for(store.as_ref(), &f, Some(&alice)).await;
    store
        .update_session(&ChatSession {
            title: Some("renamed".to_owned()),
            updated_at: now(),
            ..hers.clone()
        })
        .await
        .expect("update_session must succeed");

    let read = store
        .session(&f.user.id, &hers.id)
        .await
        .expect("session must succeed")
        .expect("the session is stored");
    assert_eq!(
        read.end_user,
        Some(alice.clone()),
        "session() reads back the end user, also after update_session"
    );
    let listed = store
        .sessions(
            &f.user.id,
            &f.agent.id,
            None,
            &PageRequest::first(100, Order::Asc),
        )
        .await
        .expect("sessions must succeed");
    let end_users: Vec<(crate::domain::SessionId, Option<EndUser>)> = listed
        .data
        .iter()
        .map(|s| (s.id, s.end_user.clone()))
        .collect();
    assert_eq!(
        end_users,
        [(f.session.id, None), (hers.id, Some(alice))],
        "the unfiltered list shows every session with its end user (or none)"
    );
}

/// The owner's sessions of one end user page exactly like a whole list
/// (limit, both orders, `after`/`before`, exact `has_more`), with no other
/// end user's sessions, none without one, and none of another agent.
pub async fn sessions_filtered_by_end_user_paginate_with_cursors(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (alice, bob) = (end_user("alice"), end_user("bob"));
    let mut hers = Vec::new();
    // Hers interleaved with others', so a filter applied after the limit
    // (or not at all) shows.
    for _ in 0..5 {
        insert_session_for(store.as_ref(), &f, Some(&bob)).await;
        hers.push(
            insert_session_for(store.as_ref(), &f, Some(&alice))
                .await
                .id,
        );
        insert_session_for(store.as_ref(), &f, None).await;
    }
    let elsewhere = Fixture {
        agent: f.insert_agent(store.as_ref()).await,
        ..f.clone()
    };
    insert_session_for(store.as_ref(), &elsewhere, Some(&alice)).await;
    let (owner, agent_id) = (f.user.id, f.agent.id);

    assert_paginates(
        "sessions of one end user",
        &hers,
        |s: &ChatSession| s.id,
        move |req| {
            let (store, alice) = (Arc::clone(&store), alice.clone());
            async move { store.sessions(&owner, &agent_id, Some(&alice), &req).await }
        },
    )
    .await;
}

/// `end_user_tokens` sums the total tokens of the owner's entries for that
/// end user in that project with `from <= at < to`; entries without usage
/// count 0, and an end user without entries has 0.
pub async fn end_user_tokens_count_only_that_project_end_user_and_window(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let stranger = Fixture::insert(store.as_ref()).await;
    let sibling = project(&f.user.id);
    store
        .insert_project(&sibling)
        .await
        .expect("insert_project");
    let (alice, bob) = (end_user("alice"), end_user("bob"));
    let key = Some(KeyId::new());
    let (from, to) = (at(1, 0), at(31, 0));
    let p = f.project.id;
    let records = [
        // Counted: 1 + 20 + 300 (and a failed turn without usage).
        record(&f, p, from, tokens(1), key, Some(&alice)),
        record(&f, p, at(15, 12), tokens(20), None, Some(&alice)),
        record(&f, p, at(30, 23), tokens(300), key, Some(&alice)),
        record(&f, p, at(16, 0), None, key, Some(&alice)),
        // Not counted: outside the window, another end user, none, another
        // project, another owner.
        record(&f, p, to, tokens(4_000), key, Some(&alice)),
        record(
            &f,
            p,
            at(1, 0) - chrono::TimeDelta::milliseconds(1),
            tokens(5_000),
            key,
            Some(&alice),
        ),
        record(&f, p, at(10, 0), tokens(60_000), key, Some(&bob)),
        record(&f, p, at(10, 0), tokens(700_000), None, None),
        record(
            &f,
            sibling.id,
            at(10, 0),
            tokens(8_000_000),
            key,
            Some(&alice),
        ),
        UsageRecord {
            owner: stranger.user.id,
            ..record(&f, p, at(10, 0), tokens(90_000_000), key, Some(&alice))
        },
    ];
    for r in &records {
        store
            .record_usage(r)
            .await
            .expect("record_usage must succeed");
    }

    let hers = store
        .end_user_tokens(&f.user.id, &p, &alice, from, to)
        .await
        .expect("end_user_tokens must succeed");
    let nobodys = store
        .end_user_tokens(&f.user.id, &p, &end_user("carol"), from, to)
        .await
        .expect("end_user_tokens must succeed");

    assert_eq!(
        hers, 321,
        "only the owner's entries for that end user in that project within [from, to)"
    );
    assert_eq!(nobodys, 0, "an end user without entries has spent nothing");
}

/// The usage report groups by key id and by end user; turns without one
/// are grouped under the empty key `""`, groups in ascending key order.
pub async fn usage_is_summed_per_key_and_end_user(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (k1, k2) = (KeyId::new(), KeyId::new());
    let (alice, bob) = (end_user("alice"), end_user("bob"));
    let p = f.project.id;
    let records = [
        record(&f, p, at(3, 1), tokens(10), Some(k1), Some(&alice)),
        record(&f, p, at(3, 2), tokens(20), Some(k1), Some(&bob)),
        record(&f, p, at(3, 3), tokens(40), Some(k2), Some(&alice)),
        record(&f, p, at(3, 4), tokens(80), None, None),
        record(&f, p, at(3, 5), None, Some(k2), None),
    ];
    for r in &records {
        store
            .record_usage(r)
            .await
            .expect("record_usage must succeed");
    }
    let groups = |by: UsageGroupBy| {
        let store = Arc::clone(&store);
        let owner = f.user.id;
        async move {
            store
                .usage(&owner, at(3, 0), at(4, 0), by)
                .await
                .expect("usage must succeed")
                .into_iter()
                .map(|g| (g.key, g.totals.total_tokens, g.totals.turns))
                .collect::<Vec<_>>()
        }
    };

    let mut by_key = vec![
        (String::new(), 80, 1),
        (k1.to_string(), 30, 2),
        (k2.to_string(), 40, 2),
    ];
    by_key.sort();
    assert_eq!(
        groups(UsageGroupBy::Key).await,
        by_key,
        "per key id, turns without a key under \"\", in key order"
    );
    assert_eq!(
        groups(UsageGroupBy::EndUser).await,
        [
            (String::new(), 80, 2),
            ("alice".to_owned(), 50, 2),
            ("bob".to_owned(), 20, 1),
        ],
        "per end user, turns for none under \"\", in key order"
    );
}
