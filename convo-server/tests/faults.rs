//! Faults under load: on the MongoDB store, the database killed and
//! restarted while sends run; on MongoDB and on SQLite, the server itself
//! killed (`kill -9`) in the middle of 100 concurrent sends. Nothing
//! acknowledged may be lost, every session must stay consistent, and no turn
//! lock may outlive its lease.
//!
//! The MongoDB tests need `CONVO_TEST_MONGODB_URI` and
//! `CONVO_TEST_SECANTUS_BIN`; `scripts/test.sh` sets both. Under CI, missing
//! ones fail. The SQLite test needs nothing.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixture::PASSWORD;
use common::{
    get, mongo_uri, new_client, post, sessions_for_new_user, with_database, MongoProcess, Server,
    TempDir, SECRET,
};
use serde_json::{json, Value};

/// One send's outcome.
#[derive(Debug, Clone)]
struct Sent {
    session: usize,
    content: String,
    status: u16,
    code: Option<String>,
}

/// Sends messages to one session, one after another, until `stop` is set or
/// the server is gone; returns every outcome.
async fn send_until(
    client: reqwest::Client,
    base: String,
    index: usize,
    session: String,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
) -> Vec<Sent> {
    let mut sent = Vec::new();
    for k in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let content = format!("s{index}-m{k}");
        let (status, body) = post(
            &client,
            format!("{base}/api/chat/{session}/message"),
            json!({"content": content}),
        )
        .await;
        let code = body["error"]["code"].as_str().map(str::to_owned);
        sent.push(Sent {
            session: index,
            content,
            status,
            code,
        });
        match status {
            0 => break, // the server is gone
            201 => {
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            // Not acknowledged: pause a little, as a client would.
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    sent
}

/// Every message of a session, in order.
async fn history(client: &reqwest::Client, server: &Server, session: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = server.url(&format!("/api/chat/{session}/messages?limit=100"));
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let (status, page) = get(client, url).await;
        assert_eq!(status, 200, "list messages: {page}");
        let data = page["data"].as_array().expect("data").clone();
        all.extend(data);
        if page["has_more"] != Value::Bool(true) {
            return all;
        }
        after = page["last_id"].as_str().map(str::to_owned);
    }
}

/// Checks one session's history: seqs 1..=n without gaps, every assistant
/// message right after a user message and answering it (the mock echoes),
/// no content twice, and every acknowledged send there with its reply.
/// Returns the number of messages.
fn check_session(messages: &[Value], acknowledged: &[&Sent], label: &str) -> usize {
    let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
    let expected: Vec<u64> = (1..=messages.len() as u64).collect();
    assert_eq!(seqs, expected, "{label}: seqs are 1..=n without gaps");
    let mut seen = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let content = m["content"].as_str().expect("content");
        assert!(
            seen.insert((m["role"].as_str().expect("role"), content)),
            "{label}: {content:?} stored twice"
        );
        if m["role"] == "assistant" {
            let previous = i.checked_sub(1).map(|p| &messages[p]);
            assert!(
                previous.is_some_and(|p| p["role"] == "user"
                    && m["content"]
                        == format!("echo: {}", p["content"].as_str().unwrap_or_default())),
                "{label}: assistant message {} answers the user message before it",
                m["seq"]
            );
        }
    }
    for ack in acknowledged {
        let position = messages
            .iter()
            .position(|m| m["role"] == "user" && m["content"] == ack.content.as_str());
        let Some(position) = position else {
            panic!("{label}: acknowledged message {:?} is missing", ack.content);
        };
        assert_eq!(
            messages
                .get(position + 1)
                .and_then(|m| m["content"].as_str()),
            Some(format!("echo: {}", ack.content).as_str()),
            "{label}: the acknowledged reply to {:?} is stored",
            ack.content
        );
    }
    messages.len()
}

/// Waits until `GET /readyz` answers 200.
async fn wait_ready(client: &reqwest::Client, server: &Server, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if get(client, server.url("/readyz")).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready within {within:?}");
}

/// Sends one message to every session, retrying only `turn_in_progress`
/// until `within` has passed: the proof that no turn lock stays held.
async fn every_session_accepts_a_send(
    client: &reqwest::Client,
    server: &Server,
    sessions: &[String],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    for (i, session) in sessions.iter().enumerate() {
        loop {
            let (status, body) = post(
                client,
                server.url(&format!("/api/chat/{session}/message")),
                json!({"content": format!("s{i}-final")}),
            )
            .await;
            if status == 201 {
                break;
            }
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (409, Some("turn_in_progress")),
                "session {i} after the fault: {body}"
            );
            assert!(
                Instant::now() < deadline,
                "session {i}'s turn lock was still held {within:?} after the fault"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_killed_and_restarted_under_load_loses_nothing_acknowledged() {
    let Some(binary) = MongoProcess::binary() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("convo-dbkill-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut mongo = MongoProcess::start(&binary, 0, &dir);
    let base = format!(
        "mongodb://127.0.0.1:{}/?directConnection=true&serverSelectionTimeoutMS=1000&w=majority&journal=true",
        mongo.port
    );
    let uri = with_database(&base, "convo_dbkill");
    let server = Server::start(&[
        ("CONVO_STORE", uri.as_str()),
        ("CONVO_JWT_SECRET", SECRET),
        ("CONVO_MOCK_LATENCY_MS", "20"),
    ]);
    let c = new_client();
    let ids = sessions_for_new_user(&c, &server, "dbkill@example.com", 16).await;

    // Load: 16 sessions, each sending one message after another.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| {
            tokio::spawn(send_until(
                c.clone(),
                server.base.clone(),
                i,
                s.clone(),
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    // The database goes down once turns are completing, with more running.
    let waiting_since = Instant::now();
    while acked.load(Ordering::Relaxed) < 10 && waiting_since.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    mongo.kill();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let restart_at = Instant::now();
    mongo.restart(&binary);
    wait_ready(&c, &server, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for task in load {
        sent.extend(task.await.expect("load task"));
    }
    let down_for = restart_at - killed_at;

    // Every answer was a success, the outage's 503, or (right after the
    // restart) a turn lock whose release was still pending.
    for s in &sent {
        let ok = matches!(
            (s.status, s.code.as_deref()),
            (201, _) | (503, Some("store_unavailable")) | (409, Some("turn_in_progress"))
        );
        assert!(ok, "unexpected answer during the outage: {s:?}");
    }
    let acknowledged = sent.iter().filter(|s| s.status == 201).count();
    let unavailable = sent.iter().filter(|s| s.status == 503).count();
    assert!(unavailable > 0, "the outage was seen");
    assert!(acknowledged > 0, "sends succeeded around it");

    every_session_accepts_a_send(&c, &server, &ids, Duration::from_secs(10)).await;
    let mut stored = 0;
    for (i, session) in ids.iter().enumerate() {
        let acked: Vec<&Sent> = sent
            .iter()
            .filter(|s| s.session == i && s.status == 201)
            .collect();
        stored += check_session(
            &history(&c, &server, session).await,
            &acked,
            &format!("session {i}"),
        );
    }
    eprintln!(
        "database outage of {down_for:?}: {} sends, {acknowledged} acknowledged, {unavailable} answered 503, {} answered 409; {stored} messages checked, 0 lost",
        sent.len(),
        sent.iter().filter(|s| s.status == 409).count()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_turn_leaves_every_session_consistent() {
    let Some(uri) = mongo_uri(&format!("convo_crash_{}", uuid::Uuid::now_v7().simple())) else {
        return;
    };
    kill_mid_turn(&[("CONVO_STORE", uri.as_str()), ("CONVO_JWT_SECRET", SECRET)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_sqlite_killed_mid_turn_leaves_every_session_consistent() {
    // No CONVO_JWT_SECRET: the restarted server reads the one kept beside
    // the file, so logging in again proves that file survived the kill too.
    let dir = TempDir::new("crash-sqlite");
    let uri = dir.sqlite_uri("convo.db");
    kill_mid_turn(&[("CONVO_STORE", uri.as_str())]).await;
}

/// 100 sessions sending at once to a server on the store `store_env`
/// names; the server killed with SIGKILL while turns run; then a new
/// process on the same store must hold every acknowledged turn, in
/// consistent sessions whose locks end with their lease.
async fn kill_mid_turn(store_env: &[(&str, &str)]) {
    let tuning = [
        // Turns take a while, so the kill lands in the middle of many.
        ("CONVO_MOCK_LATENCY_MS", "150"),
        // A crashed holder's turn lock is free again after this.
        ("CONVO_TURN_LEASE_SECS", "3"),
    ];
    let env = [store_env, &tuning[..]].concat();
    let mut server = Server::start(&env);
    let c = new_client();
    let ids = sessions_for_new_user(&c, &server, "crash@example.com", 100).await;

    // 100 sessions sending at once, one message after another each.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| {
            tokio::spawn(send_until(
                c.clone(),
                server.base.clone(),
                i,
                s.clone(),
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    // The kill lands once turns are completing (on a loaded machine the
    // first ones take longer than on an idle one), with many still running.
    let waiting_since = Instant::now();
    while acked.load(Ordering::Relaxed) < 20 && waiting_since.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SIGKILL: no shutdown, no unlocking, no flushing.
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();
    let mut sent = Vec::new();
    for task in load {
        sent.extend(task.await.expect("load task"));
    }
    let acknowledged: Vec<&Sent> = sent.iter().filter(|s| s.status == 201).collect();
    assert!(
        !acknowledged.is_empty(),
        "sends were acknowledged before the kill"
    );
    let cut = sent.iter().filter(|s| s.status == 0).count();
    assert!(cut > 0, "the kill cut sends in flight");
    for s in &sent {
        assert!(
            matches!(s.status, 0 | 201),
            "before the kill every send succeeds: {s:?}"
        );
    }

    // A new process on the same database.
    let restarted = Server::start(&env);
    let c = new_client();
    let (status, body) = post(
        &c,
        restarted.url("/api/auth/login"),
        json!({"email": "crash@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "log in again: {body}");
    let mut stored = 0;
    for (i, session) in ids.iter().enumerate() {
        let acked: Vec<&Sent> = acknowledged
            .iter()
            .copied()
            .filter(|s| s.session == i)
            .collect();
        stored += check_session(
            &history(&c, &restarted, session).await,
            &acked,
            &format!("session {i}"),
        );
    }
    // Locks held by the killed process run out with their lease (3 s).
    every_session_accepts_a_send(&c, &restarted, &ids, Duration::from_secs(10)).await;
    eprintln!(
        "kill -9 during 100 concurrent senders ({}): {} sends, {} acknowledged, {cut} cut by the kill; {stored} messages checked, 0 lost",
        store_env[0].1,
        sent.len(),
        acknowledged.len()
    );
    drop(server);
}
