//! Cursor pagination of projects, agents, sessions and messages.
//!
//! Each list gets five items (inserted out of order) next to a sibling list
//! that must not leak in, then every request with `limit` 1–6, both orders and
//! every `after`/`before` (none or each item) is checked against a model of
//! [`PageRequest`]'s rules: exclusive cursors read in the list's order; the
//! page starts right after `after` (or at the start), except that `before`
//! alone gives the `limit` items right before `before`; `has_more` says
//! exactly whether more items lie beyond the page, away from its anchor.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use super::fixtures::{
    agent, append_messages, assert_not_found, insert_user, project, session, Fixture,
};
use crate::domain::{MessageDraft, MessageId, Order, Page, PageRequest};
use crate::store::{Store, StoreError};

/// The index of the items each list is filled with, in the order they are inserted.
const INSERTION_ORDER: [usize; 5] = [3, 0, 4, 1, 2];

/// Projects page by id: limit, both orders, `after`/`before`, exact `has_more`.
pub async fn projects_paginate_by_id_with_limit_order_and_cursors(store: Arc<dyn Store>) {
    let owner = insert_user(store.as_ref()).await;
    let projects: Vec<_> = (0..5).map(|_| project(&owner.id)).collect();
    for i in INSERTION_ORDER {
        store
            .insert_project(&projects[i])
            .await
            .expect("insert_project must succeed");
    }
    let neighbour = insert_user(store.as_ref()).await;
    store
        .insert_project(&project(&neighbour.id))
        .await
        .expect("insert_project must succeed");
    let asc: Vec<_> = projects.iter().map(|p| p.id).collect();

    assert_paginates(
        "projects",
        &asc,
        |p: &crate::domain::Project| p.id,
        move |req| {
            let store = Arc::clone(&store);
            async move { store.projects(&owner.id, &req).await }
        },
    )
    .await;
}

/// A project's agents page by id: limit, both orders, `after`/`before`, exact `has_more`.
pub async fn agents_paginate_by_id_with_limit_order_and_cursors(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let p = project(&f.user.id);
    store
        .insert_project(&p)
        .await
        .expect("insert_project must succeed");
    let agents: Vec<_> = (0..5).map(|_| agent(&p)).collect();
    for i in INSERTION_ORDER {
        store
            .insert_agent(&agents[i])
            .await
            .expect("insert_agent must succeed");
    }
    let asc: Vec<_> = agents.iter().map(|a| a.id).collect();
    let (owner, project_id) = (f.user.id, p.id);

    assert_paginates(
        "agents",
        &asc,
        |a: &crate::domain::Agent| a.id,
        move |req| {
            let store = Arc::clone(&store);
            async move { store.agents(&owner, &project_id, &req).await }
        },
    )
    .await;
}

/// An agent's sessions page by id: limit, both orders, `after`/`before`, exact `has_more`.
pub async fn sessions_paginate_by_id_with_limit_order_and_cursors(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let a = f.insert_agent(store.as_ref()).await;
    let sessions: Vec<_> = (0..5).map(|_| session(&a)).collect();
    for i in INSERTION_ORDER {
        store
            .insert_session(&sessions[i])
            .await
            .expect("insert_session must succeed");
    }
    let asc: Vec<_> = sessions.iter().map(|s| s.id).collect();
    let (owner, agent_id) = (f.user.id, a.id);

    assert_paginates(
        "sessions",
        &asc,
        |s: &crate::domain::ChatSession| s.id,
        move |req| {
            let store = Arc::clone(&store);
            async move { store.sessions(&owner, &agent_id, None, &req).await }
        },
    )
    .await;
}

/// A session's messages page by `seq` (not by id): limit, both orders,
/// `after`/`before` message ids, exact `has_more`.
pub async fn messages_paginate_by_seq_with_limit_order_and_cursors(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let neighbour = f.insert_session(store.as_ref()).await;
    append_messages(store.as_ref(), &neighbour.id, 2).await;
    // Ids are made in one order and appended in another, so seq order is not id order.
    let drafts: Vec<_> = (0..5)
        .map(|i| MessageDraft::user(format!("draft {i}")))
        .collect();
    let mut asc = Vec::new();
    for i in INSERTION_ORDER {
        let m = store
            .append_message(&f.session.id, drafts[i].clone())
            .await
            .expect("append_message must succeed");
        asc.push(m.id);
    }
    let (owner, session_id) = (f.user.id, f.session.id);

    assert_paginates(
        "messages",
        &asc,
        |m: &crate::domain::Message| m.id,
        move |req| {
            let store = Arc::clone(&store);
            async move { store.messages(&owner, &session_id, &req).await }
        },
    )
    .await;
}

/// A message cursor (`after` or `before`) that is not a message of the session is `NotFound`.
pub async fn a_message_cursor_outside_the_session_is_not_found(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let other = f.insert_session(store.as_ref()).await;
    append_messages(store.as_ref(), &f.session.id, 3).await;
    let foreign = append_messages(store.as_ref(), &other.id, 1).await[0].id;

    for (name, cursor) in [
        ("another session's message", foreign),
        ("an unknown id", MessageId::new()),
    ] {
        for order in [Order::Asc, Order::Desc] {
            let after = PageRequest {
                limit: 10,
                order,
                after: Some(cursor),
                before: None,
            };
            let before = PageRequest {
                limit: 10,
                order,
                after: None,
                before: Some(cursor),
            };
            let what = format!("messages() with {name} as the cursor ({order:?})");
            assert_not_found(
                store.messages(&f.user.id, &f.session.id, &after).await,
                &format!("{what}: after"),
            );
            assert_not_found(
                store.messages(&f.user.id, &f.session.id, &before).await,
                &format!("{what}: before"),
            );
        }
    }
}

/// Checks `fetch` against the model for a list of five items whose keys, in
/// ascending order, are `asc`.
pub(super) async fn assert_paginates<K, T, F, Fut>(
    what: &str,
    asc: &[K],
    key: impl Fn(&T) -> K,
    fetch: F,
) where
    K: Copy + PartialEq + Debug,
    F: Fn(PageRequest<K>) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let label = |k: &K| {
        asc.iter()
            .position(|x| x == k)
            .map_or_else(|| format!("{k:?} (not in the list)"), |i| format!("#{i}"))
    };
    let labels = |ks: &[K]| ks.iter().map(label).collect::<Vec<_>>();

    // The walk a client does: limit 2, each page starting after the last id.
    for order in [Order::Asc, Order::Desc] {
        let mut walked = Vec::new();
        let mut shapes = Vec::new();
        let mut after = None;
        while shapes.len() <= asc.len() {
            let req = PageRequest {
                limit: 2,
                order,
                after,
                before: None,
            };
            let page = fetch(req)
                .await
                .unwrap_or_else(|e| panic!("{what}: a {order:?} page must succeed, got {e:?}"));
            shapes.push((page.data.len(), page.has_more));
            walked.extend(page.data.iter().map(&key));
            after = walked.last().copied();
            if !page.has_more {
                break;
            }
        }
        assert_eq!(
            shapes,
            vec![(2, true), (2, true), (1, false)],
            "{what}: walking 5 items {order:?} with limit 2 and after = last id must give pages of (len, has_more)",
        );
        let mut expected = asc.to_vec();
        if order == Order::Desc {
            expected.reverse();
        }
        assert_eq!(
            labels(&walked),
            labels(&expected),
            "{what}: the {order:?} walk must visit every item once, in order"
        );

        // And back: from the last item, each page ending before the first id of the one before.
        let mut walked = Vec::new();
        let mut shapes = Vec::new();
        let mut before = expected.last().copied();
        while shapes.len() <= asc.len() {
            let req = PageRequest {
                limit: 2,
                order,
                after: None,
                before,
            };
            let page = fetch(req)
                .await
                .unwrap_or_else(|e| panic!("{what}: a {order:?} page must succeed, got {e:?}"));
            shapes.push((page.data.len(), page.has_more));
            let ids: Vec<K> = page.data.iter().map(&key).collect();
            before = ids.first().copied();
            walked.splice(0..0, ids);
            if !page.has_more {
                break;
            }
        }
        assert_eq!(
            shapes,
            vec![(2, true), (2, false)],
            "{what}: walking back {order:?} with limit 2 and before = first id, from the last item, \
             must give pages of (len, has_more)",
        );
        assert_eq!(
            labels(&walked),
            labels(&expected[..expected.len() - 1]),
            "{what}: the backward {order:?} walk must visit every item before the last once, each page in list order",
        );
    }

    // Every combination, against the model.
    let cursors: Vec<Option<K>> = std::iter::once(None)
        .chain(asc.iter().copied().map(Some))
        .collect();
    for order in [Order::Asc, Order::Desc] {
        for limit in 1..=asc.len() + 1 {
            for &after in &cursors {
                for &before in &cursors {
                    let req = PageRequest {
                        limit,
                        order,
                        after,
                        before,
                    };
                    let (want, want_more) = model(asc, &req);
                    let case = format!(
                        "{what}: order={order:?} limit={limit} after={} before={}",
                        after.as_ref().map_or("-".into(), label),
                        before.as_ref().map_or("-".into(), label),
                    );
                    let page = fetch(req)
                        .await
                        .unwrap_or_else(|e| panic!("{case}: must succeed, got {e:?}"));
                    let got: Vec<K> = page.data.iter().map(&key).collect();
                    assert_eq!(labels(&got), labels(&want), "{case}: wrong items");
                    assert_eq!(
                        page.has_more,
                        want_more,
                        "{case}: wrong has_more (items {:?})",
                        labels(&got)
                    );
                }
            }
        }
    }
}

/// The page `req` must give over the list whose keys in ascending order are `asc`.
fn model<K: Copy + PartialEq>(asc: &[K], req: &PageRequest<K>) -> (Vec<K>, bool) {
    let mut list = asc.to_vec();
    if req.order == Order::Desc {
        list.reverse();
    }
    let position = |k: &K| {
        list.iter()
            .position(|x| x == k)
            .expect("model cursors come from the list")
    };
    let start = req.after.as_ref().map_or(0, |k| position(k) + 1);
    let end = req.before.as_ref().map_or(list.len(), position);
    let window = if start < end {
        &list[start..end]
    } else {
        &[][..]
    };
    let has_more = window.len() > req.limit;
    let page = if req.before.is_some() && req.after.is_none() {
        // The previous page: the items nearest `before`.
        &window[window.len().saturating_sub(req.limit)..]
    } else {
        &window[..window.len().min(req.limit)]
    };
    (page.to_vec(), has_more)
}
