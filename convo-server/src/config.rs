//! Configuration: command-line flags, each also an environment variable
//! (and so settable in a `.env` file in the working directory).
//!
//! This is the only module that reads the environment. Every setting is
//! checked at startup by [`Config::validate`] (in `validate`); secrets are
//! held in types whose `Debug` hides them (`secret`), so `{config:?}` is
//! safe to log.

mod oidc;
mod secret;
mod store;
mod validate;

use std::net::SocketAddr;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use secret::{Secret, StoreUri};
pub use store::{StoreChoice, StoreChoiceError, DEFAULT_STORE};
pub use validate::{Invalid, InvalidConfig, MIN_JWT_SECRET_CHARS};

/// Convo's REST server: multi-tenant chat agents over HTTP, with Swagger UI at /docs.
///
/// Every flag can also be set through the environment variable shown, or in a
/// `.env` file in the working directory.
#[derive(Debug, Clone, Parser)]
#[command(name = "convo-server", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CONVO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve `/metrics` (Prometheus text format) on this address instead of
    /// beside the API, keeping it off the public surface.
    #[arg(long, env = "CONVO_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Where data lives: a SQLite file (`sqlite://PATH`, relative to the
    /// working directory, or `sqlite:///absolute/path`), `memory` (lost on
    /// exit) or a `mongodb://` URI. `MONGODB_URI` is read too when this is not set.
    #[arg(long, env = "CONVO_STORE", default_value = DEFAULT_STORE)]
    pub store: StoreUri,

    /// Google Gemini API key. Without one, replies come from the built-in mock model.
    #[arg(long, env = "GEMINI_API_KEY", hide_env_values = true)]
    pub gemini_api_key: Option<Secret>,

    /// Default model of new agents (whatever their provider: a Gemini model id, or
    /// `openai:<model>`). Checked once at startup when a Gemini key is set.
    #[arg(long, env = "GEMINI_MODEL", default_value = convo_core::DEFAULT_MODEL)]
    pub default_model: String,

    /// Base URL of the Gemini API (for proxies and test doubles).
    #[arg(long, env = "GEMINI_BASE_URL")]
    pub gemini_base_url: Option<String>,

    /// Overall time budget of one model call, retries included, in milliseconds.
    #[arg(long, env = "GEMINI_TIMEOUT_MS", default_value_t = 60_000)]
    pub gemini_timeout_ms: u64,

    /// Time to connect to Gemini, in milliseconds.
    #[arg(long, env = "GEMINI_CONNECT_TIMEOUT_MS", default_value_t = 10_000)]
    pub gemini_connect_timeout_ms: u64,

    /// Time from sending a request to Gemini's first byte, in milliseconds.
    #[arg(long, env = "GEMINI_FIRST_BYTE_TIMEOUT_MS", default_value_t = 30_000)]
    pub gemini_first_byte_timeout_ms: u64,

    /// Longest silence between two chunks of a streamed answer, in milliseconds.
    #[arg(long, env = "GEMINI_IDLE_TIMEOUT_MS", default_value_t = 30_000)]
    pub gemini_idle_timeout_ms: u64,

    /// Attempts per model call (429, 500, 503 and broken connections are retried
    /// before the answer starts), the first included.
    #[arg(long, env = "GEMINI_MAX_ATTEMPTS", default_value_t = 3)]
    pub gemini_max_attempts: u32,

    /// Backoff base in milliseconds (full jitter, doubling per attempt).
    #[arg(long, env = "GEMINI_RETRY_BASE_MS", default_value_t = 500)]
    pub gemini_retry_base_ms: u64,

    /// Longest wait between attempts, also capping Gemini's own `retryDelay`, in milliseconds.
    #[arg(long, env = "GEMINI_RETRY_MAX_DELAY_MS", default_value_t = 10_000)]
    pub gemini_retry_max_delay_ms: u64,

    /// Base URL of an OpenAI-compatible Chat Completions API, up to the version
    /// (e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`). When
    /// set, agents whose model is `openai:<model>` are answered there.
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,

    /// API key for `OPENAI_BASE_URL`, sent as a Bearer token (none when unset).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,

    /// Secret that signs login tokens (HS256). When unset: with a SQLite
    /// store, generated once and kept in `<database file>.jwt-secret`; with
    /// the memory store, random at each start; MongoDB requires one.
    #[arg(long, env = "CONVO_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// An OpenID Connect issuer whose bearer JWTs (RS256, ES256) are also
    /// accepted, exactly as its tokens' `iss` says (e.g.
    /// `https://id.example.com/realms/main`); `https` unless on a loopback
    /// address. Each token's user is found or created by `(issuer, sub)`.
    /// Unset: only Convo's own tokens.
    #[arg(long, env = "CONVO_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The audience OIDC tokens must name in `aud` (this API's client id at
    /// the issuer). Required with `CONVO_OIDC_ISSUER`.
    #[arg(long, env = "CONVO_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,

    /// The issuer's JWKS URL (its signing keys). Unset: the `jwks_uri` of
    /// the issuer's discovery document (`<issuer>/.well-known/openid-configuration`).
    #[arg(long, env = "CONVO_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,

    /// Lifetime of a login token (and its cookie), in seconds.
    #[arg(long, env = "CONVO_TOKEN_TTL_SECS", default_value_t = 86_400)]
    pub token_ttl_secs: u64,

    /// Lease of a session's turn lock, in seconds: renewed while a turn runs,
    /// so it only matters when a server dies mid-turn (the session is free
    /// again this long after).
    #[arg(long, env = "CONVO_TURN_LEASE_SECS", default_value_t = 120)]
    pub turn_lease_secs: u64,

    /// Seconds one turn may take, all its model calls and tool rounds together
    /// (each tool's own timeout is cut to what is left); past it the turn is a 504
    /// `llm_timeout`. A turn paused for client tools starts afresh when resumed.
    #[arg(long, env = "CONVO_TURN_TIMEOUT_SECS", default_value_t = 300)]
    pub turn_timeout_secs: u64,

    /// Tokens each user may spend per calendar month (UTC, as the model
    /// provider reports them); over it, sends get 429 `quota_exceeded`. 0: no budget.
    #[arg(long, env = "CONVO_MONTHLY_TOKEN_BUDGET", default_value_t = 0)]
    pub monthly_token_budget: u64,

    /// Turns one user may have running at once on this server; more get 429
    /// `rate_limited`. 0: no limit.
    #[arg(long, env = "CONVO_MAX_CONCURRENT_TURNS", default_value_t = 0)]
    pub max_concurrent_turns: usize,

    /// Let webhook tools call loopback, private and link-local addresses, and plain
    /// `http` URLs (for tests and on-premise tools). Off by default, so an agent's
    /// webhook cannot reach the server's own network.
    #[arg(
        long,
        env = "CONVO_TOOLS_ALLOW_PRIVATE_NETWORKS",
        default_value_t = false
    )]
    pub tools_allow_private_networks: bool,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CONVO_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds a client has to send a request's headers, counted from its
    /// first byte (or from connecting); a connection that is late is closed.
    /// 0: no limit.
    #[arg(long, env = "CONVO_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Seconds a client has to send a request's body once its headers are
    /// in; a late body is answered `408 request_timeout`. 0: no limit.
    #[arg(long, env = "CONVO_BODY_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub body_read_timeout_secs: u64,

    /// Seconds of silence (nothing read or written) after which a connection
    /// is closed; a response being written finishes first. 0: never.
    #[arg(long, env = "CONVO_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Browser origins allowed to call the API with the login cookie (CORS),
    /// comma-separated and exact, e.g. `https://app.example.com`. Empty: no
    /// CORS headers at all. Wildcards are refused.
    #[arg(long, env = "CONVO_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Context window (messages sent to the model, the new one included) for
    /// agents created without one.
    #[arg(long, env = "CONVO_CONTEXT_MESSAGES", default_value_t = 20)]
    pub context_messages: u32,

    /// Whether the login cookie is `Secure`. `auto`: unless listening on a loopback address.
    #[arg(long, env = "CONVO_COOKIE_SECURE", value_enum, default_value_t = CookieSecure::Auto)]
    pub cookie_secure: CookieSecure,

    /// Failed logins allowed per minute, per e-mail and per client address, before 429.
    #[arg(long, env = "CONVO_LOGIN_FAILURES_PER_MINUTE", default_value_t = 10)]
    pub login_failures_per_minute: u32,

    /// Seconds between keep-alive comments on a silent event stream.
    #[arg(long, env = "CONVO_SSE_KEEP_ALIVE_SECS", default_value_t = 15)]
    pub sse_keep_alive_secs: u64,

    /// On SIGTERM/SIGINT, seconds to let in-flight requests and streams finish.
    #[arg(long, env = "CONVO_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Mock model only: milliseconds before the first chunk of a reply (for demos and load tests).
    #[arg(long, env = "CONVO_MOCK_LATENCY_MS", default_value_t = 0)]
    pub mock_latency_ms: u64,

    /// Mock model only: how many chunks a streamed reply comes in.
    #[arg(long, env = "CONVO_MOCK_CHUNKS", default_value_t = 4)]
    pub mock_chunks: usize,

    /// Mock model only: milliseconds between streamed chunks.
    #[arg(long, env = "CONVO_MOCK_CHUNK_DELAY_MS", default_value_t = 0)]
    pub mock_chunk_delay_ms: u64,

    /// Log filter, e.g. `info` or `convo_server=debug,info`.
    #[arg(long, env = "CONVO_LOG", default_value = "info")]
    pub log: String,

    /// Log as JSON lines instead of text.
    #[arg(long, env = "CONVO_LOG_JSON", default_value_t = false)]
    pub log_json: bool,

    /// Print the OpenAPI document and exit (same as the `openapi` command).
    #[arg(long)]
    pub print_openapi: bool,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print the OpenAPI document (the checked-in `openapi.json`) and exit.
    Openapi,
}

/// The `Secure` attribute of the login cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CookieSecure {
    /// Secure unless the server listens on a loopback address.
    Auto,
    /// Always Secure (behind HTTPS).
    True,
    /// Never Secure (plain HTTP on a trusted network).
    False,
}

impl Config {
    /// Reads flags, the environment and `.env` (the process's own configuration).
    pub fn from_env() -> Self {
        // A missing .env is normal; a malformed one is worth a warning once logging is up.
        let _ = dotenvy::dotenv();
        let matches = Self::command()
            .try_get_matches()
            .unwrap_or_else(|e| exit_naming_variable(e));
        let mut config =
            Self::from_arg_matches(&matches).unwrap_or_else(|e| exit_naming_variable(e));
        // MongoDB's conventional variable counts only when CONVO_STORE (flag
        // or variable) was not given at all: an explicit choice wins.
        if matches.value_source("store") == Some(ValueSource::DefaultValue) {
            if let Ok(uri) = std::env::var("MONGODB_URI") {
                if !uri.trim().is_empty() {
                    config.store = uri.into();
                }
            }
        }
        config
    }

    /// The defaults, with no flags and no environment: what tests start from
    /// (the store included: a test that builds the store from the
    /// configuration chooses `memory` or a file of its own).
    pub fn defaults() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            store: DEFAULT_STORE.into(),
            gemini_api_key: None,
            default_model: convo_core::DEFAULT_MODEL.into(),
            gemini_base_url: None,
            gemini_timeout_ms: 60_000,
            gemini_connect_timeout_ms: 10_000,
            gemini_first_byte_timeout_ms: 30_000,
            gemini_idle_timeout_ms: 30_000,
            gemini_max_attempts: 3,
            gemini_retry_base_ms: 500,
            gemini_retry_max_delay_ms: 10_000,
            openai_base_url: None,
            openai_api_key: None,
            jwt_secret: None,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_jwks_url: None,
            token_ttl_secs: 86_400,
            turn_lease_secs: 120,
            turn_timeout_secs: 300,
            monthly_token_budget: 0,
            max_concurrent_turns: 0,
            tools_allow_private_networks: false,
            max_body_bytes: 1024 * 1024,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            idle_timeout_secs: 60,
            cors_origins: Vec::new(),
            context_messages: 20,
            cookie_secure: CookieSecure::Auto,
            login_failures_per_minute: 10,
            sse_keep_alive_secs: 15,
            shutdown_grace_secs: 30,
            mock_latency_ms: 0,
            mock_chunks: 4,
            mock_chunk_delay_ms: 0,
            log: "info".into(),
            log_json: false,
            print_openapi: false,
            command: None,
        }
    }

    /// Whether the login cookie gets the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        match self.cookie_secure {
            CookieSecure::Auto => !self.listen.ip().is_loopback(),
            CookieSecure::True => true,
            CookieSecure::False => false,
        }
    }

    /// The Gemini provider's settings, when a key is configured.
    pub fn gemini(&self) -> Option<convo_core::llm::gemini::GeminiConfig> {
        use convo_core::llm::gemini::{GeminiConfig, RetryPolicy, DEFAULT_BASE_URL};
        let key = self
            .gemini_api_key
            .as_ref()
            .map(|k| k.expose().trim())
            .filter(|k| !k.is_empty())?;
        let ms = Duration::from_millis;
        Some(GeminiConfig {
            api_key: key.to_owned(),
            base_url: self
                .gemini_base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            connect_timeout: ms(self.gemini_connect_timeout_ms),
            first_byte_timeout: ms(self.gemini_first_byte_timeout_ms),
            idle_timeout: ms(self.gemini_idle_timeout_ms),
            deadline: ms(self.gemini_timeout_ms),
            retry: RetryPolicy {
                max_attempts: self.gemini_max_attempts.max(1),
                base_delay: ms(self.gemini_retry_base_ms),
                max_delay: ms(self.gemini_retry_max_delay_ms),
            },
        })
    }

    /// The OpenAI-compatible provider's settings, when a base URL is configured.
    pub fn openai(&self) -> Option<convo_core::llm::openai::OpenAiConfig> {
        let base_url = self
            .openai_base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())?;
        let mut config = convo_core::llm::openai::OpenAiConfig::new(base_url);
        config.api_key = self
            .openai_api_key
            .as_ref()
            .map(|k| k.expose().trim())
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        Some(config)
    }

    /// The engine settings this configuration asks for.
    pub fn engine_settings(&self) -> convo_core::Settings {
        convo_core::Settings {
            default_model: self.default_model.clone(),
            default_context_messages: self.context_messages,
            max_message_bytes: self.max_body_bytes,
            turn_lease: Duration::from_secs(self.turn_lease_secs.max(1)),
            turn_timeout: Duration::from_secs(self.turn_timeout_secs.max(1)),
            monthly_token_budget: Some(self.monthly_token_budget).filter(|b| *b > 0),
            max_concurrent_turns: Some(self.max_concurrent_turns).filter(|n| *n > 0),
            tools_allow_private_networks: self.tools_allow_private_networks,
            ..convo_core::Settings::default()
        }
    }

    /// How long a client may take to send a request's headers (`None`: for ever).
    pub fn header_read_timeout(&self) -> Option<Duration> {
        nonzero_secs(self.header_read_timeout_secs)
    }

    /// How long a client may take to send a request's body (`None`: for ever).
    pub fn body_read_timeout(&self) -> Option<Duration> {
        nonzero_secs(self.body_read_timeout_secs)
    }

    /// How long a silent connection is kept open (`None`: for ever).
    pub fn idle_timeout(&self) -> Option<Duration> {
        nonzero_secs(self.idle_timeout_secs)
    }

    /// Token lifetime.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs.max(1))
    }
}

/// Exits as clap would on a parse error, but first names the environment
/// variable behind the bad value: clap names only the flag, and most
/// deployments set the variable.
fn exit_naming_variable(error: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue};
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => error.exit(),
    };
    let command = Config::command();
    let var = command
        .get_arguments()
        .find(|a| {
            a.get_long().is_some_and(|long| {
                flag.starts_with(&format!("--{long} ")) || flag == format!("--{long}")
            })
        })
        .and_then(|a| a.get_env())
        .and_then(|v| v.to_str());
    if let Some(var) = var {
        eprintln!("error: {var} (or {flag}) has an invalid value:");
    }
    error.exit()
}

/// `secs` seconds, or `None` for 0 (no limit).
fn nonzero_secs(secs: u64) -> Option<Duration> {
    (secs > 0).then_some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests;
