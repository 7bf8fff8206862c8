//! `GET /metrics`: Prometheus text, labelled by route template, on the API
//! listener or on one of its own.

use convo_core::llm::MockProvider;

use crate::helpers::{new_client, spawn_app, spawn_app_with};

/// The value of the first sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_turns_store_operations_and_streams() {
    // Arrange: some traffic.
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    for _ in 0..3 {
        assert_eq!(app.get(&app.client, "/api/projects").await.status(), 200);
    }
    assert_eq!(
        app.send_message(&app.client, fx.session_id(), "hi")
            .await
            .status(),
        201
    );
    let streamed = app
        .stream_message(&app.client, fx.session_id(), "there")
        .await;
    let _ = streamed.text().await;
    let missing = format!("/api/chat/{}/messages", uuid::Uuid::now_v7());
    assert_eq!(app.get(&app.client, &missing).await.status(), 404);

    // Act
    let resp = new_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");

    // Assert
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.expect("text");
    let projects = sample(
        &text,
        r#"convo_http_requests_total{route="/api/projects",method="GET",status="200"}"#,
    );
    assert!(projects.is_some_and(|n| n >= 3.0), "{text}");
    assert!(
        text.contains(r#"route="/api/chat/{chat_session_id}/messages",method="GET",status="404""#),
        "ids are folded into the route template"
    );
    assert!(!text.contains(fx.session_id()), "no raw ids in labels");
    assert!(text.contains("convo_http_request_duration_seconds_bucket"));
    assert_eq!(
        sample(
            &text,
            r#"convo_llm_calls_total{provider="mock",outcome="ok"}"#
        ),
        Some(2.0),
        "one plain and one streamed turn"
    );
    assert!(sample(
        &text,
        r#"convo_llm_tokens_total{provider="mock",kind="completion"}"#
    )
    .is_some_and(|n| n > 0.0));
    assert!(text.contains(r#"convo_store_operation_duration_seconds_count{op="append_message"}"#));
    assert_eq!(
        sample(&text, "convo_sse_streams_open"),
        Some(0.0),
        "the stream closed"
    );
}

/// Store operations so far, summed over every `op` (one sample per call).
async fn store_operations(app: &crate::helpers::TestApp) -> f64 {
    let text = new_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with("convo_store_operation_duration_seconds_count{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The store calls a request makes are the database's work on MongoDB,
/// where it is the bottleneck: a page of projects is the list alone; a page
/// of messages checks its owner in its own read, and a page that can no
/// longer change (full, with more messages after it) is kept, so asked
/// again it makes no call while the feed is healthy; a plain turn takes the
/// lock with the session, appends the user message, reads its window, and
/// stores the reply with the release and its usage entry. Authentication and the agent come from memory
/// while the store's change feed is healthy (the memory store's always is;
/// MongoDB's once its change streams are open); a store without a feed asks
/// for them every time: one call more per request, two per turn. SQLite's
/// feed keeps them only until the next commit to the file, so there the
/// first read after a write authenticates again (the same read made twice
/// is one call the second time) and a turn, whose lock is a commit, reads
/// its agent.
#[tokio::test]
async fn reads_and_a_turn_make_the_fewest_store_calls() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let messages = format!("/api/chat/{}/messages", fx.session_id());
    let older = format!("{messages}?limit=2");
    let has_feed = app.store.changes().is_some();
    if let Some(feed) = app.store.changes() {
        let started = std::time::Instant::now();
        while !feed.is_healthy() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the store's change feed never became healthy"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // Two turns to warm up: the fixture's own writes reach the change feed
    // a few milliseconds late, and an answer read while a change arrives is
    // not kept (it may be stale), so the first turn may keep nothing.
    for warm_up in ["warm up", "warm up again"] {
        assert_eq!(
            app.send_message(&app.client, fx.session_id(), warm_up)
                .await
                .status(),
            201
        );
    }
    let kept = if has_feed { 0.0 } else { 1.0 };
    let until_a_commit = matches!(
        std::env::var("CONVO_TEST_API_STORE").as_deref(),
        Ok("sqlite")
    );
    let after_a_write = if until_a_commit { 1.0 } else { 0.0 };
    let cases: [(&str, f64); 6] = [
        ("GET projects", 1.0 + kept + after_a_write),
        ("GET projects again", 1.0 + kept),
        ("GET messages", 1.0 + kept),
        ("GET an older page", 1.0 + kept),
        ("GET the older page again", 2.0 * kept),
        ("POST message", 4.0 + 2.0 * kept + after_a_write),
    ];

    for (case, most) in cases {
        // Act
        let before = store_operations(&app).await;
        let status = match case {
            "GET projects" | "GET projects again" => {
                app.get(&app.client, "/api/projects").await.status()
            }
            "GET messages" => app.get(&app.client, &messages).await.status(),
            "GET an older page" | "GET the older page again" => {
                app.get(&app.client, &older).await.status()
            }
            _ => app
                .send_message(&app.client, fx.session_id(), "hi")
                .await
                .status(),
        };
        let made = store_operations(&app).await - before;

        // Assert
        assert!(status.is_success(), "{case}: {status}");
        assert!(
            made <= most,
            "{case}: {made} store calls, at most {most} expected"
        );
    }
}

#[tokio::test]
async fn a_metrics_listener_of_its_own_takes_metrics_off_the_api() {
    let app = spawn_app_with(MockProvider::new(), |config| {
        config.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    assert_eq!(app.get(&app.client, "/healthz").await.status(), 200);

    let on_api = new_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request");
    let own = app.metrics_address.clone().expect("a metrics address");
    let on_own = new_client()
        .get(format!("{own}/metrics"))
        .send()
        .await
        .expect("request");

    assert_eq!(on_api.status(), 404, "not on the public listener");
    assert_eq!(on_own.status(), 200);
    let text = on_own.text().await.expect("text");
    assert!(
        text.contains(r#"convo_http_requests_total{route="/healthz""#),
        "{text}"
    );
}

#[tokio::test]
async fn the_engines_log_lines_carry_the_request_id() {
    // Arrange: a log capture (see `LogCapture::install`).
    let captured = crate::log_capture::LogCapture::install();
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    app.mock.push(convo_core::llm::MockReply::Fail(
        convo_core::LlmError::Timeout,
    ));

    // Act: a turn that fails, logged by the engine from the turn's own task.
    let resp = app.send_message(&app.client, fx.session_id(), "hi").await;

    // Assert
    assert_eq!(resp.status(), 504);
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_owned();
    let Some(captured) = captured else {
        eprintln!("another subscriber owns this process: nothing to check");
        return;
    };
    let logs = captured.text();
    let line = logs
        .lines()
        .find(|l| l.contains("turn failed"))
        .unwrap_or_else(|| panic!("the engine logged the failure: {logs}"));
    assert!(line.contains(&request_id), "{line}");
}

/// The label sets of the HTTP metrics in a `/metrics` text: one line per
/// counter series and one per histogram (its `_count` line standing for its
/// buckets), without the values.
fn http_series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| {
            l.starts_with("convo_http_requests_total{")
                || l.starts_with("convo_http_request_duration_seconds_count{")
        })
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

#[tokio::test]
async fn invented_methods_and_unknown_paths_add_a_handful_of_series_at_most() {
    use futures::StreamExt;

    // Arrange
    let app = spawn_app().await;
    let client = new_client();
    let scrape = || async {
        let resp = new_client()
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        resp.text().await.expect("text")
    };
    let before = http_series(&scrape().await);

    // Act: 10,000 requests, each with a random method token and a random
    // path, on known routes and unknown ones.
    let answered = futures::stream::iter(0..10_000)
        .map(|i| {
            let client = client.clone();
            let random = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
            let method = reqwest::Method::from_bytes(format!("ZZ{}", &random[..10]).as_bytes())
                .expect("a method token");
            let path = match i % 3 {
                0 => format!("/zz-unknown/{random}"),
                1 => "/healthz".to_owned(),
                _ => format!("/api/chat/{}/messages", uuid::Uuid::new_v4()),
            };
            let method = if i % 4 == 0 {
                reqwest::Method::GET
            } else {
                method
            };
            let url = app.url(&path);
            async move { client.request(method, url).send().await.is_ok() }
        })
        .buffer_unordered(16)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;

    // Assert
    assert_eq!(answered, 10_000, "every request was answered");
    let text = scrape().await;
    let after = http_series(&text);
    let added: Vec<&String> = after.difference(&before).collect();
    // Under cargo-nextest (scripts/test.sh) this test has the process to
    // itself; the bound leaves room for `cargo test`'s neighbours.
    assert!(added.len() <= 16, "{} new series: {added:#?}", added.len());
    assert!(
        !text.to_lowercase().contains("zz"),
        "no invented method or path reached a label"
    );
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(text.contains(r#"route="other""#), "{text}");
}
