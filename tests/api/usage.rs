//! `GET /api/usage` and the quotas: the ledger through the HTTP API.

use std::time::Duration;

use convo_core::llm::{MockProvider, MockReply};
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_with_status, spawn_app, spawn_app_with};

#[tokio::test]
async fn usage_is_summed_per_day_project_and_agent() {
    // Arrange: two agents in two projects; three turns, one of them failing.
    let app = spawn_app().await;
    app.sign_up().await;
    let a = app.fixture(&app.client).await;
    let b = app.fixture(&app.client).await;
    let mut expected_total = 0;
    for (fx, text) in [(&a, "one"), (&a, "two"), (&b, "three")] {
        let turn = json_with_status(
            app.send_message(&app.client, fx.session_id(), text).await,
            201,
        )
        .await;
        expected_total += turn["assistant_message"]["usage"]["total_tokens"]
            .as_u64()
            .expect("the mock reports usage");
    }
    app.mock
        .push(MockReply::Fail(convo_core::LlmError::Unavailable {
            message: "overloaded".into(),
            retry_after: None,
        }));
    assert_eq!(
        app.send_message(&app.client, b.session_id(), "four")
            .await
            .status(),
        503
    );

    // Act
    let by_day = json_with_status(app.get(&app.client, "/api/usage").await, 200).await;
    let by_project = json_with_status(
        app.get(&app.client, "/api/usage?group_by=project").await,
        200,
    )
    .await;
    let by_agent =
        json_with_status(app.get(&app.client, "/api/usage?group_by=agent").await, 200).await;

    // Assert
    assert_eq!(by_day["object"], "usage");
    assert_eq!(by_day["group_by"], "day");
    let day = convo_core::store::day_of(convo_core::now());
    assert_eq!(by_day["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_day["data"][0]["key"], day.as_str());
    assert_eq!(by_day["total"]["total_tokens"], expected_total);
    assert_eq!(by_day["total"]["turns"], 4);
    assert_eq!(by_day["total"]["failures"], 1);
    let keys = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|g| g["key"].as_str().map(str::to_owned))
            .collect()
    };
    let mut projects = vec![a.project_id().to_owned(), b.project_id().to_owned()];
    projects.sort();
    assert_eq!(keys(&by_project), projects);
    let group = |v: &Value, key: &str| -> Value {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|g| g["key"] == key)
            .cloned()
            .expect("group")
    };
    assert_eq!(group(&by_agent, a.agent_id())["turns"], 2);
    assert_eq!(group(&by_agent, b.agent_id())["turns"], 2);
    assert_eq!(group(&by_agent, b.agent_id())["failures"], 1);

    // Another user sees none of it; an empty window is empty.
    let other = app.other_user().await;
    let theirs = crate::helpers::new_client()
        .get(app.url("/api/usage"))
        .bearer_auth(&other.token)
        .send()
        .await
        .expect("request");
    let theirs = json_with_status(theirs, 200).await;
    assert_eq!(theirs["data"], json!([]));
    assert_eq!(theirs["total"]["turns"], 0);
    let past = json_with_status(
        app.get(
            &app.client,
            "/api/usage?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(past["data"], json!([]));
}

#[tokio::test]
async fn bad_usage_queries_are_4xx() {
    let app = spawn_app().await;
    app.sign_up().await;
    let resp = app.get(&app.client, "/api/usage?group_by=week").await;
    assert_error(resp, 400, "invalid_request").await;
    let resp = app.get(&app.client, "/api/usage?from=yesterday").await;
    assert_error(resp, 400, "invalid_request").await;
    let resp = app
        .get(
            &app.client,
            "/api/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        )
        .await;
    let error = assert_error(resp, 422, "validation_failed").await;
    assert_eq!(error["param"], "from");
    let anonymous = app.get(&crate::helpers::new_client(), "/api/usage").await;
    assert_error(anonymous, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_spent_budget_is_429_quota_exceeded_with_retry_after_and_stores_nothing() {
    let app = spawn_app_with(MockProvider::new(), |config| {
        config.monthly_token_budget = 1;
    })
    .await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "one")
            .await
            .status(),
        201
    );

    let refused = app.send_message(&app.client, fx.session_id(), "two").await;

    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    let (_, reset) = convo_core::month_of(convo_core::now());
    let until_reset = (reset - convo_core::now()).num_seconds().max(0) as u64;
    assert!(
        retry_after.abs_diff(until_reset) <= 5,
        "{retry_after} vs {until_reset}"
    );
    let error = assert_error(refused, 429, "quota_exceeded").await;
    assert_eq!(error["retryable"], true);
    assert_eq!(
        app.history(&app.client, fx.session_id()).await.len(),
        2,
        "nothing stored"
    );
    let stream = app
        .stream_message(&app.client, fx.session_id(), "three")
        .await;
    assert_error(stream, 429, "quota_exceeded").await;
}

#[tokio::test]
async fn too_many_turns_at_once_is_429_rate_limited() {
    let mock = MockProvider::new()
        .with_chunks(5)
        .with_chunk_delay(Duration::from_millis(100));
    let app = spawn_app_with(mock, |config| {
        config.max_concurrent_turns = 1;
    })
    .await;
    app.sign_up().await;
    let first = app.fixture(&app.client).await;
    let second = app.fixture(&app.client).await;
    let slow = app
        .stream_message(&app.client, first.session_id(), "slow")
        .await;
    assert_eq!(slow.status(), 200);

    let refused = app
        .send_message(&app.client, second.session_id(), "meanwhile")
        .await;

    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429, "rate_limited").await;
    let _ = slow.text().await;
    assert_eq!(
        app.send_message(&app.client, second.session_id(), "now")
            .await
            .status(),
        201
    );
}
