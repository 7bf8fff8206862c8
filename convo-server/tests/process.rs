//! The `convo-server` binary as a process: start-up, configuration errors,
//! the spec command, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_convo-server");

/// A `convo-server` with a clean environment plus `env`.
fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    // An empty directory, so no `.env` of the developer's is read.
    cmd.current_dir(std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts the server on a free port and returns it with its address, once it listens.
fn start(env: &[(&str, &str)]) -> (Child, String) {
    let mut child = command(
        &[
            &[("CONVO_LISTEN", "127.0.0.1:0"), ("CONVO_LOG_JSON", "true")],
            env,
        ]
        .concat(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn convo-server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(addr) = log["fields"]["address"].as_str() {
            // Keep draining the log so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, format!("http://{addr}"));
        }
    }
    let _ = child.kill();
    panic!("convo-server did not report its address");
}

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
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("CONVO_STORE", "mongodb://127.0.0.1:1/db")],
            "CONVO_JWT_SECRET",
        ),
        (&[("CONVO_STORE", "postgres://x"), ("CONVO_JWT_SECRET", "0123456789abcdef0123456789abcdef")], "CONVO_STORE must be"),
        (&[("CONVO_JWT_SECRET", "short")], "at least 32 characters"),
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
    let (child, base) = start(&[
        ("CONVO_MOCK_CHUNKS", "5"),
        ("CONVO_MOCK_CHUNK_DELAY_MS", "300"),
    ]);
    let pid = child.id().to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let body = rt.block_on(async {
        // reqwest is built with rustls but no default crypto provider (see
        // convo-core's gemini feature): hand it the engine's TLS configuration.
        let tls = convo_core::llm::gemini::tls_client_config().expect("tls");
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .cookie_store(true)
            .build()
            .expect("client");
        let json = |v: serde_json::Value| v;
        let reg = client
            .post(format!("{base}/api/auth/register"))
            .json(&json(
                serde_json::json!({"email": "s@example.com", "password": "password123"}),
            ))
            .send()
            .await
            .expect("register");
        assert_eq!(reg.status(), 201);
        let id = |r: serde_json::Value| r["id"].as_str().expect("id").to_owned();
        let p = id(client
            .post(format!("{base}/api/projects"))
            .json(&serde_json::json!({"name": "p"}))
            .send()
            .await
            .expect("p")
            .json()
            .await
            .expect("j"));
        let a = id(client
            .post(format!("{base}/api/projects/{p}/agents"))
            .json(&serde_json::json!({"name": "a", "system_prompt": "s"}))
            .send()
            .await
            .expect("a")
            .json()
            .await
            .expect("j"));
        let s = id(client
            .post(format!("{base}/api/chat/start/{a}"))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j"));
        let resp = client
            .post(format!("{base}/api/chat/{s}/message/stream"))
            .json(&serde_json::json!({"content": "a reply long enough to stream in pieces"}))
            .send()
            .await
            .expect("stream");
        assert_eq!(resp.status(), 200);
        // The stream is under way: ask the server to stop.
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(kill.success());
        let body = resp.text().await.expect("the stream finishes");
        // New connections are refused once it stopped accepting.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            client.get(format!("{base}/healthz")).send().await.is_err(),
            "still accepting after SIGTERM"
        );
        body
    });
    assert!(
        body.contains("event: message.completed"),
        "the in-flight stream completed: {body}"
    );
    let mut child = child;
    let status = child.wait().expect("exit");
    assert!(status.success(), "exit code {status:?}");
}
