//! [`Settings`]: what an engine is tuned with, and the one place their rules
//! are checked ([`Settings::validate`]).

use std::time::Duration;

use crate::domain::ReasoningEffort;

/// The default model: Gemini's current stable Flash model.
///
/// Chosen from Google's "Gemini deprecations" page
/// (<https://ai.google.dev/gemini-api/docs/deprecations>) and its release
/// notes, read 2026-11-30: `gemini-3.8-flash` (GA 2026-09-02) is the newest
/// stable Flash model; `gemini-2.5-flash`, the previous default, is closed to
/// new API keys and shut down on 2026-12-01, and `gemini-3.7-flash` is
/// deprecated and routed to 3.8.
pub const DEFAULT_MODEL: &str = "gemini-3.8-flash";

/// Engine settings. `Settings::default()` suits tests and small servers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Model given to agents created without one.
    pub default_model: String,
    /// Reasoning effort given to agents created without one, when their
    /// model is known to take it (otherwise they keep the model's own
    /// default). `low` by default: Convo's agents answer people in a
    /// conversation, and Google's guidance for Gemini 3 Flash is to use
    /// lower thinking levels for latency-sensitive work and keep `medium`
    /// and `high` for complex, multi-step tasks ("Developer's guide to
    /// Gemini 3.8 Flash", read 2026-11-30). An agent that needs more sets it.
    pub default_reasoning_effort: Option<ReasoningEffort>,
    /// Context window (in messages, the new one included) of agents created without one.
    pub default_context_messages: u32,
    /// The largest context window an agent may ask for.
    pub max_context_messages: u32,
    /// How long a turn holds its session's lock before others may take it
    /// (the engine renews it while the turn runs; a crashed holder frees it
    /// when the lease ends).
    pub turn_lease: Duration,
    /// How long a turn sent with an idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// Password hashes computed at once (each takes ~19 MiB and a core for ~20 ms).
    pub max_concurrent_password_hashes: usize,
    /// The largest message content accepted, in bytes.
    pub max_message_bytes: usize,
    /// Events buffered between a streaming turn and its consumer.
    pub stream_buffer: usize,
    /// How often a running turn checks the store for a cancel request made
    /// through another engine (another server process). A request made
    /// through this engine stops the turn at once.
    pub cancel_poll: Duration,
    /// Tokens each user may spend per calendar month (UTC), counted from the
    /// usage ledger with the provider's reported totals; `None`: no budget.
    /// Checked before the model is called, so one turn may overrun it.
    pub monthly_token_budget: Option<u64>,
    /// Turns one user may have running at once in this engine; `None`: no
    /// limit.
    pub max_concurrent_turns: Option<usize>,
    /// Whether webhook tools may be called on loopback, private and
    /// link-local addresses, and over plain `http`. `false` by default:
    /// a webhook URL is chosen by whoever edits an agent, and must not
    /// reach the server's own network (SSRF). For tests and on-premise tools.
    pub tools_allow_private_networks: bool,
    /// How long one call of a Rust tool (an agent's `server` tool) may
    /// take; past it the model is told the tool timed out. Webhook tools
    /// have their own `timeout_ms`.
    pub tool_timeout: Duration,
    /// The time one turn may take, all its model calls and tool rounds
    /// together (each model call may also have its provider's own, shorter
    /// budget). A tool's own timeout is cut to what remains; past it the
    /// turn fails like a model that did not answer in time
    /// ([`LlmError::Timeout`](crate::LlmError::Timeout)), and what it
    /// stored before stays. A turn paused for client tools stops the
    /// clock: its resumption has a deadline of its own.
    pub turn_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_model: DEFAULT_MODEL.to_owned(),
            default_reasoning_effort: Some(ReasoningEffort::Low),
            default_context_messages: 20,
            max_context_messages: 1000,
            turn_lease: Duration::from_secs(120),
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            max_concurrent_password_hashes: std::thread::available_parallelism()
                .map_or(2, |n| n.get()),
            max_message_bytes: 1024 * 1024,
            stream_buffer: 32,
            cancel_poll: Duration::from_millis(500),
            monthly_token_budget: None,
            max_concurrent_turns: None,
            tools_allow_private_networks: false,
            tool_timeout: Duration::from_secs(30),
            turn_timeout: Duration::from_secs(300),
        }
    }
}

/// One setting whose value cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The [`Settings`] field.
    pub field: &'static str,
    /// What is wrong with it and what would be accepted.
    pub reason: String,
}

/// Every setting found wrong by [`Settings::validate`], reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid engine settings: {}", .0.iter().map(|i| format!("{}: {}", i.field, i.reason)).collect::<Vec<_>>().join("; "))]
pub struct InvalidSettings(pub Vec<InvalidSetting>);

impl InvalidSettings {
    /// Whether `field` is among the settings found wrong.
    pub fn names(&self, field: &str) -> bool {
        self.0.iter().any(|i| i.field == field)
    }
}

/// The shortest turn lease: a running turn renews it every third of it, so
/// a shorter one would be a store write every few milliseconds, and a slow
/// store would lose the lock mid-turn. (Tests of lease expiry use a few
/// hundred milliseconds; a server asks for seconds.)
pub const MIN_TURN_LEASE: Duration = Duration::from_millis(100);

impl Settings {
    /// Checks every rule between and within the settings: windows within
    /// bounds, durations and capacities above zero. The engine
    /// runs it on construction ([`Convo::try_new`](crate::Convo::try_new)).
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let mut found = Vec::new();
        let mut check = |ok: bool, field: &'static str, reason: String| {
            if !ok {
                found.push(InvalidSetting { field, reason });
            }
        };
        check(
            !self.default_model.trim().is_empty(),
            "default_model",
            "must name a model".into(),
        );
        check(
            self.max_context_messages >= 1,
            "max_context_messages",
            "must be at least 1".into(),
        );
        check(
            (1..=self.max_context_messages.max(1)).contains(&self.default_context_messages),
            "default_context_messages",
            format!(
                "must be 1 to max_context_messages ({})",
                self.max_context_messages
            ),
        );
        check(
            self.turn_lease >= MIN_TURN_LEASE,
            "turn_lease",
            format!("must be at least {MIN_TURN_LEASE:?}"),
        );
        check(
            !self.idempotency_ttl.is_zero(),
            "idempotency_ttl",
            "must be above zero".into(),
        );
        check(
            self.max_concurrent_password_hashes >= 1,
            "max_concurrent_password_hashes",
            "must be at least 1".into(),
        );
        check(
            self.max_message_bytes >= 1,
            "max_message_bytes",
            "must be at least 1".into(),
        );
        check(
            self.stream_buffer >= 1,
            "stream_buffer",
            "must be at least 1".into(),
        );
        check(
            !self.tool_timeout.is_zero(),
            "tool_timeout",
            "must be above zero".into(),
        );
        check(
            !self.turn_timeout.is_zero(),
            "turn_timeout",
            "must be above zero".into(),
        );
        check(
            !self.cancel_poll.is_zero(),
            "cancel_poll",
            "must be above zero".into(),
        );
        check(
            self.monthly_token_budget != Some(0),
            "monthly_token_budget",
            "must be above zero (`None` means no budget)".into(),
        );
        check(
            self.max_concurrent_turns != Some(0),
            "max_concurrent_turns",
            "must be at least 1 (`None` means no limit)".into(),
        );
        if found.is_empty() {
            Ok(())
        } else {
            Err(InvalidSettings(found))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(Settings::default().validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let settings = Settings {
            default_model: " ".into(),
            default_context_messages: 50,
            max_context_messages: 10,
            turn_lease: Duration::from_millis(10),
            stream_buffer: 0,
            max_concurrent_turns: Some(0),
            ..Settings::default()
        };
        let err = settings.validate().expect_err("invalid");
        for field in [
            "default_model",
            "default_context_messages",
            "turn_lease",
            "stream_buffer",
            "max_concurrent_turns",
        ] {
            assert!(err.names(field), "{field} not reported: {err}");
        }
        assert!(!err.names("max_context_messages"), "{err}");
    }
}
