//! A server killed (`kill -9`) while a webhook tool of a turn is in flight,
//! on MongoDB: what the turn stored must be consistent (the user message
//! and the assistant message asking for the call; no tool result without
//! its call; `seq` contiguous), and once the dead server's lease runs out a
//! new server process answers the next message of that session.
//!
//! Needs `CONVO_TEST_MONGODB_URI` (`scripts/test.sh` sets it); under CI a
//! missing one fails. The model is the workspace's fake (`convo-fake`),
//! scripted to call the tool; the webhook is a socket in the test that
//! takes the request and never answers.

mod common;

use std::time::{Duration, Instant};

use common::fixture::{self, PASSWORD};
use common::{get, mongo_uri, new_client, post, Server, SECRET};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A webhook that accepts every request, reports it, and never answers.
async fn blocking_webhook() -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            // The request has arrived once its first bytes are read.
            let _ = socket.read(&mut buf).await;
            let _ = tx.send(()).await;
            held.push(socket);
        }
    });
    (url, rx)
}

/// The session's messages, oldest first.
async fn history(client: &reqwest::Client, server: &Server, session: &str) -> Vec<Value> {
    let url = server.url(&format!("/api/chat/{session}/messages?limit=100"));
    let (status, page) = get(client, url).await;
    assert_eq!(status, 200, "list messages: {page}");
    page["data"].as_array().expect("data").clone()
}

/// `seq` 1..=n, and every tool message answers a call of an assistant
/// message before it.
fn assert_consistent(messages: &[Value]) {
    let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
    let expected: Vec<u64> = (1..=messages.len() as u64).collect();
    assert_eq!(seqs, expected, "seq contiguous: {messages:?}");
    for (i, m) in messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m["role"] == "tool")
    {
        let answered = messages[..i].iter().any(|earlier| {
            earlier["tool_calls"]
                .as_array()
                .is_some_and(|calls| calls.iter().any(|c| c["id"] == m["tool_call_id"]))
        });
        assert!(
            answered,
            "tool message {} has its call: {messages:?}",
            m["seq"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_tool_round_leaves_a_consistent_session_free_after_the_lease() {
    let Some(uri) = mongo_uri(&format!(
        "convo_toolcrash_{}",
        uuid::Uuid::now_v7().simple()
    )) else {
        return;
    };
    // Arrange: the fake model, the webhook, a server on MongoDB with a
    // short lease, a user whose agent has the webhook tool.
    let fake = convo_fake::FakeModel::start(convo_fake::Options::default())
        .await
        .expect("the fake model starts");
    let (hook, mut arrived) = blocking_webhook().await;
    let fake_url = fake.url();
    let env = [
        ("CONVO_STORE", uri.as_str()),
        ("CONVO_JWT_SECRET", SECRET),
        ("GEMINI_API_KEY", "tool-crash-key"),
        ("GEMINI_BASE_URL", fake_url.as_str()),
        ("CONVO_TOOLS_ALLOW_PRIVATE_NETWORKS", "true"),
        // A crashed holder's turn lock is free again after this.
        ("CONVO_TURN_LEASE_SECS", "3"),
    ];
    let mut server = Server::start(&env);
    let client = new_client();
    let email = "tool-crash@example.com";
    fixture::sign_up(&client, &server.base, email).await;
    let agent = json!({"name": "Orders", "system_prompt": "Be brief.", "tools": [{
        "name": "lookup_order", "parameters": {"type": "object"},
        "execution": {"type": "webhook", "url": hook, "timeout_ms": 60000}}]});
    let fx = fixture::fixture(&client, &server.base, &agent).await;
    let session = fx.session_id().to_owned();
    let send_url = server.url(&format!("/api/chat/{session}/message"));
    let calls_the_tool = r#"Where is order 42? [[convo-fake:{"function_calls":[{"name":"lookup_order","args":{"order":42}}]}]]"#;

    // Act: the turn reaches the webhook, and the server dies there.
    let sending = tokio::spawn({
        let client = client.clone();
        async move { post(&client, send_url, json!({"content": calls_the_tool})).await }
    });
    tokio::time::timeout(Duration::from_secs(30), arrived.recv())
        .await
        .expect("the webhook is called within 30 s")
        .expect("the webhook reports");
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();
    let (status, _) = sending.await.expect("the send task");

    // Assert: the send was cut; a new process finds the user message and
    // the call, no result, seq contiguous.
    assert_eq!(status, 0, "the kill cut the send");
    let restarted = Server::start(&env);
    let client = new_client();
    let (status, body) = post(
        &client,
        restarted.url("/api/auth/login"),
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "log in again: {body}");
    let stored = history(&client, &restarted, &session).await;
    assert_consistent(&stored);
    let roles: Vec<&str> = stored.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant"], "{stored:?}");
    assert_eq!(stored[1]["finish_reason"], "tool_calls");
    assert_eq!(stored[1]["tool_calls"][0]["name"], "lookup_order");

    // The session is free once the lease has run out, and the next turn is
    // answered although the dead turn's call never got its result.
    let deadline = Instant::now() + Duration::from_secs(15);
    let next = loop {
        let (status, body) = post(
            &client,
            restarted.url(&format!("/api/chat/{session}/message")),
            json!({"content": "And now?"}),
        )
        .await;
        if status == 201 || Instant::now() > deadline {
            break (status, body);
        }
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("turn_in_progress")),
            "only the dead lease may refuse the send: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        next.0, 201,
        "the session is free after the lease: {}",
        next.1
    );
    let after = history(&client, &restarted, &session).await;
    assert_consistent(&after);
    assert_eq!(after.len(), 4, "{after:?}");
    drop(fake);
}
