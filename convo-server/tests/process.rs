//! The `convo-server` binary as a process: start-up, configuration errors,
//! the spec command, and graceful shutdown on SIGTERM.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use common::{command, new_client, post, session_for_new_user, Server};

#[test]
fn the_openapi_command_prints_the_checked_in_spec() {
    let out = command(&[]).arg("openapi").output().expect("run");
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("json");
    assert_eq!(printed, checked_in);
    let flag = command(&[]).arg("--print-openapi").output().expect("run");
    assert_eq!(flag.stdout, out.stdout);
}

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let out = command(&[]).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "CONVO_LISTEN",
        "CONVO_STORE",
        "GEMINI_API_KEY",
        "GEMINI_MODEL",
        "GEMINI_BASE_URL",
        "CONVO_JWT_SECRET",
        "CONVO_MAX_BODY_BYTES",
        "CONVO_CONTEXT_MESSAGES",
        "CONVO_LOG",
        "CONVO_LOG_JSON",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    assert!(help.contains("127.0.0.1:8080"), "defaults are shown");
}

#[test]
fn a_bad_configuration_fails_fast_with_a_clear_message() {
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("CONVO_STORE", "mongodb://127.0.0.1:1/db")],
            "CONVO_JWT_SECRET",
        ),
        (
            &[
                ("CONVO_STORE", "postgres://x"),
                ("CONVO_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ],
            "CONVO_STORE=postgres://x is not allowed",
        ),
        (&[("CONVO_JWT_SECRET", "short")], "at least 32 characters"),
        // Accepted by the parser, refused by the range check.
        (
            &[("CONVO_CONTEXT_MESSAGES", "0")],
            "CONVO_CONTEXT_MESSAGES=0 is not allowed: 1 to 1000",
        ),
        // A log filter of `off` must not hide the refusal.
        (
            &[("CONVO_LOG", "off"), ("CONVO_TURN_LEASE_SECS", "1")],
            "CONVO_TURN_LEASE_SECS=1 is not allowed",
        ),
        // Refused by the parser: the message still names the variable.
        (&[("CONVO_MAX_BODY_BYTES", "lots")], "CONVO_MAX_BODY_BYTES"),
    ];
    for (env, expected) in cases {
        let out = command(&[&[("CONVO_LISTEN", "127.0.0.1:0")], env].concat())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?} must fail");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
    }
}

#[test]
fn secrets_are_not_logged() {
    let secret = "a-very-secret-jwt-signing-key-0123456789";
    let mut cmd = command(&[
        ("CONVO_LISTEN", "127.0.0.1:0"),
        ("CONVO_JWT_SECRET", secret),
        ("CONVO_SHUTDOWN_GRACE_SECS", "1"),
    ]);
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("read");
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains(secret), "the JWT secret leaked into the log");
}

#[test]
fn sigterm_lets_a_running_stream_finish_then_exits_zero() {
    let mut server = Server::start(&[
        ("CONVO_MOCK_CHUNKS", "5"),
        ("CONVO_MOCK_CHUNK_DELAY_MS", "300"),
    ]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let body = rt.block_on(async {
        let c = new_client();
        let session = session_for_new_user(&c, &server, "s@example.com").await;
        let resp = c
            .post(server.url(&format!("/api/chat/{session}/message/stream")))
            .json(&serde_json::json!({"content": "a reply long enough to stream in pieces"}))
            .send()
            .await
            .expect("stream");
        assert_eq!(resp.status(), 200);
        // The stream is under way: ask the server to stop.
        server.terminate();
        let body = resp.text().await.expect("the stream finishes");
        // New connections are refused once it stopped accepting.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let late = post(&c, server.url("/api/auth/login"), serde_json::json!({})).await;
        assert_eq!(late.0, 0, "still accepting after SIGTERM");
        body
    });
    assert!(
        body.contains("event: message.completed"),
        "the in-flight stream completed: {body}"
    );
    let status = server.child.wait().expect("exit");
    assert!(status.success(), "exit code {status:?}");
}
