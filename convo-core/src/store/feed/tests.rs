use super::*;
use crate::testkit::{agent, api_key, project, unique_email, user};

/// A feed with one source, connected.
fn connected() -> ChangeFeed {
    let feed = ChangeFeed::new(1, Duration::from_secs(3600));
    feed.connected(0);
    feed
}

#[test]
fn a_feed_that_never_connected_keeps_and_answers_nothing() {
    let feed = ChangeFeed::new(1, Duration::from_secs(3600));
    let u = user(&unique_email());

    assert!(feed.ticket().is_none(), "no ticket while the feed is down");
    assert!(!feed.is_healthy());
    assert_eq!(feed.user(&u.id, "jti"), None);
}

#[test]
fn a_kept_user_answers_until_its_token_is_revoked() {
    let feed = connected();
    let u = user(&unique_email());
    let ticket = feed.ticket().expect("a connected feed gives tickets");
    feed.keep_user(ticket, "jti-1", &u);

    assert_eq!(feed.user(&u.id, "jti-1"), Some(u.clone()), "kept");
    assert_eq!(
        feed.user(&u.id, "jti-2"),
        None,
        "another token is not known"
    );
    feed.apply(Change::Token("jti-1".into()));
    assert_eq!(feed.user(&u.id, "jti-1"), None, "revoked: forgotten");
}

#[test]
fn a_deleted_user_is_forgotten_with_all_its_tokens() {
    let feed = connected();
    let u = user(&unique_email());
    feed.keep_user(feed.ticket().expect("ticket"), "jti-1", &u);

    feed.apply(Change::User(u.id));

    assert_eq!(feed.user(&u.id, "jti-1"), None);
}

#[test]
fn an_answer_read_while_a_change_arrived_is_not_kept() {
    // The revocation's event arrives while the store read that did not
    // see it yet is in flight: its answer must not be kept.
    let feed = connected();
    let u = user(&unique_email());
    let ticket = feed.ticket().expect("ticket");
    feed.apply(Change::Token("jti-1".into()));
    feed.keep_user(ticket, "jti-1", &u);

    assert_eq!(feed.user(&u.id, "jti-1"), None);
}

#[test]
fn a_disconnected_feed_answers_nothing_and_reconnecting_starts_empty() {
    let feed = connected();
    let u = user(&unique_email());
    feed.keep_user(feed.ticket().expect("ticket"), "jti-1", &u);
    let ticket_before = feed.ticket().expect("ticket");

    feed.disconnected(0);
    assert_eq!(feed.user(&u.id, "jti-1"), None, "down: not used");
    assert!(feed.ticket().is_none(), "down: no ticket");
    feed.connected(0);

    assert_eq!(
        feed.user(&u.id, "jti-1"),
        None,
        "changes may have been missed"
    );
    feed.keep_user(ticket_before, "jti-1", &u);
    assert_eq!(
        feed.user(&u.id, "jti-1"),
        None,
        "a read begun before the outage is not kept"
    );
}

#[test]
fn every_source_must_be_connected() {
    let feed = ChangeFeed::new(2, Duration::from_secs(3600));
    feed.connected(0);
    assert!(feed.ticket().is_none(), "one source of two");
    feed.connected(1);
    assert!(feed.ticket().is_some(), "both");
}

#[test]
fn a_source_silent_for_longer_than_allowed_makes_the_feed_unusable() {
    let feed = ChangeFeed::new(1, Duration::ZERO);
    feed.connected(0);
    std::thread::sleep(Duration::from_millis(2));

    assert!(feed.ticket().is_none(), "silent past max_silence");
    feed.heard(0);
    // Still unusable a moment later: max_silence is zero.
    std::thread::sleep(Duration::from_millis(2));
    assert!(!feed.is_healthy());
}

#[test]
fn an_in_process_feed_is_always_usable() {
    let feed = ChangeFeed::in_process();
    assert!(feed.is_healthy());
    assert!(feed.ticket().is_some());
}

#[test]
fn a_kept_key_is_forgotten_when_it_changes() {
    let feed = connected();
    let owner = user(&unique_email());
    let key = api_key(&project(&owner.id));
    feed.keep_api_key(feed.ticket().expect("ticket"), &key);
    assert_eq!(feed.api_key(&key.secret_hash), Some(key.clone()));

    feed.apply(Change::ApiKey(key.id));

    assert_eq!(feed.api_key(&key.secret_hash), None);
}

#[test]
fn a_kept_agent_answers_only_its_owner_and_is_forgotten_when_it_changes() {
    let feed = connected();
    let owner = user(&unique_email());
    let other = user(&unique_email());
    let a = agent(&project(&owner.id));
    feed.keep_agent(feed.ticket().expect("ticket"), &a);

    assert_eq!(feed.agent(&owner.id, &a.id), Some(a.clone()));
    assert_eq!(feed.agent(&other.id, &a.id), None, "not the owner");
    feed.apply(Change::Agent(a.id));
    assert_eq!(feed.agent(&owner.id, &a.id), None);
}

#[test]
fn everything_forgets_everything() {
    let feed = connected();
    let u = user(&unique_email());
    let a = agent(&project(&u.id));
    let ticket = feed.ticket().expect("ticket");
    feed.keep_user(ticket, "jti-1", &u);
    feed.keep_agent(ticket, &a);
    let session = SessionId::new();
    let page = Page {
        data: messages(session, 20, 10),
        has_more: true,
    };
    feed.keep_message_page(ticket, &u.id, &session, &first_messages(), &page);
    assert!(
        feed.message_page(&u.id, &session, &first_messages())
            .is_some(),
        "kept"
    );

    feed.apply(Change::Everything);

    assert_eq!(feed.user(&u.id, "jti-1"), None);
    assert_eq!(feed.agent(&u.id, &a.id), None);
    assert_eq!(feed.message_page(&u.id, &session, &first_messages()), None);
}

/// The first page of `owner`'s projects, newest first.
fn first_page() -> PageRequest<ProjectId> {
    PageRequest {
        limit: 20,
        order: Order::Desc,
        after: None,
        before: None,
    }
}

#[test]
fn a_kept_page_of_projects_answers_its_owner_and_request_until_a_project_changes() {
    let feed = connected();
    let u = user(&unique_email());
    let other = user(&unique_email());
    let page = Page {
        data: vec![project(&u.id)],
        has_more: false,
    };
    feed.keep_project_page(feed.ticket().expect("ticket"), &u.id, &first_page(), &page);

    assert_eq!(feed.project_page(&u.id, &first_page()), Some(page.clone()));
    assert_eq!(
        feed.project_page(&other.id, &first_page()),
        None,
        "not another owner's"
    );
    let ascending = PageRequest {
        order: Order::Asc,
        ..first_page()
    };
    assert_eq!(
        feed.project_page(&u.id, &ascending),
        None,
        "not another request's"
    );

    feed.apply(Change::Agent(AgentId::new()));
    assert_eq!(
        feed.project_page(&u.id, &first_page()),
        Some(page),
        "an agent's change leaves it"
    );
    feed.apply(Change::Projects);
    assert_eq!(
        feed.project_page(&u.id, &first_page()),
        None,
        "a project's change drops it"
    );
}

#[test]
fn kept_pages_of_projects_are_bounded_by_the_projects_they_hold() {
    let feed = connected();
    let u = user(&unique_email());
    let full = Page {
        data: (0..100).map(|_| project(&u.id)).collect(),
        has_more: true,
    };
    // 200 pages of 100 fill the bound; the next page drops them all first.
    let requests: Vec<_> = (0..=MAX_KEPT_PROJECTS / 100)
        .map(|_| PageRequest {
            limit: 100,
            order: Order::Desc,
            after: None,
            before: Some(ProjectId::new()),
        })
        .collect();
    for r in &requests {
        feed.keep_project_page(feed.ticket().expect("ticket"), &u.id, r, &full);
    }
    let first = requests.first().expect("a request");
    let last = requests.last().expect("a request");
    assert_eq!(
        feed.project_page(&u.id, first),
        None,
        "dropped to make room"
    );
    assert_eq!(
        feed.project_page(&u.id, last),
        Some(full),
        "the newest is kept"
    );
}

#[test]
fn a_projects_change_during_a_read_spoils_only_pages_of_projects() {
    let feed = connected();
    let u = user(&unique_email());
    let p = project(&u.id);
    let a = agent(&p);
    let page = Page {
        data: vec![p],
        has_more: false,
    };
    let ticket = feed.ticket().expect("ticket");
    feed.apply(Change::Projects);
    feed.keep_agent(ticket, &a);
    feed.keep_project_page(ticket, &u.id, &first_page(), &page);

    assert_eq!(feed.agent(&u.id, &a.id), Some(a), "the agent read is kept");
    assert_eq!(
        feed.project_page(&u.id, &first_page()),
        None,
        "the page read is not"
    );
}

/// `n` messages of a session, seqs `1..=n`, each `bytes` long.
fn messages(session: SessionId, n: u64, bytes: usize) -> Vec<Message> {
    (1..=n)
        .map(|seq| crate::domain::MessageDraft::user("m".repeat(bytes)).into_message(session, seq))
        .collect()
}

fn first_messages() -> PageRequest<MessageId> {
    PageRequest::first(20, Order::Asc)
}

#[test]
fn only_pages_of_messages_that_can_no_longer_change_are_settled() {
    let full = Page {
        data: messages(SessionId::new(), 20, 1),
        has_more: true,
    };
    let last = Page {
        has_more: false,
        ..full.clone()
    };
    let cursor = Some(MessageId::new());
    let asc = first_messages();
    let desc = PageRequest::first(20, Order::Desc);
    let cases = [
        ("first page upwards, more after it", &asc, &full, true),
        ("first page upwards, the last one", &asc, &last, false),
        ("newest first, no cursor", &desc, &full, false),
        (
            "newest first, after a cursor (older ones)",
            &PageRequest {
                after: cursor,
                ..desc.clone()
            },
            &last,
            true,
        ),
        (
            "newest first, before a cursor (newer ones), more before them",
            &PageRequest {
                before: cursor,
                ..desc.clone()
            },
            &full,
            true,
        ),
        (
            "newest first, before a cursor, the newest ones",
            &PageRequest {
                before: cursor,
                ..desc.clone()
            },
            &last,
            false,
        ),
        (
            "upwards, before a cursor",
            &PageRequest {
                before: cursor,
                ..asc.clone()
            },
            &last,
            true,
        ),
        (
            "upwards, after a cursor, the last one",
            &PageRequest {
                after: cursor,
                ..asc.clone()
            },
            &last,
            false,
        ),
    ];
    for (what, request, page, settled) in cases {
        assert_eq!(settled_page(request, page), settled, "{what}");
    }
}

#[test]
fn a_kept_page_of_messages_answers_its_owner_session_and_request_until_a_session_goes() {
    let feed = connected();
    let u = user(&unique_email());
    let other = user(&unique_email());
    let session = SessionId::new();
    let page = Page {
        data: messages(session, 20, 10),
        has_more: true,
    };
    feed.keep_message_page(
        feed.ticket().expect("ticket"),
        &u.id,
        &session,
        &first_messages(),
        &page,
    );

    assert_eq!(
        feed.message_page(&u.id, &session, &first_messages()),
        Some(page.clone())
    );
    assert_eq!(
        feed.message_page(&other.id, &session, &first_messages()),
        None,
        "not another owner's"
    );
    assert_eq!(
        feed.message_page(&u.id, &SessionId::new(), &first_messages()),
        None,
        "not another session's"
    );
    assert_eq!(
        feed.message_page(&u.id, &session, &PageRequest::first(10, Order::Asc)),
        None,
        "not another request's"
    );

    feed.apply(Change::Projects);
    feed.apply(Change::Agent(AgentId::new()));
    assert_eq!(
        feed.message_page(&u.id, &session, &first_messages()),
        Some(page),
        "a project's or an agent's change leaves it"
    );
    feed.apply(Change::Sessions);
    assert_eq!(
        feed.message_page(&u.id, &session, &first_messages()),
        None,
        "a session's deletion drops it"
    );
}

#[test]
fn a_page_of_messages_that_may_change_is_not_kept() {
    let feed = connected();
    let u = user(&unique_email());
    let session = SessionId::new();
    let newest = Page {
        data: messages(session, 5, 10),
        has_more: false,
    };
    feed.keep_message_page(
        feed.ticket().expect("ticket"),
        &u.id,
        &session,
        &first_messages(),
        &newest,
    );

    assert_eq!(
        feed.message_page(&u.id, &session, &first_messages()),
        None,
        "the next append would join it"
    );
}

#[test]
fn a_session_deleted_during_a_read_spoils_only_pages_of_messages() {
    let feed = connected();
    let u = user(&unique_email());
    let a = agent(&project(&u.id));
    let session = SessionId::new();
    let page = Page {
        data: messages(session, 20, 10),
        has_more: true,
    };
    let ticket = feed.ticket().expect("ticket");
    feed.apply(Change::Sessions);
    feed.keep_agent(ticket, &a);
    feed.keep_message_page(ticket, &u.id, &session, &first_messages(), &page);

    assert_eq!(feed.agent(&u.id, &a.id), Some(a), "the agent read is kept");
    assert_eq!(
        feed.message_page(&u.id, &session, &first_messages()),
        None,
        "the page read is not"
    );
}

#[test]
fn kept_pages_of_messages_are_bounded_by_their_bytes() {
    let feed = connected();
    let u = user(&unique_email());
    let session = SessionId::new();
    // 100 messages of 64 KiB: about 6.4 MiB a page, so the sixth page
    // does not fit beside the first five.
    let heavy = Page {
        data: messages(session, 100, 64 << 10),
        has_more: true,
    };
    let requests: Vec<_> = (0..6)
        .map(|_| PageRequest {
            before: Some(MessageId::new()),
            ..PageRequest::first(100, Order::Asc)
        })
        .collect();
    for r in &requests {
        feed.keep_message_page(feed.ticket().expect("ticket"), &u.id, &session, r, &heavy);
    }
    let first = requests.first().expect("a request");
    let last = requests.last().expect("a request");
    assert_eq!(
        feed.message_page(&u.id, &session, first),
        None,
        "dropped to make room"
    );
    assert_eq!(
        feed.message_page(&u.id, &session, last),
        Some(heavy),
        "the newest is kept"
    );
}
