//! [`Config::validate`]: every setting checked once, at startup, so a value
//! that cannot work stops the server with its name, its value and what is
//! allowed, instead of surfacing later as an error a client cannot explain.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::{Config, StoreChoice};

/// One setting whose value cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value} is not allowed: {allowed}")]
pub struct Invalid {
    /// The environment variable (the flag is its lower-case, dashed form).
    pub var: &'static str,
    /// The value given (secrets described, never shown).
    pub value: String,
    /// What would be accepted.
    pub allowed: String,
}

/// Every setting found wrong, reported together so one restart fixes all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidConfig(pub Vec<Invalid>);

impl InvalidConfig {
    /// Whether `var` is among the settings found wrong.
    pub fn names(&self, var: &str) -> bool {
        self.0.iter().any(|i| i.var == var)
    }
}

/// Upper bound of every millisecond timeout of a model call: 10 minutes.
const MAX_MODEL_MS: u64 = 600_000;
/// Upper bound of the connection timeouts and the shutdown grace: 1 hour.
const MAX_CONNECTION_SECS: u64 = 3_600;
/// Shortest turn lease: a running turn renews it every third of it, so at
/// 3 s one missed renewal still leaves a second before another server may
/// take the session.
const MIN_TURN_LEASE_SECS: u64 = 3;
/// Shortest token lifetime: below a minute a client logs in all the time
/// (and the verifier's 5 s leeway is a sizeable share of it).
const MIN_TOKEN_TTL_SECS: u64 = 60;
/// Longest token lifetime: a year.
const MAX_TOKEN_TTL_SECS: u64 = 365 * 24 * 3_600;
/// Smallest body limit: smaller refuses ordinary requests (a login is ~100 bytes,
/// an agent with a prompt far more).
const MIN_BODY_BYTES: usize = 1_024;
/// Largest body limit: each request body is held in memory whole.
const MAX_BODY_BYTES: usize = 1 << 30;
/// Shortest accepted JWT secret (HS256 wants at least its 256-bit output).
pub const MIN_JWT_SECRET_CHARS: usize = 32;

/// The problems found so far.
#[derive(Default)]
pub(super) struct Checks(Vec<Invalid>);

impl Checks {
    /// Records `var` as invalid unless `ok`.
    pub(super) fn require(
        &mut self,
        ok: bool,
        var: &'static str,
        value: impl Display,
        allowed: impl Display,
    ) {
        if !ok {
            self.0.push(Invalid {
                var,
                value: value.to_string(),
                allowed: allowed.to_string(),
            });
        }
    }

    /// Records `var` as invalid unless `value` is in `range`; `note` says
    /// what the bounds mean.
    fn within<T: PartialOrd + Display>(
        &mut self,
        var: &'static str,
        value: T,
        range: RangeInclusive<T>,
        note: &str,
    ) {
        let allowed = format!("{} to {}{note}", range.start(), range.end());
        self.require(range.contains(&value), var, value, allowed);
    }

    /// Like [`Checks::within`], where 0 also means "no limit".
    fn zero_or_within(&mut self, var: &'static str, value: u64, range: RangeInclusive<u64>) {
        let allowed = format!("0 (no limit) or {} to {}", range.start(), range.end());
        self.require(value == 0 || range.contains(&value), var, value, allowed);
    }

    /// Records `var` as invalid unless `value` (when set) is an http(s) URL with a host.
    fn http_url(&mut self, var: &'static str, value: Option<&str>) {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return;
        };
        let ok = url::Url::parse(value)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        self.require(ok, var, value, "an http:// or https:// URL with a host");
    }
}

impl Config {
    /// Checks every setting and the relations between them; the error lists
    /// each setting that cannot work. [`crate::Application`] runs it before
    /// building anything.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let mut c = Checks::default();
        self.check_network(&mut c);
        self.check_store_and_secrets(&mut c);
        self.check_models(&mut c);
        self.check_limits(&mut c);
        self.check_engine(&mut c);
        self.check_oidc(&mut c);
        if c.0.is_empty() {
            Ok(())
        } else {
            Err(InvalidConfig(c.0))
        }
    }

    fn check_network(&self, c: &mut Checks) {
        if let Some(metrics) = self.metrics_listen {
            c.require(
                metrics != self.listen || metrics.port() == 0,
                "CONVO_METRICS_LISTEN",
                metrics,
                "an address other than CONVO_LISTEN's (unset keeps /metrics beside the API)",
            );
        }
        let secs = 1..=MAX_CONNECTION_SECS;
        c.zero_or_within(
            "CONVO_HEADER_READ_TIMEOUT_SECS",
            self.header_read_timeout_secs,
            secs.clone(),
        );
        c.zero_or_within(
            "CONVO_BODY_READ_TIMEOUT_SECS",
            self.body_read_timeout_secs,
            secs.clone(),
        );
        c.zero_or_within(
            "CONVO_IDLE_TIMEOUT_SECS",
            self.idle_timeout_secs,
            secs.clone(),
        );
        c.within(
            "CONVO_SSE_KEEP_ALIVE_SECS",
            self.sse_keep_alive_secs,
            secs,
            " seconds",
        );
        c.within(
            "CONVO_SHUTDOWN_GRACE_SECS",
            self.shutdown_grace_secs,
            0..=MAX_CONNECTION_SECS,
            " seconds",
        );
        if let Err(e) = crate::http::cors::AllowedOrigins::parse(&self.cors_origins) {
            c.require(false, "CONVO_CORS_ORIGINS", self.cors_origins.join(","), e);
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            c.require(
                false,
                "CONVO_LOG",
                &self.log,
                format_args!("a log filter like `info` or `convo_server=debug,info` ({e})"),
            );
        }
    }

    fn check_store_and_secrets(&self, c: &mut Checks) {
        let choice = self.store.choice();
        if let Err(e) = &choice {
            c.require(false, "CONVO_STORE", &self.store, e);
        }
        match &self.jwt_secret {
            Some(secret) => {
                let chars = secret.expose().chars().count();
                c.require(
                    chars >= MIN_JWT_SECRET_CHARS,
                    "CONVO_JWT_SECRET",
                    format_args!("(hidden, {chars} characters)"),
                    format_args!("at least {MIN_JWT_SECRET_CHARS} characters"),
                );
            }
            // Memory: nothing outlives the process, a random secret is fine.
            // SQLite: the secret is kept in a file beside the database.
            None => c.require(
                !matches!(choice, Ok(StoreChoice::Mongo)),
                "CONVO_JWT_SECRET",
                "(unset)",
                format_args!(
                    "a MongoDB store needs CONVO_JWT_SECRET ({MIN_JWT_SECRET_CHARS}+ characters), the same on every server, or every restart logs everyone out"
                ),
            ),
        }
        c.within(
            "CONVO_TOKEN_TTL_SECS",
            self.token_ttl_secs,
            MIN_TOKEN_TTL_SECS..=MAX_TOKEN_TTL_SECS,
            " seconds (a minute to a year)",
        );
    }

    fn check_models(&self, c: &mut Checks) {
        c.http_url("GEMINI_BASE_URL", self.gemini_base_url.as_deref());
        c.http_url("OPENAI_BASE_URL", self.openai_base_url.as_deref());
        let total = self.gemini_timeout_ms;
        c.within(
            "GEMINI_TIMEOUT_MS",
            total,
            1..=MAX_MODEL_MS,
            " milliseconds",
        );
        // Each step's limit must fit in the whole call's budget, or it never
        // applies (against a budget that is itself wrong, only its own bound).
        let step_max = bounded_by(total, MAX_MODEL_MS);
        let steps = [
            ("GEMINI_CONNECT_TIMEOUT_MS", self.gemini_connect_timeout_ms),
            (
                "GEMINI_FIRST_BYTE_TIMEOUT_MS",
                self.gemini_first_byte_timeout_ms,
            ),
            ("GEMINI_IDLE_TIMEOUT_MS", self.gemini_idle_timeout_ms),
        ];
        for (var, ms) in steps {
            c.within(
                var,
                ms,
                1..=step_max,
                " milliseconds (up to GEMINI_TIMEOUT_MS)",
            );
        }
        c.within(
            "GEMINI_MAX_ATTEMPTS",
            self.gemini_max_attempts,
            1..=10,
            " (the first included)",
        );
        let max_delay = self.gemini_retry_max_delay_ms;
        c.within(
            "GEMINI_RETRY_MAX_DELAY_MS",
            max_delay,
            1..=MAX_MODEL_MS,
            " milliseconds",
        );
        c.within(
            "GEMINI_RETRY_BASE_MS",
            self.gemini_retry_base_ms,
            1..=bounded_by(max_delay, MAX_MODEL_MS),
            " milliseconds (up to GEMINI_RETRY_MAX_DELAY_MS)",
        );
    }

    fn check_limits(&self, c: &mut Checks) {
        let max_context = convo_core::Settings::default().max_context_messages;
        c.within(
            "CONVO_CONTEXT_MESSAGES",
            self.context_messages,
            1..=max_context,
            " messages (the largest window an agent may have)",
        );
        c.within(
            "CONVO_MAX_BODY_BYTES",
            self.max_body_bytes,
            MIN_BODY_BYTES..=MAX_BODY_BYTES,
            " bytes (1 KiB to 1 GiB)",
        );
        c.within(
            "CONVO_TURN_LEASE_SECS",
            self.turn_lease_secs,
            MIN_TURN_LEASE_SECS..=MAX_CONNECTION_SECS,
            " seconds (renewed every third of it while a turn runs)",
        );
        c.within(
            "CONVO_TURN_TIMEOUT_SECS",
            self.turn_timeout_secs,
            1..=MAX_CONNECTION_SECS,
            " seconds",
        );
        c.within(
            "CONVO_MOCK_LATENCY_MS",
            self.mock_latency_ms,
            0..=MAX_MODEL_MS,
            " milliseconds",
        );
        c.within(
            "CONVO_MOCK_CHUNK_DELAY_MS",
            self.mock_chunk_delay_ms,
            0..=MAX_MODEL_MS,
            " milliseconds",
        );
        c.within("CONVO_MOCK_CHUNKS", self.mock_chunks, 1..=10_000, " chunks");
        // CONVO_MONTHLY_TOKEN_BUDGET, CONVO_MAX_CONCURRENT_TURNS and
        // CONVO_LOGIN_FAILURES_PER_MINUTE take any count, 0 meaning no limit.
    }
}

impl Config {
    /// The engine's own rules ([`convo_core::Settings::validate`], the one
    /// place they live), reported under the variable that sets each field,
    /// unless a check above already named that variable.
    fn check_engine(&self, c: &mut Checks) {
        let settings = self.engine_settings();
        let Err(invalid) = settings.validate() else {
            return;
        };
        for problem in invalid.0 {
            let (var, value) = match problem.field {
                "default_model" => ("GEMINI_MODEL", self.default_model.clone()),
                "default_context_messages" => {
                    ("CONVO_CONTEXT_MESSAGES", self.context_messages.to_string())
                }
                "max_message_bytes" => ("CONVO_MAX_BODY_BYTES", self.max_body_bytes.to_string()),
                "turn_lease" => ("CONVO_TURN_LEASE_SECS", self.turn_lease_secs.to_string()),
                "turn_timeout" => (
                    "CONVO_TURN_TIMEOUT_SECS",
                    self.turn_timeout_secs.to_string(),
                ),
                // Fields no variable sets keep their defaults, which are
                // valid; name the field should that ever change.
                field => (field, String::from("(engine default)")),
            };
            if !c.0.iter().any(|i| i.var == var) {
                c.require(false, var, value, problem.reason);
            }
        }
    }
}

/// `other` when it is a valid bound itself (1 to `max`), else `max`: a
/// setting bounded by another is not reported for the other's mistake.
fn bounded_by(other: u64, max: u64) -> u64 {
    if (1..=max).contains(&other) {
        other
    } else {
        max
    }
}
