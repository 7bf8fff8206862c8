//! `spawn_app()`: a fake-gemini of the test's own, and the real server
//! in-process on port 0 with Gemini as its model, pointed at that fake; a
//! registered user with a project, an agent and a chat session.
//!
//! What the other test binaries need too (clients, SSE, the in-process
//! server, signing up) lives in `tests/support/`; what the tests use of it is
//! re-exported here.

#![allow(dead_code)]

use std::sync::Arc;

use convo::core::llm::gemini::GeminiProvider;
use convo::core::{Convo, Store};
use convo::server::{Application, Config};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::client::new_client;
use crate::fake::FakeGemini;
use crate::fixture::{fixture, sign_up, start_chat, unique_email};
use crate::server::{serve, test_config, RunningServer};
pub use crate::sse::{deltas, names, parse_sse, SseEvent};

/// The system prompt of the default agent.
pub const SYSTEM_PROMPT: &str = "You are the end-to-end test agent. Answer briefly.";

/// The Gemini API key the server is configured with (the fake accepts any).
pub const API_KEY: &str = "e2e-gemini-key-0123456789";

/// The default agent: a system prompt and both sampling settings.
pub fn default_agent() -> Value {
    json!({"name": "Gemini e2e", "system_prompt": SYSTEM_PROMPT, "temperature": 0.25, "max_output_tokens": 256})
}

/// The server, its fake model and a signed-in user's chat session.
pub struct GeminiApp {
    /// `http://127.0.0.1:<port>` of the Convo server.
    pub address: String,
    /// A client whose cookie jar holds the user's login.
    pub client: reqwest::Client,
    /// The fake Gemini the server talks to.
    pub fake: FakeGemini,
    /// The agent, as created.
    pub agent: Value,
    /// The chat session's id.
    pub session_id: String,
    /// Dropping it stops the server.
    _server: RunningServer,
}

/// A server with the default agent.
pub async fn spawn_app() -> GeminiApp {
    spawn_app_with_agent(default_agent()).await
}

/// A server whose session talks to an agent created from `agent`.
pub async fn spawn_app_with_agent(agent: Value) -> GeminiApp {
    spawn_app_configured(agent, |_| {}).await
}

/// A server configured by `configure` (after the e2e defaults), whose
/// session talks to an agent created from `agent`.
pub async fn spawn_app_configured(agent: Value, configure: impl FnOnce(&mut Config)) -> GeminiApp {
    let fake = FakeGemini::start().await;
    let mut config = e2e_config(&fake);
    configure(&mut config);
    let app = Application::build(&config)
        .await
        .expect("the server builds with Gemini");
    signed_in(fake, app, agent).await
}

/// A server (with the default agent) over `store`, which the caller keeps a
/// handle on to look inside: turn locks, for one.
pub async fn spawn_app_with_store(store: Arc<dyn Store>) -> GeminiApp {
    let fake = FakeGemini::start().await;
    let config = e2e_config(&fake);
    let gemini = config.gemini().expect("a Gemini key is configured");
    let llm = GeminiProvider::new(gemini).expect("the Gemini client builds");
    let convo = Convo::new(store, Arc::new(llm), config.engine_settings());
    let app = Application::build_with(&config, convo)
        .await
        .expect("the server builds with Gemini");
    signed_in(fake, app, default_agent()).await
}

/// The server's configuration: Gemini at `fake`, with small timeouts.
fn e2e_config(fake: &FakeGemini) -> Config {
    let mut config = test_config("gemini-e2e-secret-0123456789-abcdefghijk");
    config.gemini_api_key = Some(API_KEY.into());
    config.gemini_base_url = Some(fake.url.clone());
    // Short enough for tests, long enough for a 1 s retryDelay to be honoured twice.
    config.gemini_connect_timeout_ms = 1_000;
    config.gemini_first_byte_timeout_ms = 2_000;
    config.gemini_idle_timeout_ms = 2_000;
    config.gemini_timeout_ms = 8_000;
    config.gemini_retry_base_ms = 50;
    config
}

/// Runs `app`, registers a user and creates a project, an agent from
/// `agent` and a chat session.
async fn signed_in(fake: FakeGemini, app: Application, agent: Value) -> GeminiApp {
    let running = serve(app);
    let client = new_client();
    sign_up(&client, &running.address, &unique_email()).await;
    let fx = fixture(&client, &running.address, &agent).await;
    GeminiApp {
        address: running.address.clone(),
        client,
        fake,
        session_id: fx.session_id().to_owned(),
        agent: fx.agent,
        _server: running,
    }
}

/// `text` with a fake-gemini directive: the fake reads `knobs` from the last
/// user message (the directive stays in the stored content; that is expected).
pub fn with_knobs(text: &str, knobs: Value) -> String {
    format!("{text} [[fake-gemini:{knobs}]]")
}

/// A failed response: status, `error` object and headers.
#[derive(Debug)]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// The envelope's `error` object.
    pub error: Value,
    /// The response headers.
    pub headers: HeaderMap,
}

impl Failure {
    /// The `Retry-After` header, if any.
    pub fn retry_after(&self) -> Option<&str> {
        self.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
    }
}

impl GeminiApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        let request = self.client.post(self.url(path)).json(body);
        request.send().await.expect("request sent")
    }

    /// `POST /api/chat/start/{agent}`: a new chat session with the agent; its id.
    pub async fn start_session(&self) -> String {
        let agent = self.agent["id"].as_str().expect("agent id");
        let session = start_chat(&self.client, &self.address, agent).await;
        session["id"].as_str().expect("session id").to_owned()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let request = self.client.get(self.url(path));
        request.send().await.expect("request sent")
    }

    /// `POST /api/chat/{session}/message` to a session of the caller's choice.
    pub async fn send_to(&self, session: &str, content: &str) -> reqwest::Response {
        let path = format!("/api/chat/{session}/message");
        self.post(&path, &json!({"content": content})).await
    }

    /// `POST /api/chat/{session}/message/stream`, the response as it comes
    /// (whatever its status).
    pub async fn stream_to(&self, session: &str, content: &str) -> reqwest::Response {
        let path = format!("/api/chat/{session}/message/stream");
        self.post(&path, &json!({"content": content})).await
    }

    /// A session's messages, oldest first (up to 100).
    pub async fn history_of(&self, session: &str) -> Vec<Value> {
        let path = format!("/api/chat/{session}/messages?limit=100");
        let resp = self.get(&path).await;
        assert_eq!(resp.status(), 200, "GET messages of {session}");
        let list: Value = resp.json().await.expect("JSON");
        assert_eq!(list["has_more"], false, "{session}: more than 100 messages");
        list["data"].as_array().expect("data").clone()
    }

    /// `POST /api/chat/{session}/message`.
    pub async fn send(&self, content: &str) -> reqwest::Response {
        let path = format!("/api/chat/{}/message", self.session_id);
        self.post(&path, &json!({"content": content})).await
    }

    /// `POST …/message`, asserting 201; returns `{user_message, assistant_message}`.
    pub async fn send_ok(&self, content: &str) -> Value {
        let resp = self.send(content).await;
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 201, "send {content:?}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// `POST …/message`, expecting an error envelope.
    pub async fn send_failing(&self, content: &str) -> Failure {
        let resp = self.send(content).await;
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let text = resp.text().await.expect("body");
        assert!(status >= 400, "expected a failure, got {status}: {text}");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        let error = body["error"].clone();
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a message: {body}"
        );
        Failure {
            status,
            error,
            headers,
        }
    }

    /// `POST …/message/stream`, asserting the stream opened (200, SSE); its events.
    pub async fn stream(&self, content: &str) -> Vec<SseEvent> {
        let path = format!("/api/chat/{}/message/stream", self.session_id);
        let resp = self.post(&path, &json!({"content": content})).await;
        let status = resp.status();
        let ctype = resp.headers().get("content-type").cloned();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 200, "the stream opens: {text}");
        let ctype = ctype
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default();
        assert!(
            ctype.starts_with("text/event-stream"),
            "content-type {ctype:?}"
        );
        parse_sse(&text)
    }

    /// The session's messages, oldest first.
    pub async fn history(&self) -> Vec<Value> {
        let path = format!("/api/chat/{}/messages?limit=100", self.session_id);
        let resp = self.client.get(self.url(&path)).send().await.expect("sent");
        assert_eq!(resp.status(), 200, "GET messages");
        let list: Value = resp.json().await.expect("JSON");
        list["data"].as_array().expect("data").clone()
    }

    /// After a failed turn: the user message is stored exactly once, and no
    /// assistant message at all.
    pub async fn assert_only_user_message(&self, content: &str) {
        let history = self.history().await;
        let users: Vec<&Value> = history.iter().filter(|m| m["role"] == "user").collect();
        let assistants = history.iter().filter(|m| m["role"] == "assistant").count();
        assert_eq!(
            users.len(),
            1,
            "the user message is stored once: {history:?}"
        );
        assert_eq!(users[0]["content"], content, "stored as sent");
        assert_eq!(
            assistants, 0,
            "no assistant message after a failure: {history:?}"
        );
    }

    /// How many model calls the fake received, with their outcomes.
    pub async fn outcomes(&self) -> Vec<String> {
        let calls = self.fake.model_calls().await;
        calls
            .iter()
            .map(|c| c["outcome"].as_str().unwrap_or("<none>").to_owned())
            .collect()
    }
}
