//! `spawn_app()`: the real server, in-process on port 0, with a mock model
//! the test can script and inspect.
//!
//! The store is the memory store, or MongoDB when `CONVO_TEST_API_MONGODB_URI`
//! is set (a fresh database per server): `scripts/test.sh` runs this whole
//! binary once on each.

#![allow(dead_code)]

use std::sync::Arc;

use convo::core::{Convo, MemoryStore, MockProvider, MongoStore, Store};
use convo::server::{Application, Config};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The JWT secret of every test server (tests forge tokens with it).
pub const JWT_SECRET: &str = "convo-test-secret-0123456789-abcdefghij";

/// A running server and what a test needs around it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client with its own cookie jar (the "browser" of the first user).
    pub client: reqwest::Client,
    /// The model: script it with `push`, inspect it with `requests`.
    pub mock: Arc<MockProvider>,
    /// The store, for looking behind the API.
    pub store: Arc<dyn Store>,
    /// The configuration the server runs with.
    pub config: Config,
    /// `http://<metrics address>` when `/metrics` has a listener of its own.
    pub metrics_address: Option<String>,
    /// Dropping it stops the server.
    _shutdown: oneshot::Sender<()>,
}

/// A server with the default configuration and a default mock.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(MockProvider::new(), |_| {}).await
}

/// A server with this mock and configuration changes.
pub async fn spawn_app_with(mock: MockProvider, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.jwt_secret = Some(JWT_SECRET.into());
    configure(&mut config);
    let mock = Arc::new(mock);
    let store = test_store().await;
    // Measured, as the server measures its own store.
    let measured: Arc<dyn Store> =
        Arc::new(convo_core::store::InstrumentedStore::new(store.clone()));
    let convo = Convo::new(measured, mock.clone(), config.engine_settings());
    let app = Application::build_with(&config, convo)
        .await
        .expect("server builds");
    let address = format!("http://{}", app.local_addr());
    let metrics_address = app.metrics_addr().map(|a| format!("http://{a}"));
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: new_client(),
        mock,
        store,
        config,
        metrics_address,
        _shutdown: tx,
    }
}

/// The memory store, or a fresh MongoDB database when the environment names a server.
pub async fn test_store() -> Arc<dyn Store> {
    match std::env::var("CONVO_TEST_API_MONGODB_URI") {
        Ok(uri) => {
            let db = format!("convo_api_{}", uuid::Uuid::now_v7().simple());
            Arc::new(
                MongoStore::connect(&uri, &db)
                    .await
                    .expect("connect to the test MongoDB"),
            )
        }
        Err(_) => Arc::new(MemoryStore::new()),
    }
}

/// A fresh client with its own cookie jar (a second user, or no user).
pub fn new_client() -> reqwest::Client {
    client_builder().cookie_store(true).build().expect("client")
}

/// A client with no cookie jar at all (credentials only as sent by hand).
pub fn plain_client() -> reqwest::Client {
    client_builder().build().expect("client")
}

/// A client builder that does not panic for want of a TLS provider.
///
/// `convo-core`'s `gemini` feature turns on reqwest's `rustls-no-provider`
/// (feature unification reaches this dev-dependency too), and then building
/// any client without a crypto provider panics, even one that only ever
/// speaks plain HTTP to 127.0.0.1. Handing it the engine's own rustls
/// configuration (ring) avoids the panic without touching process-wide state.
pub fn client_builder() -> reqwest::ClientBuilder {
    let tls = convo::core::llm::gemini::tls_client_config().expect("TLS configuration");
    reqwest::Client::builder().tls_backend_preconfigured(tls)
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}

// ---------------------------------------------------------------------------
// Users, requests and fixtures.
// ---------------------------------------------------------------------------

/// The password every test user registers with.
pub const PASSWORD: &str = "correct horse battery staple";

/// An e-mail address no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A registered user with a logged-in client of their own.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The user's id.
    pub id: String,
    /// The normalised e-mail address.
    pub email: String,
    /// The raw JWT from the login cookie.
    pub token: String,
    /// A client whose cookie jar holds the login cookie.
    pub client: reqwest::Client,
}

/// A project with an agent and a chat session, all owned by one user.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The project.
    pub project: Value,
    /// Its agent.
    pub agent: Value,
    /// A chat session with that agent.
    pub session: Value,
}

impl Fixture {
    /// The project's id.
    pub fn project_id(&self) -> &str {
        self.project["id"].as_str().expect("project id")
    }

    /// The agent's id.
    pub fn agent_id(&self) -> &str {
        self.agent["id"].as_str().expect("agent id")
    }

    /// The session's id.
    pub fn session_id(&self) -> &str {
        self.session["id"].as_str().expect("session id")
    }
}

/// The value of the `token` cookie in a response's `Set-Cookie`, if any.
pub fn token_cookie(resp: &Response) -> Option<String> {
    set_cookie(resp).and_then(|c| {
        c.split(';')
            .next()
            .and_then(|kv| kv.trim().strip_prefix("token="))
            .map(str::to_owned)
    })
}

/// The raw `Set-Cookie` header of a response, if any.
pub fn set_cookie(resp: &Response) -> Option<String> {
    resp.headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The body as JSON, with the status checked first.
pub async fn json_with_status(resp: Response, status: u16) -> Value {
    let actual = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(actual.as_u16(), status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Checks the error envelope (status, code, `x-request-id` header equal to
/// `error.request_id`, every field present) and returns the `error` object.
pub async fn assert_error(resp: Response, status: u16, code: &str) -> Value {
    let header = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = json_with_status(resp, status).await;
    assert!(
        ctype.starts_with("application/json"),
        "content-type {ctype:?} of {body}"
    );
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "error code of {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    assert!(
        error.get("param").is_some(),
        "param present (maybe null) in {body}"
    );
    assert!(error["retryable"].is_boolean(), "retryable in {body}");
    let request_id = error["request_id"]
        .as_str()
        .expect("request_id is a string");
    assert!(
        !request_id.is_empty() && request_id != "-",
        "a real request id in {body}"
    );
    assert_eq!(
        header.as_deref(),
        Some(request_id),
        "x-request-id header equals error.request_id"
    );
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "only `error` at the top: {body}"
    );
    error
}

impl TestApp {
    /// Sends `method path` with an optional JSON body from `client`.
    pub async fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = client.request(method, self.url(path));
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.expect("request sent")
    }

    /// `GET path`.
    pub async fn get(&self, client: &reqwest::Client, path: &str) -> Response {
        self.request(client, Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, client: &reqwest::Client, path: &str, body: &Value) -> Response {
        self.request(client, Method::POST, path, Some(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, client: &reqwest::Client, path: &str, body: &Value) -> Response {
        self.request(client, Method::PATCH, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, client: &reqwest::Client, path: &str) -> Response {
        self.request(client, Method::DELETE, path, None).await
    }

    /// `POST /api/auth/register`.
    pub async fn register(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> Response {
        let body = json!({"email": email, "password": password});
        self.post(client, "/api/auth/register", &body).await
    }

    /// `POST /api/auth/login`.
    pub async fn login(&self, client: &reqwest::Client, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password});
        self.post(client, "/api/auth/login", &body).await
    }

    /// Registers a fresh user on `client` (which keeps the cookie).
    pub async fn register_on(&self, client: &reqwest::Client) -> TestUser {
        let email = unique_email();
        let resp = self.register(client, &email, PASSWORD).await;
        let token = token_cookie(&resp).expect("register sets the token cookie");
        let body = json_with_status(resp, 201).await;
        TestUser {
            id: body["user"]["id"].as_str().expect("user id").to_owned(),
            email,
            token,
            client: client.clone(),
        }
    }

    /// Registers a fresh user on the app's own client.
    pub async fn sign_up(&self) -> TestUser {
        self.register_on(&self.client).await
    }

    /// Registers a fresh user on a new client (another browser).
    pub async fn other_user(&self) -> TestUser {
        self.register_on(&new_client()).await
    }

    /// Creates a project, asserting 201.
    pub async fn create_project(&self, client: &reqwest::Client, name: &str) -> Value {
        let resp = self
            .post(client, "/api/projects", &json!({"name": name}))
            .await;
        json_with_status(resp, 201).await
    }

    /// Creates an agent from `body`, asserting 201.
    pub async fn create_agent(
        &self,
        client: &reqwest::Client,
        project_id: &str,
        body: &Value,
    ) -> Value {
        let resp = self
            .post(client, &format!("/api/projects/{project_id}/agents"), body)
            .await;
        json_with_status(resp, 201).await
    }

    /// Starts a chat session with no body, asserting 201.
    pub async fn start_chat(&self, client: &reqwest::Client, agent_id: &str) -> Value {
        let resp = client
            .post(self.url(&format!("/api/chat/start/{agent_id}")))
            .send()
            .await
            .expect("request sent");
        json_with_status(resp, 201).await
    }

    /// A project, an agent (`system_prompt` "Be brief.") and a session.
    pub async fn fixture(&self, client: &reqwest::Client) -> Fixture {
        self.fixture_with(
            client,
            json!({"name": "Helper", "system_prompt": "Be brief."}),
        )
        .await
    }

    /// A project, an agent made from `agent`, and a session.
    pub async fn fixture_with(&self, client: &reqwest::Client, agent: Value) -> Fixture {
        let project = self.create_project(client, "Fixture").await;
        let agent = self
            .create_agent(client, project["id"].as_str().expect("id"), &agent)
            .await;
        let session = self
            .start_chat(client, agent["id"].as_str().expect("id"))
            .await;
        Fixture {
            project,
            agent,
            session,
        }
    }

    /// `POST /api/chat/{id}/message`.
    pub async fn send_message(
        &self,
        client: &reqwest::Client,
        session_id: &str,
        content: &str,
    ) -> Response {
        let path = format!("/api/chat/{session_id}/message");
        self.post(client, &path, &json!({"content": content})).await
    }

    /// `POST /api/chat/{id}/message/stream`.
    pub async fn stream_message(
        &self,
        client: &reqwest::Client,
        session_id: &str,
        content: &str,
    ) -> Response {
        let path = format!("/api/chat/{session_id}/message/stream");
        self.post(client, &path, &json!({"content": content})).await
    }

    /// The first page (up to 100) of a session's messages, asserting 200.
    pub async fn history(&self, client: &reqwest::Client, session_id: &str) -> Vec<Value> {
        let resp = self
            .get(
                client,
                &format!("/api/chat/{session_id}/messages?limit=100"),
            )
            .await;
        let list = json_with_status(resp, 200).await;
        list["data"].as_array().expect("data").clone()
    }
}

// ---------------------------------------------------------------------------
// Server-sent events.
// ---------------------------------------------------------------------------

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` name.
    pub event: Option<String>,
    /// The `id:`.
    pub id: Option<String>,
    /// The `data:` lines joined with newlines, parsed as JSON.
    pub data: Value,
}

/// Parses an SSE body: events are separated by blank lines; `event:`, `id:`
/// and `data:` fields are collected; comment lines (`:`) are ignored.
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    let body = body.replace("\r\n", "\n");
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let (mut event, mut id, mut data) = (None, None, Vec::new());
        for line in block.lines() {
            if line.is_empty() || line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = Some(value.to_owned()),
                "id" => id = Some(value.to_owned()),
                "data" => data.push(value.to_owned()),
                _ => {}
            }
        }
        if event.is_none() && id.is_none() && data.is_empty() {
            continue;
        }
        let data = data.join("\n");
        let data = serde_json::from_str(&data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
        events.push(SseEvent { event, id, data });
    }
    events
}
