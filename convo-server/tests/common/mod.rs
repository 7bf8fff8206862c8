//! Running `convo-server` (and a MongoDB-wire server) as real processes.
//!
//! The HTTP client and the sign-up helpers are the workspace's shared test
//! support (`tests/support/` at the root), included by path.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "../../../tests/support/client.rs"]
pub mod client;
#[path = "../../../tests/support/fixture.rs"]
pub mod fixture;

pub use client::new_client;

const BIN: &str = env!("CARGO_BIN_EXE_convo-server");

/// The JWT secret shared by test servers that must accept each other's tokens.
pub const SECRET: &str = "multi-process-test-secret-0123456789";

/// A `convo-server` command with a clean environment plus `env`, on the
/// memory store unless `env` names another.
pub fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    // An empty directory, so no `.env` of the developer's is read.
    cmd.current_dir(std::env::temp_dir());
    // The default store is `convo.db` in the working directory, which every
    // test would share: a test that wants a file names its own.
    cmd.env("CONVO_STORE", "memory");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A running `convo-server`; killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its log up to the line saying where it listens (JSON lines).
    pub startup_log: Vec<String>,
}

/// [`command`] for a server on a free port, logging JSON lines.
pub fn server_command(env: &[(&str, &str)]) -> Command {
    command(
        &[
            &[("CONVO_LISTEN", "127.0.0.1:0"), ("CONVO_LOG_JSON", "true")],
            env,
        ]
        .concat(),
    )
}

impl Server {
    /// Starts it on a free port and returns once it listens.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::spawn(server_command(env))
    }

    /// Runs `cmd` (a [`server_command`], maybe changed) and returns once it listens.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn convo-server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(addr) = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|l| l["fields"]["address"].as_str().map(str::to_owned))
            {
                // Keep draining the log so the server never blocks on a full
                // pipe; its errors go to the test's output, where a failure shows them.
                std::thread::spawn(move || {
                    for line in lines.map_while(Result::ok) {
                        if line.contains("\"level\":\"ERROR\"") {
                            eprintln!("convo-server: {line}");
                        }
                    }
                });
                return Self {
                    child,
                    base: format!("http://{addr}"),
                    startup_log: seen,
                };
            }
            seen.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "convo-server did not report its address; its log:\n{}",
            seen.join("\n")
        );
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs JSON and returns (status, body); status 0 when no connection could be made.
pub async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let Ok(resp) = client.post(url).json(&body).send().await else {
        return (0, Value::Null);
    };
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// GETs and returns (status, body).
pub async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    let resp = client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Registers `email` on `server` (logging `client` in) and creates a
/// project, an agent and a session; returns the session id.
pub async fn session_for_new_user(
    client: &reqwest::Client,
    server: &Server,
    email: &str,
) -> String {
    let mut one = sessions_for_new_user(client, server, email, 1).await;
    one.pop().expect("one session")
}

/// Registers `email` on `server` (logging `client` in) and starts `n` chat
/// sessions of one agent; returns their ids.
pub async fn sessions_for_new_user(
    client: &reqwest::Client,
    server: &Server,
    email: &str,
    n: usize,
) -> Vec<String> {
    let base = &server.base;
    fixture::sign_up(client, base, email).await;
    let project = fixture::create_project(client, base, "p").await;
    let project = project["id"].as_str().expect("project id");
    let agent = json!({"name": "a", "system_prompt": "s"});
    let agent = fixture::create_agent(client, base, project, &agent).await;
    let agent = agent["id"].as_str().expect("agent id");
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let session = fixture::start_chat(client, base, agent).await;
        ids.push(session["id"].as_str().expect("session id").to_owned());
    }
    ids
}

/// A MongoDB URI for a fresh database on the test server, or `None` (loudly)
/// on a developer machine without one. Under CI a missing server fails.
pub fn mongo_uri(database: &str) -> Option<String> {
    let Ok(base) = std::env::var("CONVO_TEST_MONGODB_URI") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the MongoDB tests: CONVO_TEST_MONGODB_URI is not set"
        );
        eprintln!("\n*** SKIPPED: needs CONVO_TEST_MONGODB_URI (scripts/test.sh sets it) ***\n");
        return None;
    };
    Some(with_database(&base, database))
}

/// `mongodb://host:port/?opts` → `mongodb://host:port/<database>?opts`.
pub fn with_database(uri: &str, database: &str) -> String {
    let (scheme, rest) = uri.split_once("://").expect("a mongodb:// URI");
    let (hosts, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail.split_once('?').map(|(_, q)| q).unwrap_or("");
    if query.is_empty() {
        format!("{scheme}://{hosts}/{database}")
    } else {
        format!("{scheme}://{hosts}/{database}?{query}")
    }
}

/// A secantusd-rs process of the test's own (for outage tests); killed when dropped.
pub struct MongoProcess {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

impl MongoProcess {
    /// The binary, from `CONVO_TEST_SECANTUS_BIN`, or `None` (loudly) outside CI.
    pub fn binary() -> Option<PathBuf> {
        match std::env::var("CONVO_TEST_SECANTUS_BIN") {
            Ok(path) => Some(PathBuf::from(path)),
            Err(_) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must run the MongoDB outage test: CONVO_TEST_SECANTUS_BIN is not set"
                );
                eprintln!(
                    "\n*** SKIPPED: needs CONVO_TEST_SECANTUS_BIN (scripts/test.sh sets it) ***\n"
                );
                None
            }
        }
    }

    /// Starts one on `port` (0: any) with its data in `dir`. It fsyncs its log
    /// on every commit, so writes acknowledged with `journal=true` survive a kill.
    pub fn start(binary: &Path, port: u16, dir: &Path) -> Self {
        let mut child = Command::new(binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--cache-size",
                "128M",
                "--sync-on-commit",
                "--storage-path",
            ])
            .arg(dir.join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn secantusd-rs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(port) = line
                .rsplit_once("listening on 127.0.0.1:")
                .and_then(|(_, p)| p.trim().parse().ok())
            {
                std::thread::spawn(move || for _ in lines {});
                return Self {
                    child,
                    port,
                    dir: dir.to_owned(),
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("secantusd-rs did not start");
    }

    /// Kills it (like a crashed database host).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self, binary: &Path) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The port may linger for a moment after the kill.
            let again = std::panic::catch_unwind(|| Self::start(binary, self.port, &self.dir));
            match again {
                Ok(started) => {
                    *self = started;
                    return;
                }
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(e) => std::panic::resume_unwind(e),
            }
        }
    }
}

impl Drop for MongoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of the test's own under the temp directory; removed when dropped.
pub struct TempDir {
    /// The directory (absolute, symbolic links resolved, as a server's logs show it).
    pub path: PathBuf,
}

impl TempDir {
    /// A new, empty directory named after `label`.
    pub fn new(label: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("convo-{label}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        let path = path.canonicalize().expect("canonical temp dir");
        Self { path }
    }

    /// `sqlite://<dir>/<file>` (then `sqlite:///tmp/…`, absolute).
    pub fn sqlite_uri(&self, file: &str) -> String {
        format!("sqlite://{}", self.path.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
