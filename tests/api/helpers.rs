//! `spawn_app()`: the real server, in-process on port 0, with the memory
//! store and a mock model the test can script and inspect.

#![allow(dead_code)]

use std::sync::Arc;

use convo::core::{Convo, MemoryStore, MockProvider, Settings};
use convo::server::{Application, Config};
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
    pub store: Arc<MemoryStore>,
    /// The configuration the server runs with.
    pub config: Config,
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
    config.jwt_secret = Some(JWT_SECRET.to_owned());
    configure(&mut config);
    let mock = Arc::new(mock);
    let store = Arc::new(MemoryStore::new());
    let settings = Settings {
        default_model: config.gemini_model.clone(),
        default_context_messages: config.context_messages,
        max_message_bytes: config.max_body_bytes,
        ..Settings::default()
    };
    let convo = Convo::new(store.clone(), mock.clone(), settings);
    let app = Application::build_with(&config, convo)
        .await
        .expect("server builds");
    let address = format!("http://{}", app.local_addr());
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
        _shutdown: tx,
    }
}

/// A fresh client with its own cookie jar (a second user, or no user).
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}
