//! `POST /api/chat/{id}/message/stream`: server-sent events, failures before
//! and during the stream, client disconnects and keep-alive comments.

use std::time::{Duration, Instant};

use convo::core::llm::MockReply;
use convo::core::{LlmError, MockProvider};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, json_with_status, names, parse_sse, plain_client, spawn_app, spawn_app_with,
    SseEvent,
};

fn content_type(resp: &reqwest::Response) -> String {
    let value = resp.headers().get(reqwest::header::CONTENT_TYPE);
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Every event's `id` is its position and its data's `sequence_number`, and
/// its data's `type` is its name.
fn assert_numbered(events: &[SseEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.id.as_deref(),
            Some(i.to_string().as_str()),
            "id of event {i}: {e:?}"
        );
        assert_eq!(
            e.data["sequence_number"], i,
            "sequence_number of event {i}: {e:?}"
        );
        assert_eq!(
            e.data["type"].as_str(),
            e.event.as_deref(),
            "type of event {i}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_streamed_reply_arrives_as_created_then_deltas_then_completed() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;

    // Act
    let resp = app
        .stream_message(&app.client, fx.session_id(), "tell me something")
        .await;

    // Assert
    assert_eq!(resp.status(), 200);
    assert!(
        content_type(&resp).starts_with("text/event-stream"),
        "{}",
        content_type(&resp)
    );
    let events = parse_sse(&resp.text().await.expect("body"));
    assert_numbered(&events);
    let (first, last) = (&events[0], &events[events.len() - 1]);
    let deltas = &events[1..events.len() - 1];
    assert_eq!(first.event.as_deref(), Some("message.created"));
    assert!(
        deltas.len() >= 2,
        "the mock streams several chunks: {:?}",
        names(&events)
    );
    assert!(
        deltas
            .iter()
            .all(|e| e.event.as_deref() == Some("message.delta")),
        "{:?}",
        names(&events)
    );
    assert_eq!(last.event.as_deref(), Some("message.completed"));
    let user = &first.data["user_message"];
    assert_eq!(
        (user["seq"].clone(), user["role"].clone()),
        (json!(1), json!("user"))
    );
    assert_eq!(user["content"], "tell me something");
    let assistant_id = &first.data["assistant_message_id"];
    assert!(
        deltas.iter().all(|d| &d.data["message_id"] == assistant_id),
        "deltas name the reply"
    );
    let text: String = deltas
        .iter()
        .filter_map(|d| d.data["delta"].as_str())
        .collect();
    let message = &last.data["message"];
    assert_eq!(text, "echo: tell me something");
    assert_eq!(message["content"], text.as_str());
    assert_eq!(&message["id"], assistant_id);
    assert_eq!(message["finish_reason"], "stop");
    assert!(
        message["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|t| t > 0),
        "usage: {message}"
    );
    let history = app.history(&app.client, fx.session_id()).await;
    assert_eq!(
        history,
        [user.clone(), message.clone()],
        "the stored messages are the streamed ones"
    );
}

#[tokio::test]
async fn failures_before_the_stream_opens_are_ordinary_json_errors() {
    // Arrange
    let mock = MockProvider::new().with_latency(Duration::from_millis(600));
    let app = spawn_app_with(mock, |_| {}).await;
    let owner = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let busy = app.fixture(&app.client).await;
    let stranger = app.other_user().await;
    let holder = {
        let (client, address, session) = (
            owner.client.clone(),
            app.address.clone(),
            busy.session_id().to_owned(),
        );
        tokio::spawn(async move {
            let url = format!("{address}/api/chat/{session}/message");
            client
                .post(url)
                .json(&json!({"content": "slow"}))
                .send()
                .await
                .map(|r| r.status())
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let cases = [
        (
            &stranger.client,
            fx.session_id(),
            "hi",
            404,
            "not_found",
            "someone else's session",
        ),
        (
            &app.client,
            fx.session_id(),
            "",
            422,
            "validation_failed",
            "empty content",
        ),
        (
            &app.client,
            busy.session_id(),
            "hi",
            409,
            "turn_in_progress",
            "a turn in progress",
        ),
        (
            &plain_client(),
            fx.session_id(),
            "hi",
            401,
            "unauthenticated",
            "no credentials",
        ),
    ];

    for (client, session, content, status, code, case) in cases {
        // Act
        let resp = app.stream_message(client, session, content).await;

        // Assert
        assert_eq!(resp.status(), status, "{case}");
        assert!(
            content_type(&resp).starts_with("application/json"),
            "{case}: {}",
            content_type(&resp)
        );
        assert_error(resp, status, code).await;
    }
    assert_eq!(
        holder.await.expect("task").expect("send").as_u16(),
        201,
        "the slow turn itself succeeds"
    );
    assert!(
        app.history(&app.client, fx.session_id()).await.is_empty(),
        "nothing stored by refused streams"
    );
}

#[tokio::test]
async fn a_model_failure_ends_the_stream_with_an_error_event_and_stores_no_reply() {
    let app = spawn_app().await;
    app.sign_up().await;
    let unavailable = LlmError::Unavailable {
        message: "overloaded".into(),
        retry_after: None,
    };
    let cases = [
        (
            MockReply::FailMidStream {
                chunks: 2,
                error: unavailable,
            },
            2,
            "llm_unavailable",
            true,
        ),
        (
            MockReply::Fail(LlmError::Blocked("SAFETY".into())),
            0,
            "llm_blocked",
            false,
        ),
    ];
    for (reply, deltas, code, retryable) in cases {
        // Arrange
        let case = format!("{reply:?}");
        let fx = app.fixture(&app.client).await;
        app.mock.push(reply);

        // Act
        let resp = app
            .stream_message(&app.client, fx.session_id(), "a long enough question")
            .await;

        // Assert
        assert_eq!(resp.status(), 200, "{case}: the stream had opened");
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let events = parse_sse(&resp.text().await.expect("body"));
        assert_numbered(&events);
        let mut expected = vec!["message.created"];
        expected.extend(std::iter::repeat_n("message.delta", deltas));
        expected.push("error");
        assert_eq!(names(&events), expected, "{case}");
        let error = &events[events.len() - 1].data["error"];
        assert_eq!(error["code"], code, "{case}");
        assert_eq!(error["retryable"], retryable, "{case}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
        assert_eq!(error["param"], Value::Null, "{case}");
        assert_eq!(
            error["request_id"].as_str(),
            request_id.as_deref(),
            "{case}: the request's id"
        );
        let history = app.history(&app.client, fx.session_id()).await;
        let roles: Vec<&Value> = history.iter().map(|m| &m["role"]).collect();
        assert_eq!(
            roles,
            [&json!("user")],
            "{case}: no assistant message stored"
        );
        let next = app
            .stream_message(&app.client, fx.session_id(), "again")
            .await;
        let next = parse_sse(&next.text().await.expect("body"));
        assert_eq!(
            names(&next).last(),
            Some(&"message.completed"),
            "{case}: the next turn works"
        );
    }
}

#[tokio::test]
async fn a_client_that_disconnects_leaves_a_cancelled_partial_reply() {
    // Arrange
    let mock = MockProvider::new()
        .with_chunks(20)
        .with_chunk_delay(Duration::from_millis(100));
    let app = spawn_app_with(mock, |_| {}).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let content = "please tell me a rather long story about streams";
    let full = format!("echo: {content}");
    let resp = app
        .stream_message(&app.client, fx.session_id(), content)
        .await;
    assert_eq!(resp.status(), 200);

    // Act
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: message.delta") {
        let chunk = body.next().await.expect("more events").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(body);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Assert
    let started = Instant::now();
    let reply = loop {
        let history = app.history(&app.client, fx.session_id()).await;
        if let Some(reply) = history.iter().find(|m| m["role"] == "assistant") {
            break reply.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no assistant message stored: {history:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(reply["finish_reason"], "cancelled", "{reply}");
    let text = reply["content"].as_str().expect("content");
    assert!(
        !text.is_empty() && text.len() < full.len() && full.starts_with(text),
        "a proper prefix: {text:?}"
    );
    let next = app
        .send_message(&app.client, fx.session_id(), "still there?")
        .await;
    assert_eq!(next.status(), 201, "the turn lock was released");
}

#[tokio::test]
async fn keep_alive_comments_are_sent_while_the_model_is_silent() {
    // Arrange
    let mock = MockProvider::new().with_latency(Duration::from_millis(2500));
    let app = spawn_app_with(mock, |c| c.sse_keep_alive_secs = 1).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;

    // Act
    let resp = app
        .stream_message(&app.client, fx.session_id(), "take your time")
        .await;
    let body = resp.text().await.expect("body");

    // Assert
    let lines: Vec<&str> = body.lines().collect();
    let comment = lines.iter().position(|l| l.starts_with(':'));
    let delta = lines.iter().position(|l| *l == "event: message.delta");
    assert!(
        comment.is_some() && delta.is_some() && comment < delta,
        "a comment before the first delta:\n{body}"
    );
    let events = parse_sse(&body);
    assert_numbered(&events);
    assert_eq!(
        names(&events).last(),
        Some(&"message.completed"),
        "comments do not disturb the events"
    );
}

#[tokio::test]
async fn streaming_with_a_used_idempotency_key_replays_the_first_result() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let url = app.url(&format!("/api/chat/{}/message", fx.session_id()));
    let first = app
        .client
        .post(&url)
        .header("Idempotency-Key", "k")
        .json(&json!({"content": "hi"}))
        .send()
        .await;
    let first = json_with_status(first.expect("sent"), 201).await;

    // Act
    let stream_url = format!("{url}/stream");
    let resp = app
        .client
        .post(stream_url)
        .header("Idempotency-Key", "k")
        .json(&json!({"content": "hi"}))
        .send()
        .await;
    let events = parse_sse(&resp.expect("sent").text().await.expect("body"));

    // Assert
    assert_numbered(&events);
    assert_eq!(
        names(&events),
        ["message.created", "message.delta", "message.completed"]
    );
    assert_eq!(events[0].data["user_message"], first["user_message"]);
    assert_eq!(events[2].data["message"], first["assistant_message"]);
    assert_eq!(app.mock.request_count(), 1, "no second model call");
    assert_eq!(app.history(&app.client, fx.session_id()).await.len(), 2);
}
