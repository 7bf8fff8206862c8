//! Building and running the server: the same path for `main` and for tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use convo_core::store::InstrumentedStore;
use convo_core::{
    Convo, LlmProvider, MemoryStore, MockProvider, MongoStore, Settings, SqliteLocation,
    SqliteStore, Store,
};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::CatchPanic;
use poem::{EndpointExt, IntoResponse, Route, Server};

use crate::api;
use crate::config::{Config, StoreChoice};
use crate::credentials::oidc::{Clock, OidcVerifier};
use crate::credentials::{
    kept_secret, secret_file_beside, FailureLimiter, JwtKeys, SecretFileError,
};
use crate::http::connection::{Connections, GuardedAcceptor};
use crate::http::cors::{AllowedOrigins, CorsGate};
use crate::http::error::{ApiError, PanicToEnvelope};
use crate::http::headers::{security_headers, DocsPolicy};
use crate::http::middleware::{body_limit, request_context};
use crate::http::routes::RouteTable;
use crate::state::{AppState, StateInner};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration cannot work; the message says how to fix it.
    #[error("configuration error: {0}")]
    Config(String),
    /// Settings out of their allowed values ([`Config::validate`]).
    #[error("invalid configuration: {0}")]
    Invalid(#[from] crate::config::InvalidConfig),
    /// The signing secret kept beside a SQLite database could be neither
    /// read nor made.
    #[error(transparent)]
    SecretFile(#[from] SecretFileError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A server bound to its socket, ready to run.
pub struct Application {
    acceptor: GuardedAcceptor,
    addr: SocketAddr,
    /// `/metrics` on an address of its own (`CONVO_METRICS_LISTEN`).
    metrics: Option<(poem::listener::TcpAcceptor, SocketAddr)>,
    state: AppState,
    http: HttpOptions,
    idle_timeout: Option<Duration>,
    grace: Duration,
}

/// How the HTTP layer treats clients, beyond what the engine decides.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Browser origins allowed to make credentialed cross-origin requests.
    pub cors_origins: AllowedOrigins,
    /// How long a request body may take to arrive (`None`: for ever).
    pub body_read_timeout: Option<Duration>,
    /// The open connections, whose head deadlines the middleware tends.
    pub connections: Connections,
    /// Serve `/metrics` beside the API (when it has no listener of its own).
    pub metrics_on_main: bool,
}

impl Application {
    /// Builds the engine the configuration asks for, then the server.
    pub async fn build(config: &Config) -> Result<Self, StartupError> {
        // Refuse bad settings before connecting to anything.
        config.validate()?;
        let store = build_store(config).await?;
        let llm = build_llm(config)?;
        let llm = route_models(config, llm)?;
        if config.gemini().is_some() {
            spawn_default_model_check(Arc::clone(&llm), config.default_model.clone());
        }
        let convo = Convo::try_new(store, llm, config.engine_settings())
            .map_err(|e| StartupError::Config(e.to_string()))?;
        Self::build_with(config, convo).await
    }

    /// Builds the server around an engine made by the caller (tests, embedders).
    pub async fn build_with(config: &Config, convo: Convo) -> Result<Self, StartupError> {
        config.validate()?;
        let secret = jwt_secret(config)?;
        let cors_origins = AllowedOrigins::parse(&config.cors_origins)
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let jwt = JwtKeys::new(&secret, config.token_ttl())
            .map_err(|e| StartupError::Config(format!("unusable CONVO_JWT_SECRET: {e}")))?;
        let oidc = config
            .oidc()
            .map(|settings| {
                tracing::info!(issuer = %settings.issuer, audience = %settings.audience, "single sign-on: the OIDC issuer's bearer tokens are accepted");
                OidcVerifier::new(settings)
            })
            .transpose()
            .map_err(|e| StartupError::Config(format!("cannot set up single sign-on: {e}")))?;
        let state = AppState::new(StateInner {
            convo,
            jwt,
            oidc,
            login_failures: FailureLimiter::new(
                config.login_failures_per_minute,
                Duration::from_secs(60),
            ),
            key_failures: FailureLimiter::new(
                config.login_failures_per_minute,
                Duration::from_secs(60),
            ),
            secure_cookies: config.secure_cookies(),
            sse_keep_alive: Duration::from_secs(config.sse_keep_alive_secs.max(1)),
            max_body_bytes: config.max_body_bytes,
        });
        let http = HttpOptions {
            cors_origins,
            body_read_timeout: config.body_read_timeout(),
            connections: Connections::default(),
            metrics_on_main: config.metrics_listen.is_none(),
        };
        let metrics = match config.metrics_listen {
            None => None,
            Some(addr) => {
                let acceptor = TcpListener::bind(addr)
                    .into_acceptor()
                    .await
                    .map_err(|source| StartupError::Bind { addr, source })?;
                let bound = acceptor
                    .local_addr()
                    .first()
                    .and_then(|a| a.as_socket_addr().copied())
                    .unwrap_or(addr);
                tracing::info!(address = %bound, "metrics on their own listener");
                Some((acceptor, bound))
            }
        };
        let acceptor = TcpListener::bind(config.listen)
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.listen,
                source,
            })?;
        let acceptor = GuardedAcceptor::new(
            acceptor,
            http.connections.clone(),
            config.header_read_timeout(),
        );
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(config.listen);
        Ok(Self {
            acceptor,
            addr,
            metrics,
            state,
            http,
            idle_timeout: config.idle_timeout(),
            grace: Duration::from_secs(config.shutdown_grace_secs),
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The clock of the single sign-on key cache's refresh limit, when an
    /// OIDC issuer is configured: tests move it forward instead of waiting.
    pub fn oidc_clock(&self) -> Option<Clock> {
        self.state.oidc.as_ref().map(|oidc| oidc.clock().clone())
    }

    /// The metrics listener's address, when `/metrics` has one of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests and streams finish for up to the grace period.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = routes_with(self.state, self.http);
        // Drains histogram samples whether or not anyone scrapes; stops with the server.
        let _upkeep = crate::http::metrics::upkeep();
        let metrics = self.metrics.map(|(acceptor, _)| {
            tokio::spawn(
                Server::new_with_acceptor(acceptor)
                    .run(Route::new().at("/metrics", crate::http::metrics::endpoint)),
            )
        });
        let server = Server::new_with_acceptor(self.acceptor);
        let server = match self.idle_timeout {
            Some(timeout) => server.idle_timeout(timeout),
            None => server,
        };
        let served = server
            .run_with_graceful_shutdown(app, shutdown, Some(self.grace))
            .await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        served
    }
}

/// The whole HTTP surface over `state`, with no CORS and no body deadline.
pub fn routes(state: AppState) -> impl poem::Endpoint {
    routes_with(state, HttpOptions::default())
}

/// The whole HTTP surface over `state`, treating clients as `http` says.
pub fn routes_with(state: AppState, http: HttpOptions) -> impl poem::Endpoint {
    let limit = state.max_body_bytes;
    let body_read_timeout = http.body_read_timeout;
    let metrics_on_main = http.metrics_on_main;
    // Install the recorder before the first request is counted.
    let _ = crate::http::metrics::handle();
    let service = api::service(state.clone());
    let spec = service.spec_endpoint();
    let docs = service.swagger_ui();
    Route::new()
        .nest("/", service)
        // OpenAI's API over the agents: not in our OpenAPI document (api::v1).
        .nest("/v1", api::v1::routes())
        .nest("/docs", docs.with(DocsPolicy))
        .at("/openapi.json", spec)
        .at(
            "/metrics",
            poem::endpoint::make_sync(move |_| {
                if metrics_on_main {
                    crate::http::metrics::render()
                } else {
                    poem::http::StatusCode::NOT_FOUND.into_response()
                }
            }),
        )
        .around(move |ep, req| body_limit(ep, req, limit, body_read_timeout))
        .catch_all_error(|err: poem::Error| async move {
            if err.is_from_response() {
                err.into_response()
            } else {
                ApiError::from_poem(&err).into_response()
            }
        })
        .with(CatchPanic::new().with_handler(PanicToEnvelope))
        .with(CorsGate::new(http.cors_origins))
        .around(|ep, req| request_context(ep, req, RouteTable::api()))
        .around(security_headers)
        .data(http.connections)
        .data(state)
}

/// The OpenAPI document, as served at `/openapi.json` and checked in as `openapi.json`.
pub fn openapi_json() -> String {
    let convo = Convo::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MockProvider::new()),
        Settings::default(),
    );
    let state = AppState::new(StateInner {
        convo,
        // A constant, non-empty secret: the only way this can fail.
        jwt: JwtKeys::new(b"spec", Duration::from_secs(1)).expect("a non-empty secret"),
        oidc: None,
        login_failures: FailureLimiter::new(0, Duration::from_secs(60)),
        key_failures: FailureLimiter::new(0, Duration::from_secs(60)),
        secure_cookies: false,
        sse_keep_alive: Duration::from_secs(15),
        max_body_bytes: 0,
    });
    api::service(state).spec()
}

async fn build_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    // Config::validate refused anything else; this answers embedders who skip it.
    let choice = config.store.choice().map_err(|e| {
        StartupError::Config(format!("CONVO_STORE={} is not allowed: {e}", config.store))
    })?;
    match choice {
        StoreChoice::Memory => {
            tracing::info!("store: in-memory (data is lost when the server stops)");
            Ok(Arc::new(InstrumentedStore::new(Arc::new(
                MemoryStore::new(),
            ))))
        }
        StoreChoice::Sqlite(location) => {
            let store = SqliteStore::open_location(location.clone())
                .await
                .map_err(|e| {
                    StartupError::Config(format!("cannot use the SQLite store {location}: {e}"))
                })?;
            tracing::info!(
                path = %absolute(location.path()).display(),
                read_only = location.is_read_only(),
                "store: SQLite (data is kept in this file; CONVO_STORE=memory for a throwaway run)"
            );
            Ok(Arc::new(InstrumentedStore::new(Arc::new(store))))
        }
        StoreChoice::Mongo => {
            let uri = config.store.as_str();
            let database = MongoStore::database_in_uri(uri).unwrap_or_else(|| "convo".to_owned());
            let store = MongoStore::connect(uri, &database)
                .await
                .map_err(|e| StartupError::Config(format!("cannot use the MongoDB store: {e}")))?;
            tracing::info!(database = %database, transactions = store.uses_transactions(), "store: MongoDB");
            Ok(Arc::new(InstrumentedStore::new(Arc::new(store))))
        }
    }
}

/// `path` made absolute (against the working directory), for logs that say
/// where the data is whatever directory the reader is in.
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Puts the providers behind a [`RouterProvider`](convo_core::RouterProvider):
/// `openai:<model>` goes to the OpenAI-compatible API when `OPENAI_BASE_URL`
/// is set, every other model to `default`, and any other `prefix:` is refused
/// at agent creation (422 `model`).
fn route_models(
    config: &Config,
    default: Arc<dyn LlmProvider>,
) -> Result<Arc<dyn LlmProvider>, StartupError> {
    let mut router = convo_core::RouterProvider::new(default);
    if let Some(openai) = config.openai() {
        tracing::info!(base_url = %openai.base_url, "model: `openai:<model>` agents use the OpenAI-compatible API");
        let provider = convo_core::llm::openai::OpenAiCompatProvider::new(openai).map_err(|e| {
            StartupError::Config(format!("cannot set up the OpenAI-compatible client: {e}"))
        })?;
        router = router.route("openai", Arc::new(provider));
    }
    Ok(Arc::new(router))
}

/// Asks the provider, once and in the background, whether the default model
/// exists, so that a retired or misspelt `GEMINI_MODEL` is reported loudly at
/// startup rather than by the first user's message. Startup never waits for
/// it nor fails on it.
fn spawn_default_model_check(llm: Arc<dyn LlmProvider>, model: String) {
    tokio::spawn(async move {
        match llm.check_model(&model).await {
            Ok(()) => tracing::info!(%model, "the default model is served"),
            Err(convo_core::LlmError::Provider(message)) => tracing::error!(
                %model,
                "THE DEFAULT MODEL IS NOT AVAILABLE: agents using it will fail with 502 llm_error \
                 until GEMINI_MODEL (or their `model`) names a current model. {message}"
            ),
            Err(e) => tracing::warn!(
                %model,
                error = %e,
                "could not check the default model now; it is tried again with the first message"
            ),
        }
    });
}

fn build_llm(config: &Config) -> Result<Arc<dyn LlmProvider>, StartupError> {
    match config.gemini() {
        Some(gemini) => {
            tracing::info!(base_url = %gemini.base_url, default_model = %config.default_model, "model: Gemini");
            let provider = convo_core::llm::gemini::GeminiProvider::new(gemini).map_err(|e| {
                StartupError::Config(format!("cannot set up the Gemini client: {e}"))
            })?;
            Ok(Arc::new(provider))
        }
        None => {
            tracing::info!("model: the built-in mock (replies `echo: <your message>`); set GEMINI_API_KEY for Gemini");
            let mock = MockProvider::new()
                .with_latency(Duration::from_millis(config.mock_latency_ms))
                .with_chunks(config.mock_chunks)
                .with_chunk_delay(Duration::from_millis(config.mock_chunk_delay_ms))
                .without_recording();
            Ok(Arc::new(mock))
        }
    }
}

/// The configured signing secret (its length and the store's need for one
/// were checked by [`Config::validate`]); else, on SQLite, the one kept
/// beside the database (generated on the first start); else a random one.
fn jwt_secret(config: &Config) -> Result<Vec<u8>, StartupError> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    if let Some(location) = config.store.sqlite() {
        return Ok(kept_jwt_secret(&location)?.into_bytes());
    }
    tracing::warn!(
        "CONVO_JWT_SECRET is not set: using a random secret, so tokens die with this process"
    );
    let secret: [u8; 32] = rand::random();
    Ok(secret.to_vec())
}

/// The secret kept beside the SQLite database; the log says where, never what.
fn kept_jwt_secret(location: &SqliteLocation) -> Result<String, SecretFileError> {
    let path = secret_file_beside(location.path());
    let kept = kept_secret(&path)?;
    let shown = absolute(&path);
    if kept.generated {
        tracing::info!(
            path = %shown.display(),
            "CONVO_JWT_SECRET is not set: generated a signing secret and kept it beside the database (owner-only file); logins survive restarts"
        );
    } else {
        tracing::info!(path = %shown.display(), "CONVO_JWT_SECRET is not set: using the signing secret kept beside the database");
    }
    Ok(kept.secret)
}
