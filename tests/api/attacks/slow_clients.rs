//! Slow clients (slowloris): request heads and bodies that trickle in, and
//! idle connections, are cut off by the header and body deadlines, while
//! other clients are served; legitimate slowness (a pause between kept-alive
//! requests, a slow model) is not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convo::core::MockProvider;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{json_with_status, new_client, parse_sse, spawn_app_with, TestApp};

/// How long a slow connection may live, at most, with 1-second deadlines:
/// generous, for a busy machine.
const CUT_OFF_WITHIN: Duration = Duration::from_secs(10);

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Everything the server sends until it closes the connection (end of
/// stream or reset), or `None` if it is still open after `limit`.
async fn until_closed(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: Duration,
) -> Option<Vec<u8>> {
    let read_all = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.ok()
}

/// Writes `bytes` one at a time, `every` apart, until done, told to stop,
/// or the server hangs up.
fn trickle(
    mut writer: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    bytes: Vec<u8>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut sent = 0;
        for b in bytes {
            if stop.load(Ordering::Relaxed) || writer.write_all(&[b]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(every).await;
        }
        sent
    })
}

/// A normal request on another connection succeeds, in bounded time.
async fn assert_others_are_served(app: &TestApp, case: &str) {
    let served = tokio::time::timeout(CUT_OFF_WITHIN, app.get(&new_client(), "/healthz")).await;
    let status = served.map(|r| r.status().as_u16());
    assert_eq!(
        status.ok(),
        Some(200),
        "{case}: a normal client is served meanwhile"
    );
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_disconnected() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| c.header_read_timeout_secs = 1).await;
    let (mut reader, writer) = connect(&app).await.into_split();
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".to_vec();
    let endless: Vec<u8> = head
        .into_iter()
        .chain(std::iter::repeat_n(b'a', 200))
        .collect();
    let started = Instant::now();

    // Act
    let stop = Arc::new(AtomicBool::new(false));
    let writing = trickle(writer, endless, Duration::from_millis(100), stop.clone());
    assert_others_are_served(&app, "slow headers").await;
    let answer = until_closed(&mut reader, CUT_OFF_WITHIN).await;
    stop.store(true, Ordering::Relaxed);

    // Assert
    let answer = answer.unwrap_or_else(|| panic!("still open after {:?}", started.elapsed()));
    assert!(
        !String::from_utf8_lossy(&answer).contains(" 200 "),
        "the unfinished request was not served"
    );
    let sent = writing.await.expect("writer");
    assert!(
        sent < 150,
        "cut off after {sent} bytes, {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| c.header_read_timeout_secs = 1).await;
    let mut stream = connect(&app).await;
    let started = Instant::now();

    // Act
    stream
        .write_all(b"POST /api/projects HTTP/1.1\r\nHost: localhost\r\nContent-")
        .await
        .expect("write");
    let answer = until_closed(&mut stream, CUT_OFF_WITHIN).await;

    // Assert
    assert!(answer.is_some(), "still open after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_408_and_is_disconnected() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| {
        c.header_read_timeout_secs = 1;
        c.body_read_timeout_secs = 1;
    })
    .await;
    let cookie = format!("token={}", app.sign_up().await.token);
    let (mut reader, mut writer) = connect(&app).await.into_split();
    let head = format!(
        "POST /api/projects HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.expect("head");
    let body = format!("{{\"name\": \"{}\"}}", "n".repeat(188)).into_bytes();
    assert_eq!(body.len(), 200);
    let started = Instant::now();

    // Act
    let stop = Arc::new(AtomicBool::new(false));
    let writing = trickle(writer, body, Duration::from_millis(100), stop.clone());
    assert_others_are_served(&app, "slow body").await;
    let answer = until_closed(&mut reader, CUT_OFF_WITHIN).await;
    stop.store(true, Ordering::Relaxed);

    // Assert
    let answer = answer.unwrap_or_else(|| panic!("still open after {:?}", started.elapsed()));
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    assert!(
        head.to_ascii_lowercase().contains("x-request-id: "),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    let sent = writing.await.expect("writer");
    assert!(sent < 200, "the body was never completed: {sent} bytes");
    let list = json_with_status(app.get(&app.client, "/api/projects").await, 200).await;
    assert_eq!(list["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn many_idle_connections_neither_delay_others_nor_stay_open() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| c.header_read_timeout_secs = 2).await;
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(connect(&app).await);
    }
    let started = Instant::now();

    // Act
    assert_others_are_served(&app, "200 idle connections").await;
    let user = tokio::time::timeout(CUT_OFF_WITHIN, app.sign_up()).await;
    let closed = futures::future::join_all(
        idle.iter_mut()
            .map(|stream| until_closed(stream, CUT_OFF_WITHIN + Duration::from_secs(5))),
    )
    .await;

    // Assert
    assert!(user.is_ok(), "a registration completes meanwhile");
    let still_open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(
        still_open,
        0,
        "idle connections still open after {:?}",
        started.elapsed()
    );
    assert!(
        closed.iter().flatten().all(Vec::is_empty),
        "nothing was sent to the idle connections"
    );
}

/// One whole response with a `Content-Length` body, as text.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                return text;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return text,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_kept_alive_connection_may_pause_between_requests() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| c.header_read_timeout_secs = 1).await;
    let mut stream = connect(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

    // Act: one request, a pause longer than the header deadline, another.
    stream.write_all(request).await.expect("first request");
    let first = read_response(&mut stream).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stream.write_all(request).await.expect("second request");
    let second = tokio::time::timeout(CUT_OFF_WITHIN, read_response(&mut stream))
        .await
        .expect("answered in time");

    // Assert
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}

#[tokio::test]
async fn a_slow_model_reply_is_not_cut_off_by_the_client_deadlines() {
    // Arrange: the model takes longer than both client deadlines.
    let mock = MockProvider::new().with_latency(Duration::from_millis(2_500));
    let app = spawn_app_with(mock, |c| {
        c.header_read_timeout_secs = 1;
        c.body_read_timeout_secs = 1;
    })
    .await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;

    // Act
    let plain = app.send_message(&app.client, fx.session_id(), "one").await;
    let streamed = app
        .stream_message(&app.client, fx.session_id(), "two")
        .await;

    // Assert
    assert_eq!(
        json_with_status(plain, 201).await["assistant_message"]["content"],
        "echo: one"
    );
    assert_eq!(streamed.status(), 200);
    let events = parse_sse(&streamed.text().await.expect("stream"));
    let last = events.last().expect("events");
    assert_eq!(
        last.event.as_deref(),
        Some("message.completed"),
        "{events:?}"
    );
    assert_eq!(last.data["message"]["content"], "echo: two");
}
