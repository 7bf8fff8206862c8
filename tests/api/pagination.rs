//! Cursor pagination on every list: `limit`, `order`, `after`, `before`.

use convo::core::llm::MockReply;
use convo::core::LlmError;
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, TestApp};

fn ids(list: &Value) -> Vec<String> {
    let data = list["data"].as_array().expect("data");
    data.iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

/// GETs `path?query`, asserting 200 and the list envelope.
async fn page(app: &TestApp, path: &str, query: &str) -> Value {
    let list = json_with_status(app.get(&app.client, &format!("{path}?{query}")).await, 200).await;
    let ids = ids(&list);
    assert_eq!(list["object"], "list", "{path}?{query}");
    assert_eq!(
        list["first_id"].as_str(),
        ids.first().map(String::as_str),
        "first_id of {path}?{query}"
    );
    assert_eq!(
        list["last_id"].as_str(),
        ids.last().map(String::as_str),
        "last_id of {path}?{query}"
    );
    list
}

/// Walks `path` two at a time with `after=last_id`: pages of 2, 2, 1 of
/// `expected` (the list in `order`), `has_more` true, true, false.
async fn assert_walk(app: &TestApp, path: &str, order: &str, expected: &[String]) {
    let chunks: Vec<&[String]> = expected.chunks(2).collect();
    let mut after = String::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let query = format!("limit=2{order}{after}");
        let list = page(app, path, &query).await;
        assert_eq!(ids(&list), *chunk, "page {i} of {path}?{query}");
        assert_eq!(
            list["has_more"],
            i + 1 < chunks.len(),
            "has_more of page {i} of {path}?{query}"
        );
        after = format!("&after={}", list["last_id"].as_str().expect("last_id"));
    }
    let end = page(app, path, &format!("limit=2{order}{after}")).await;
    assert_eq!(
        (end["data"].clone(), end["has_more"].clone()),
        (json!([]), json!(false)),
        "past the end of {path}"
    );
}

/// The whole contract of one list of five items, `oldest` first.
async fn assert_paginates(app: &TestApp, path: &str, oldest: &[String], default_desc: bool) {
    assert_eq!(oldest.len(), 5);
    let asc = oldest.to_vec();
    let desc: Vec<String> = oldest.iter().rev().cloned().collect();
    let default = if default_desc { &desc } else { &asc };

    assert_eq!(
        ids(&page(app, path, "").await),
        *default,
        "default order of {path}"
    );
    assert_walk(app, path, "", default).await;
    assert_walk(app, path, "&order=asc", &asc).await;
    assert_walk(app, path, "&order=desc", &desc).await;

    for (order, list) in [("asc", &asc), ("desc", &desc)] {
        // `before` alone: the items right before it, still in list order.
        let prev = page(
            app,
            path,
            &format!("limit=2&order={order}&before={}", list[3]),
        )
        .await;
        assert_eq!(
            ids(&prev),
            list[1..3],
            "{order}: the page before item 3 of {path}"
        );
        assert_eq!(prev["has_more"], true, "{order}: item 0 precedes that page");
        let first = page(
            app,
            path,
            &format!("limit=2&order={order}&before={}", list[1]),
        )
        .await;
        assert_eq!(
            ids(&first),
            list[..1],
            "{order}: the page before item 1 of {path}"
        );
        assert_eq!(first["has_more"], false, "{order}: nothing precedes item 0");
        // Both cursors: the first items strictly between them.
        let query = format!("limit=2&order={order}&after={}&before={}", list[0], list[4]);
        let between = page(app, path, &query).await;
        assert_eq!(
            ids(&between),
            list[1..3],
            "{order}: between items 0 and 4 of {path}"
        );
        assert_eq!(between["has_more"], true, "{order}: item 3 is also between");
    }
}

/// Ids of created objects, oldest first.
fn collect(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn projects_paginate_newest_first_by_default() {
    let app = spawn_app().await;
    let other = app.other_user().await;
    app.create_project(&other.client, "not mine").await;
    app.sign_up().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create_project(&app.client, &format!("p{i}")).await);
    }
    app.create_project(&other.client, "not mine either").await;

    assert_paginates(&app, "/api/projects", &collect(&created), true).await;
}

#[tokio::test]
async fn agents_paginate_newest_first_by_default() {
    let app = spawn_app().await;
    app.sign_up().await;
    let project = app.create_project(&app.client, "P").await;
    let pid = project["id"].as_str().expect("id");
    let elsewhere = app.create_project(&app.client, "Q").await;
    let mut created = Vec::new();
    for i in 0..5 {
        let body = json!({"name": format!("a{i}"), "system_prompt": "S"});
        created.push(app.create_agent(&app.client, pid, &body).await);
        let noise = json!({"name": "other project", "system_prompt": "S"});
        app.create_agent(&app.client, elsewhere["id"].as_str().expect("id"), &noise)
            .await;
    }

    assert_paginates(
        &app,
        &format!("/api/projects/{pid}/agents"),
        &collect(&created),
        true,
    )
    .await;
}

#[tokio::test]
async fn sessions_paginate_newest_first_by_default() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let other = app.fixture(&app.client).await;
    let mut created = vec![fx.session.clone()];
    for _ in 0..4 {
        created.push(app.start_chat(&app.client, fx.agent_id()).await);
        app.start_chat(&app.client, other.agent_id()).await;
    }

    assert_paginates(
        &app,
        &format!("/api/agents/{}/sessions", fx.agent_id()),
        &collect(&created),
        true,
    )
    .await;
}

#[tokio::test]
async fn messages_paginate_in_conversation_order_by_default() {
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let other = app.fixture(&app.client).await;
    for content in ["one", "two"] {
        assert_eq!(
            app.send_message(&app.client, fx.session_id(), content)
                .await
                .status(),
            201
        );
        assert_eq!(
            app.send_message(&app.client, other.session_id(), content)
                .await
                .status(),
            201
        );
    }
    app.mock.push(MockReply::Fail(LlmError::Timeout)); // a fifth message: a user message with no reply
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "three")
            .await
            .status(),
        504
    );
    let history = app.history(&app.client, fx.session_id()).await;
    let seqs: Vec<u64> = history.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    assert_paginates(
        &app,
        &format!("/api/chat/{}/messages", fx.session_id()),
        &collect(&history),
        false,
    )
    .await;
}

#[tokio::test]
async fn a_message_cursor_from_another_session_is_422_naming_the_cursor() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let other = app.fixture(&app.client).await;
    app.send_message(&app.client, fx.session_id(), "here").await;
    let turn = json_with_status(
        app.send_message(&app.client, other.session_id(), "there")
            .await,
        201,
    )
    .await;
    let foreign = turn["user_message"]["id"].as_str().expect("id");
    let path = format!("/api/chat/{}/messages", fx.session_id());

    for param in ["after", "before"] {
        // Act
        let resp = app
            .get(&app.client, &format!("{path}?{param}={foreign}"))
            .await;

        // Assert
        let error = assert_error(resp, 422, "validation_failed").await;
        assert_eq!(error["param"], param);
    }
}

#[tokio::test]
async fn the_default_page_holds_20_items() {
    let app = spawn_app().await;
    app.sign_up().await;
    for i in 0..21 {
        app.create_project(&app.client, &format!("p{i}")).await;
    }

    let first = page(&app, "/api/projects", "").await;
    let rest = page(
        &app,
        "/api/projects",
        &format!("after={}", first["last_id"].as_str().expect("id")),
    )
    .await;

    assert_eq!(ids(&first).len(), 20);
    assert_eq!(first["has_more"], true);
    assert_eq!(ids(&rest).len(), 1);
    assert_eq!(rest["has_more"], false);
}
