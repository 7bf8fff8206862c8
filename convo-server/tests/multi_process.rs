//! Several `convo-server` processes on one MongoDB database, or on one
//! SQLite file, behave as one; data survives restarts; a database outage is
//! a 503, then service resumes.
//!
//! The MongoDB tests need `CONVO_TEST_MONGODB_URI` (and
//! `CONVO_TEST_SECANTUS_BIN` for the outage test); `scripts/test.sh` sets
//! both. Under CI, missing ones fail. The SQLite tests need nothing.

mod common;

use std::time::Duration;

use common::fixture::PASSWORD;
use common::{
    get, mongo_uri, new_client, post, session_for_new_user, with_database, MongoProcess, Server,
    TempDir, SECRET,
};
use serde_json::{json, Value};

fn fresh_db() -> String {
    format!("convo_mp_{}", uuid::Uuid::now_v7().simple())
}

fn env<'a>(uri: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    [&[("CONVO_STORE", uri), ("CONVO_JWT_SECRET", SECRET)], extra].concat()
}

#[tokio::test]
async fn users_and_revocations_are_shared_between_servers() {
    let Some(uri) = mongo_uri(&fresh_db()) else {
        return;
    };
    let (a, b) = (
        Server::start(&env(&uri, &[])),
        Server::start(&env(&uri, &[])),
    );
    token_revoked_on_a_is_refused_on_b(&a, &b).await;
}

/// On SQLite each server keeps authentication answers while nothing is
/// committed to the file: a logout on A is a commit, so B, which had the
/// token's answer in memory, refuses it on its next request.
#[tokio::test]
async fn users_and_revocations_are_shared_between_servers_on_one_sqlite_file() {
    let dir = TempDir::new("mp-sqlite-tokens");
    let uri = dir.sqlite_uri("convo.db");
    let (a, b) = (
        Server::start(&env(&uri, &[])),
        Server::start(&env(&uri, &[])),
    );
    token_revoked_on_a_is_refused_on_b(&a, &b).await;
}

/// A user registered on A logs in on B; A's token works on B until it is
/// revoked (a logout on A); B's next request with it is refused.
async fn token_revoked_on_a_is_refused_on_b(a: &Server, b: &Server) {
    let on_a = new_client();
    let (status, _) = post(
        &on_a,
        a.url("/api/auth/register"),
        json!({"email": "x@example.com", "password": "password123"}),
    )
    .await;
    assert_eq!(status, 201);

    let on_b = new_client();
    let (status, body) = post(
        &on_b,
        b.url("/api/auth/login"),
        json!({"email": "X@example.com", "password": "password123"}),
    )
    .await;
    assert_eq!(status, 200, "a user registered on A logs in on B: {body}");

    let (_, token) = post(
        &on_a,
        a.url("/api/auth/token"),
        json!({"email": "x@example.com", "password": "password123"}),
    )
    .await;
    let token = token["access_token"].as_str().expect("token").to_owned();
    let bearer =
        |server: &Server, path: &str| new_client().get(server.url(path)).bearer_auth(&token);
    assert_eq!(
        bearer(b, "/api/auth/me").send().await.expect("me").status(),
        200,
        "A's token works on B"
    );
    let logout = new_client()
        .post(a.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let refused = bearer(b, "/api/auth/me").send().await.expect("me");
    assert_eq!(
        refused.status(),
        401,
        "a token revoked on A is refused on B"
    );
}

#[tokio::test]
async fn a_project_key_revoked_on_one_server_is_refused_by_another() {
    let Some(uri) = mongo_uri(&fresh_db()) else {
        return;
    };
    let (a, b) = (
        Server::start(&env(&uri, &[])),
        Server::start(&env(&uri, &[])),
    );
    key_revoked_on_a_is_refused_on_b(&a, &b).await;
}

#[tokio::test]
async fn a_project_key_revoked_on_one_server_is_refused_by_another_on_one_sqlite_file() {
    let dir = TempDir::new("mp-sqlite-keys");
    let uri = dir.sqlite_uri("convo.db");
    let env = [("CONVO_STORE", uri.as_str())];
    let (a, b) = (Server::start(&env), Server::start(&env));
    key_revoked_on_a_is_refused_on_b(&a, &b).await;
}

/// A key made on A works on B until it is revoked on A; B's next request
/// with it is refused.
async fn key_revoked_on_a_is_refused_on_b(a: &Server, b: &Server) {
    let owner = new_client();
    let (status, _) = post(
        &owner,
        a.url("/api/auth/register"),
        json!({"email": "keys@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, project) = post(&owner, a.url("/api/projects"), json!({"name": "P"})).await;
    let project = project["id"].as_str().expect("project id").to_owned();
    let (status, key) = post(
        &owner,
        a.url(&format!("/api/projects/{project}/keys")),
        json!({"name": "backend", "scope": "admin"}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let secret = key["key"].as_str().expect("secret").to_owned();
    let on_b = |secret: &str| {
        new_client()
            .get(b.url(&format!("/api/projects/{project}")))
            .bearer_auth(secret)
            .send()
    };
    assert_eq!(
        on_b(&secret).await.expect("get").status(),
        200,
        "A's key works on B"
    );
    let revoke = owner
        .delete(a.url(&format!(
            "/api/projects/{project}/keys/{}",
            key["id"].as_str().expect("key id")
        )))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), 204);
    assert_eq!(
        on_b(&secret).await.expect("get").status(),
        401,
        "a key revoked on A is refused on B"
    );
}

/// The mock's delay before a reply, so that concurrent sends overlap.
const SLOW: [(&str, &str); 1] = [("CONVO_MOCK_LATENCY_MS", "400")];

#[tokio::test]
async fn concurrent_sends_to_one_session_across_two_servers_take_turns() {
    let Some(uri) = mongo_uri(&fresh_db()) else {
        return;
    };
    let (a, b) = (
        Server::start(&env(&uri, &SLOW)),
        Server::start(&env(&uri, &SLOW)),
    );
    two_servers_take_turns(&a, &b).await;
}

#[tokio::test]
async fn concurrent_sends_to_one_session_across_two_servers_on_one_sqlite_file_take_turns() {
    // No CONVO_JWT_SECRET: both read the secret kept beside the file, so a
    // login on one is valid on the other.
    let dir = TempDir::new("mp-sqlite-turns");
    let uri = dir.sqlite_uri("convo.db");
    let env = [&[("CONVO_STORE", uri.as_str())], &SLOW[..]].concat();
    let (a, b) = (Server::start(&env), Server::start(&env));
    two_servers_take_turns(&a, &b).await;
}

#[tokio::test]
async fn a_turn_running_on_one_server_is_a_409_on_another_on_one_sqlite_file() {
    // A streamed reply of 20 chunks, 200 ms apart: long enough to send to
    // the other server while it runs.
    let dir = TempDir::new("mp-sqlite-lock");
    let uri = dir.sqlite_uri("convo.db");
    let env = [
        ("CONVO_STORE", uri.as_str()),
        ("CONVO_MOCK_CHUNKS", "20"),
        ("CONVO_MOCK_CHUNK_DELAY_MS", "200"),
    ];
    let (a, b) = (Server::start(&env), Server::start(&env));
    let c = new_client();
    let session = session_for_new_user(&c, &a, "lock@example.com").await;
    let stream = c
        .post(a.url(&format!("/api/chat/{session}/message/stream")))
        .json(&json!({"content": "a long answer, please, in many little pieces"}))
        .send()
        .await
        .expect("stream on A");
    assert_eq!(stream.status(), 200);
    let mut body = stream.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: message.delta") {
        use futures::StreamExt;
        let chunk = body.next().await.expect("more events").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // A's turn is under way: B sees its lock in the shared file.
    let (status, refused) = post(
        &c,
        b.url(&format!("/api/chat/{session}/message")),
        json!({"content": "me too"}),
    )
    .await;
    {
        use futures::StreamExt;
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("bytes")));
        }
    }

    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("turn_in_progress")),
        "{refused}"
    );
    assert!(seen.contains("event: message.completed"), "{seen}");
    let (status, _) = post(
        &c,
        b.url(&format!("/api/chat/{session}/message")),
        json!({"content": "now"}),
    )
    .await;
    assert_eq!(status, 201, "free again once A's turn ended");
    let (_, history) = get(&c, a.url(&format!("/api/chat/{session}/messages"))).await;
    let seqs: Vec<u64> = history["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4], "the refused send stored nothing");
}

/// Twenty sends to one session, alternating between `a` and `b` (on one
/// store), all at once: each is a turn or a 409, and the history is
/// contiguous pairs.
async fn two_servers_take_turns(a: &Server, b: &Server) {
    let c = new_client();
    let session = session_for_new_user(&c, a, "turns@example.com").await;

    let sends = (0..20).map(|i| {
        let server = if i % 2 == 0 { a } else { b };
        post(
            &c,
            server.url(&format!("/api/chat/{session}/message")),
            json!({"content": format!("message {i}")}),
        )
    });
    let results = futures::future::join_all(sends).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    for (status, body) in &results {
        assert!(
            *status == 201 || (*status == 409 && body["error"]["code"] == "turn_in_progress"),
            "every send is a turn or a 409 turn_in_progress: {status} {body}"
        );
    }
    assert!(created >= 1, "at least one turn ran");
    assert!(created < 20, "the turns were not all let through at once");

    let (_, history) = get(
        &c,
        a.url(&format!("/api/chat/{session}/messages?limit=100")),
    )
    .await;
    let messages = history["data"].as_array().expect("messages");
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=2 * created as u64).collect::<Vec<_>>(),
        "one user and one assistant message per 201, contiguous"
    );
    for pair in messages.chunks(2) {
        assert_eq!(
            (pair[0]["role"].as_str(), pair[1]["role"].as_str()),
            (Some("user"), Some("assistant"))
        );
        assert_eq!(
            pair[1]["context"]["last_seq"], pair[0]["seq"],
            "each reply answers the message right before it"
        );
    }
}

#[tokio::test]
async fn data_written_before_a_restart_is_there_after_it() {
    let Some(uri) = mongo_uri(&fresh_db()) else {
        return;
    };
    let c = new_client();
    let session = {
        let server = Server::start(&env(&uri, &[]));
        let session = session_for_new_user(&c, &server, "restart@example.com").await;
        let (status, _) = post(
            &c,
            server.url(&format!("/api/chat/{session}/message")),
            json!({"content": "remember me"}),
        )
        .await;
        assert_eq!(status, 201);
        server.terminate();
        session
    };
    let server = Server::start(&env(&uri, &[]));
    let again = new_client();
    let (status, _) = post(
        &again,
        server.url("/api/auth/login"),
        json!({"email": "restart@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "the user is still registered");
    let (status, history) = get(&again, server.url(&format!("/api/chat/{session}/messages"))).await;
    assert_eq!(status, 200);
    let contents: Vec<&str> = history["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, vec!["remember me", "echo: remember me"]);
}

#[tokio::test]
async fn a_database_outage_is_a_503_and_service_resumes_when_it_returns() {
    let Some(binary) = MongoProcess::binary() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("convo-outage-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut mongo = MongoProcess::start(&binary, 0, &dir);
    let base = format!("mongodb://127.0.0.1:{}/?directConnection=true&serverSelectionTimeoutMS=1000&w=majority&journal=true", mongo.port);
    let uri = with_database(&base, "convo_outage");
    let server = Server::start(&env(&uri, &[]));
    let c = new_client();
    let session = session_for_new_user(&c, &server, "outage@example.com").await;
    let (status, _) = post(
        &c,
        server.url(&format!("/api/chat/{session}/message")),
        json!({"content": "before"}),
    )
    .await;
    assert_eq!(status, 201);

    mongo.kill();
    let (status, body) = get(&c, server.url("/api/projects")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    assert_eq!(body["error"]["retryable"], Value::Bool(true));
    let (status, _) = post(
        &c,
        server.url(&format!("/api/chat/{session}/message")),
        json!({"content": "during"}),
    )
    .await;
    assert_eq!(status, 503, "a send during the outage");
    let (status, _) = get(&c, server.url("/readyz")).await;
    assert_eq!(status, 503, "not ready while the database is down");
    let (status, _) = get(&c, server.url("/healthz")).await;
    assert_eq!(status, 200, "but alive");

    mongo.restart(&binary);
    let mut ready = false;
    for _ in 0..50 {
        if get(&c, server.url("/readyz")).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "ready again without a restart of the server");
    let (status, body) = post(
        &c,
        server.url(&format!("/api/chat/{session}/message")),
        json!({"content": "after"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, history) = get(&c, server.url(&format!("/api/chat/{session}/messages"))).await;
    let contents: Vec<&str> = history["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        vec!["before", "echo: before", "after", "echo: after"],
        "nothing written before the outage was lost"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_cancel_sent_to_one_server_stops_the_turn_running_on_another() {
    let Some(uri) = mongo_uri(&fresh_db()) else {
        return;
    };
    // A slow streamed reply: 20 chunks, 200 ms apart.
    let slow = [
        ("CONVO_MOCK_CHUNKS", "20"),
        ("CONVO_MOCK_CHUNK_DELAY_MS", "200"),
    ];
    let (a, b) = (
        Server::start(&env(&uri, &slow)),
        Server::start(&env(&uri, &slow)),
    );
    let c = new_client();
    let session = session_for_new_user(&c, &a, "cancel@example.com").await;
    let content = "a long story about two servers, please, with many words in it";
    let stream = c
        .post(a.url(&format!("/api/chat/{session}/message/stream")))
        .json(&json!({ "content": content }))
        .send()
        .await
        .expect("stream on A");
    assert_eq!(stream.status(), 200);
    let mut body = stream.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: message.delta") {
        use futures::StreamExt;
        let chunk = body.next().await.expect("more events").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let started = std::time::Instant::now();
    let cancel = c
        .post(b.url(&format!("/api/chat/{session}/cancel")))
        .send()
        .await
        .expect("cancel on B");
    assert_eq!(cancel.status(), 204);
    {
        use futures::StreamExt;
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("bytes")));
        }
    }

    // A's stream ended with the cancelled message, well before the model's
    // 4 s, within the poll interval (0.5 s) plus slack.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
    let completed = seen
        .split("\n\n")
        .find(|e| e.contains("event: message.completed"))
        .expect("a final message.completed");
    assert!(
        completed.contains(r#""finish_reason":"cancelled""#),
        "{completed}"
    );
    let (_, history) = get(&c, b.url(&format!("/api/chat/{session}/messages"))).await;
    let reply = &history["data"][1];
    assert_eq!(
        reply["finish_reason"], "cancelled",
        "stored, seen from B: {history}"
    );
    let text = reply["content"].as_str().unwrap_or_default();
    assert!(
        text.len() < format!("echo: {content}").len(),
        "partial: {text:?}"
    );
    let (status, _) = post(
        &c,
        b.url(&format!("/api/chat/{session}/message")),
        json!({"content": "next"}),
    )
    .await;
    assert_eq!(status, 201, "the session is free again");
}
