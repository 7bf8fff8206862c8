//! `FakeGemini`: `../shared/tools/fake-gemini/server.js` as a child process
//! on a free port, killed when the value drops.
//!
//! One per test: the fake's request log and `fail_first_n` counters are
//! global to its process, so sharing one would let parallel tests see each
//! other's requests.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A running fake-gemini.
pub struct FakeGemini {
    /// `http://127.0.0.1:<port>`: the Gemini base URL to configure.
    pub url: String,
    client: reqwest::Client,
    child: Child,
    stderr: Arc<Mutex<String>>,
}

/// Where `server.js` is: `FAKE_GEMINI_JS`, or the copy in `../shared`.
fn script() -> PathBuf {
    match std::env::var_os("FAKE_GEMINI_JS") {
        Some(path) => PathBuf::from(path),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/fake-gemini/server.js")
        }
    }
}

/// Reads a pipe to its end on a thread of its own, so the child never blocks
/// on a full pipe, keeping what it said for failure messages.
fn drain(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = into.lock() {
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
}

impl FakeGemini {
    /// Starts the fake on port 0 and waits for its `listening on` line.
    ///
    /// Panics, never skips, when Node or the script is missing: these tests
    /// are the only end-to-end check of the Gemini path.
    pub fn start() -> Self {
        let script = script();
        assert!(
            script.is_file(),
            "fake-gemini not found at {} (set FAKE_GEMINI_JS to its server.js)",
            script.display()
        );
        let mut command = Command::new("node");
        command
            .arg(&script)
            .args(["--port", "0", "--host", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Knobs from the environment would change every answer, and QUIET
        // would hide the line that tells us the port.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("FAKE_GEMINI_") {
                command.env_remove(name);
            }
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start `node` for fake-gemini ({e}): install Node 18+ and put it on PATH")
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(
            child.stderr.take().expect("piped stderr"),
            Arc::clone(&stderr),
        );
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            let _ = lines.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(15)).unwrap_or_default();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_owned);
        let Some(url) = url else {
            let _ = child.kill();
            let status = child.wait().ok();
            std::thread::sleep(Duration::from_millis(100));
            let said = stderr.lock().map(|s| s.clone()).unwrap_or_default();
            panic!("fake-gemini did not say where it listens (first line {line:?}, exit {status:?}); stderr: {said}");
        };
        let client = crate::helpers::client_builder().build().expect("client");
        Self {
            url,
            client,
            child,
            stderr,
        }
    }

    /// What the fake wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every request the fake recorded, oldest first (`GET /__requests`).
    pub async fn requests(&self) -> Vec<Value> {
        let resp = self
            .client
            .get(format!("{}/__requests", self.url))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "GET /__requests: {e}; fake-gemini stderr: {}",
                    self.stderr()
                )
            });
        assert_eq!(resp.status(), 200, "GET /__requests");
        let list: Value = resp.json().await.expect("a JSON list");
        list.as_array().expect("an array of requests").clone()
    }

    /// `POST /__reset`: clears the request log, the stats and the
    /// `fail_first_n` counters.
    pub async fn reset(&self) {
        let resp = self
            .client
            .post(format!("{}/__reset", self.url))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("POST /__reset: {e}; fake-gemini stderr: {}", self.stderr())
            });
        assert_eq!(resp.status(), 200, "POST /__reset");
    }

    /// `GET /__stats`: `{total, in_flight, max_in_flight, by_status, recorded}`.
    pub async fn stats(&self) -> Value {
        let resp = self
            .client
            .get(format!("{}/__stats", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /__stats: {e}; fake-gemini stderr: {}", self.stderr()));
        assert_eq!(resp.status(), 200, "GET /__stats");
        resp.json().await.expect("JSON stats")
    }

    /// The recorded model calls (`generateContent` and `streamGenerateContent`).
    pub async fn model_calls(&self) -> Vec<Value> {
        let all = self.requests().await;
        all.into_iter()
            .filter(|r| r["rpc"] == "generateContent" || r["rpc"] == "streamGenerateContent")
            .collect()
    }
}

impl Drop for FakeGemini {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
