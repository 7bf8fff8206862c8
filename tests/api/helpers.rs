//! `spawn_app()`: the real server, in-process on port 0, with a mock model
//! the test can script and inspect; one helper per endpoint.
//!
//! What the other test binaries need too (clients, SSE, the in-process
//! server, signing up) lives in `tests/support/` and is re-exported here, so
//! a test imports everything from `crate::helpers`.
//!
//! The store is the memory store; a fresh SQLite file per server when
//! `CONVO_TEST_API_STORE=sqlite`; or MongoDB when `CONVO_TEST_API_MONGODB_URI`
//! is set (a fresh database per server): `scripts/test.sh` runs this whole
//! binary once on each.

#![allow(dead_code)]

use std::sync::Arc;

use std::path::PathBuf;

use convo::core::{Convo, MemoryStore, MockProvider, MongoStore, SqliteStore, Store};
use convo::server::{Application, Config};
use reqwest::{Method, Response};
use serde_json::{json, Value};

pub use crate::client::{json_with_status, new_client, plain_client};
use crate::fixture;
pub use crate::fixture::{unique_email, Fixture, PASSWORD};
pub use crate::server::{serve, test_config, RunningServer};
pub use crate::sse::{deltas, names, parse_sse, SseEvent};

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
    _server: RunningServer,
    /// Where the store keeps its data: how another server opens it.
    pub location: StoreLocation,
    /// The SQLite file of this server, if any, removed when the test ends.
    _file: Option<TempDatabase>,
}

/// Where a test server's store keeps its data.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// In this process only: another server shares the same store value.
    Memory,
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A MongoDB database.
    Mongo {
        /// The server.
        uri: String,
        /// The database.
        db: String,
    },
}

/// A server with the default configuration and a default mock.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(MockProvider::new(), |_| {}).await
}

/// A server with this mock and configuration changes.
pub async fn spawn_app_with(mock: MockProvider, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_inspecting(mock, configure, |_| {}).await
}

/// Like [`spawn_app_with`], handing the built server to `inspect` before it
/// runs (for handles it offers, e.g. its single sign-on clock).
pub async fn spawn_app_inspecting(
    mock: MockProvider,
    configure: impl FnOnce(&mut Config),
    inspect: impl FnOnce(&Application),
) -> TestApp {
    let mut config = test_config(JWT_SECRET);
    configure(&mut config);
    let mock = Arc::new(mock);
    let (store, file, location) = located_test_store().await;
    // Measured, as the server measures its own store.
    let measured: Arc<dyn Store> =
        Arc::new(convo_core::store::InstrumentedStore::new(store.clone()));
    let convo = Convo::new(measured, mock.clone(), config.engine_settings());
    let app = Application::build_with(&config, convo)
        .await
        .expect("server builds");
    inspect(&app);
    let running = serve(app);
    TestApp {
        address: running.address.clone(),
        client: new_client(),
        mock,
        store,
        config,
        metrics_address: running.metrics_address.clone(),
        _server: running,
        location,
        _file: file,
    }
}

/// Another server over the same data as `app`, through a store handle of
/// its own (its own SQLite connections, its own MongoDB client): what a
/// second server process sees.
pub async fn spawn_second_server(app: &TestApp) -> RunningServer {
    let store: Arc<dyn Store> = match &app.location {
        StoreLocation::Memory => app.store.clone(),
        StoreLocation::Sqlite(path) => Arc::new(
            SqliteStore::open(path)
                .await
                .expect("open the first server's SQLite file"),
        ),
        StoreLocation::Mongo { uri, db } => Arc::new(
            MongoStore::connect(uri, db)
                .await
                .expect("connect to the first server's database"),
        ),
    };
    let convo = Convo::new(store, app.mock.clone(), app.config.engine_settings());
    let second = Application::build_with(&app.config, convo)
        .await
        .expect("second server builds");
    serve(second)
}

/// The store a test server runs on: the memory store, a fresh SQLite file
/// (`CONVO_TEST_API_STORE=sqlite`) with the guard that removes it, or a
/// fresh MongoDB database when the environment names a server.
pub async fn test_store() -> (Arc<dyn Store>, Option<TempDatabase>) {
    let (store, file, _) = located_test_store().await;
    (store, file)
}

/// [`test_store`], and where its data is.
async fn located_test_store() -> (Arc<dyn Store>, Option<TempDatabase>, StoreLocation) {
    if let Ok(uri) = std::env::var("CONVO_TEST_API_MONGODB_URI") {
        let db = format!("convo_api_{}", uuid::Uuid::now_v7().simple());
        let store = MongoStore::connect(&uri, &db)
            .await
            .expect("connect to the test MongoDB");
        return (Arc::new(store), None, StoreLocation::Mongo { uri, db });
    }
    match std::env::var("CONVO_TEST_API_STORE").as_deref() {
        Ok("sqlite") => {
            let file = TempDatabase::new();
            let store = SqliteStore::open(&file.path)
                .await
                .expect("open a SQLite file in the temp directory");
            let location = StoreLocation::Sqlite(file.path.clone());
            (Arc::new(store), Some(file), location)
        }
        Ok("memory") | Err(_) => (Arc::new(MemoryStore::new()), None, StoreLocation::Memory),
        Ok(other) => panic!("CONVO_TEST_API_STORE={other}: only `sqlite` or `memory`"),
    }
}

/// A SQLite file of one test server in the temp directory; dropping it
/// removes the file and its WAL companions.
pub struct TempDatabase {
    /// The database file.
    pub path: PathBuf,
}

impl TempDatabase {
    fn new() -> Self {
        let name = format!("convo-api-{}.db", uuid::Uuid::now_v7().simple());
        Self {
            path: std::env::temp_dir().join(name),
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
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
        fixture::register(client, &self.address, email, password).await
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
        fixture::create_project(client, &self.address, name).await
    }

    /// Creates an agent from `body`, asserting 201.
    pub async fn create_agent(
        &self,
        client: &reqwest::Client,
        project_id: &str,
        body: &Value,
    ) -> Value {
        fixture::create_agent(client, &self.address, project_id, body).await
    }

    /// Starts a chat session with no body, asserting 201.
    pub async fn start_chat(&self, client: &reqwest::Client, agent_id: &str) -> Value {
        fixture::start_chat(client, &self.address, agent_id).await
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
        fixture::fixture(client, &self.address, &agent).await
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
