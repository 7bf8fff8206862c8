//! Parsing flags and environment, and the checks on what they say.

use super::*;

#[test]
fn defaults_match_the_parsed_defaults() {
    let parsed = Config::try_parse_from(["convo-server"]).expect("parses");
    let defaults = Config::defaults();
    assert_eq!(
        format!("{:?}", parsed.listen),
        format!("{:?}", defaults.listen)
    );
    assert_eq!(parsed.max_body_bytes, defaults.max_body_bytes);
    assert_eq!(parsed.token_ttl_secs, defaults.token_ttl_secs);
    assert_eq!(parsed.context_messages, defaults.context_messages);
    assert_eq!(
        parsed.login_failures_per_minute,
        defaults.login_failures_per_minute
    );
    assert_eq!(
        parsed.header_read_timeout_secs,
        defaults.header_read_timeout_secs
    );
    assert_eq!(
        parsed.body_read_timeout_secs,
        defaults.body_read_timeout_secs
    );
    assert_eq!(parsed.idle_timeout_secs, defaults.idle_timeout_secs);
    assert_eq!(parsed.cors_origins, defaults.cors_origins);
    assert_eq!(parsed.store, defaults.store);
    assert_eq!(defaults.store.as_str(), "sqlite://convo.db");
}

#[test]
fn cors_origins_are_a_comma_separated_list_and_zero_timeouts_mean_none() {
    let parsed = Config::try_parse_from([
        "convo-server",
        "--cors-origins",
        "https://a.example,http://localhost:5173",
        "--header-read-timeout-secs",
        "0",
    ])
    .expect("parses");
    assert_eq!(
        parsed.cors_origins,
        ["https://a.example", "http://localhost:5173"]
    );
    assert_eq!(parsed.header_read_timeout(), None);
    assert_eq!(parsed.body_read_timeout(), Some(Duration::from_secs(30)));
}

#[test]
fn the_defaults_are_valid() {
    assert_eq!(Config::defaults().validate(), Ok(()));
    let parsed = Config::try_parse_from(["convo-server"]).expect("parses");
    assert_eq!(parsed.validate(), Ok(()));
}

/// A change making one setting invalid, and the variable the error must name.
type BadValue = (&'static str, fn(&mut Config));

#[test]
fn one_bad_value_per_setting_is_refused_naming_its_variable() {
    let cases: &[BadValue] = &[
        ("CONVO_METRICS_LISTEN", |c| {
            c.metrics_listen = Some(c.listen)
        }),
        ("CONVO_STORE", |c| c.store = "postgres://db".into()),
        ("CONVO_STORE", |c| c.store = "mongodb:///convo".into()),
        ("CONVO_STORE", |c| c.store = "sqlite://".into()),
        ("CONVO_STORE", |c| c.store = "sqlite::memory:".into()),
        ("CONVO_STORE", |c| {
            c.store = "sqlite://x.db?cache=shared".into()
        }),
        ("GEMINI_BASE_URL", |c| {
            c.gemini_base_url = Some("not a url".into())
        }),
        ("GEMINI_BASE_URL", |c| {
            c.gemini_base_url = Some("ftp://x".into())
        }),
        ("GEMINI_TIMEOUT_MS", |c| c.gemini_timeout_ms = 0),
        ("GEMINI_CONNECT_TIMEOUT_MS", |c| {
            c.gemini_connect_timeout_ms = 0
        }),
        // Longer than the whole call's budget: it could never fire.
        ("GEMINI_CONNECT_TIMEOUT_MS", |c| {
            c.gemini_connect_timeout_ms = 60_001
        }),
        ("GEMINI_FIRST_BYTE_TIMEOUT_MS", |c| {
            c.gemini_first_byte_timeout_ms = 0
        }),
        ("GEMINI_IDLE_TIMEOUT_MS", |c| {
            c.gemini_idle_timeout_ms = 120_000
        }),
        ("GEMINI_MAX_ATTEMPTS", |c| c.gemini_max_attempts = 0),
        ("GEMINI_MAX_ATTEMPTS", |c| c.gemini_max_attempts = 11),
        ("GEMINI_RETRY_BASE_MS", |c| c.gemini_retry_base_ms = 0),
        ("GEMINI_RETRY_BASE_MS", |c| c.gemini_retry_base_ms = 20_000),
        ("GEMINI_RETRY_MAX_DELAY_MS", |c| {
            c.gemini_retry_max_delay_ms = 0
        }),
        ("OPENAI_BASE_URL", |c| {
            c.openai_base_url = Some("localhost:11434".into())
        }),
        ("CONVO_JWT_SECRET", |c| c.jwt_secret = Some("short".into())),
        ("CONVO_JWT_SECRET", |c| {
            c.jwt_secret = None;
            c.store = "mongodb://db:27017/convo".into();
        }),
        ("CONVO_TOKEN_TTL_SECS", |c| c.token_ttl_secs = 0),
        ("CONVO_TOKEN_TTL_SECS", |c| {
            c.token_ttl_secs = 400 * 24 * 3_600
        }),
        ("CONVO_TURN_LEASE_SECS", |c| c.turn_lease_secs = 0),
        ("CONVO_TURN_LEASE_SECS", |c| c.turn_lease_secs = 2),
        ("CONVO_TURN_TIMEOUT_SECS", |c| c.turn_timeout_secs = 0),
        ("CONVO_TURN_TIMEOUT_SECS", |c| c.turn_timeout_secs = 3_601),
        ("CONVO_MAX_BODY_BYTES", |c| c.max_body_bytes = 0),
        ("CONVO_MAX_BODY_BYTES", |c| c.max_body_bytes = 2 << 30),
        ("CONVO_HEADER_READ_TIMEOUT_SECS", |c| {
            c.header_read_timeout_secs = 86_400
        }),
        ("CONVO_BODY_READ_TIMEOUT_SECS", |c| {
            c.body_read_timeout_secs = 86_400
        }),
        ("CONVO_IDLE_TIMEOUT_SECS", |c| c.idle_timeout_secs = 86_400),
        ("CONVO_CORS_ORIGINS", |c| c.cors_origins = vec!["*".into()]),
        ("CONVO_CORS_ORIGINS", |c| {
            c.cors_origins = vec!["https://a.example/path".into()]
        }),
        ("CONVO_CONTEXT_MESSAGES", |c| c.context_messages = 0),
        ("CONVO_CONTEXT_MESSAGES", |c| c.context_messages = 1_001),
        ("CONVO_SSE_KEEP_ALIVE_SECS", |c| c.sse_keep_alive_secs = 0),
        ("CONVO_SHUTDOWN_GRACE_SECS", |c| {
            c.shutdown_grace_secs = 86_400
        }),
        ("CONVO_MOCK_LATENCY_MS", |c| c.mock_latency_ms = 3_600_000),
        ("CONVO_MOCK_CHUNKS", |c| c.mock_chunks = 0),
        ("CONVO_MOCK_CHUNK_DELAY_MS", |c| {
            c.mock_chunk_delay_ms = 3_600_000
        }),
        ("CONVO_LOG", |c| c.log = "convo_server=loud".into()),
        // A rule of the engine's own (convo_core::Settings::validate).
        ("GEMINI_MODEL", |c| c.default_model = " ".into()),
    ];
    for (var, make_bad) in cases {
        // A signing secret, so a persistent store is a valid choice.
        let mut config = Config::defaults();
        config.jwt_secret = Some("0123456789abcdef0123456789abcdef".into());
        make_bad(&mut config);
        let err = config
            .validate()
            .expect_err(&format!("a bad {var} must be refused"));
        assert_eq!(err.0.len(), 1, "only {var} is wrong: {err}");
        assert!(err.names(var), "{var}: {err}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("{var}=")), "{message}");
        assert!(
            message.contains("is not allowed: "),
            "says what is allowed: {message}"
        );
    }
}

#[test]
fn only_mongodb_needs_a_jwt_secret() {
    let cases = [
        ("memory", true),
        ("sqlite://convo.db", true),
        ("sqlite:///srv/convo.db?mode=ro", true),
        ("mongodb://db:27017/convo", false),
    ];
    for (store, valid_without_secret) in cases {
        let mut c = Config::defaults();
        c.jwt_secret = None;
        c.store = store.into();
        assert_eq!(c.validate().is_ok(), valid_without_secret, "{store}");
    }
}

#[test]
fn a_bad_sqlite_location_is_refused_with_the_reason() {
    let mut c = Config::defaults();
    c.store = "sqlite://data.db?journal=off".into();
    let message = c.validate().expect_err("refused").to_string();
    assert!(
        message.contains("CONVO_STORE=sqlite://data.db?journal=off is not allowed")
            && message.contains("journal=off"),
        "{message}"
    );
}

#[test]
fn zero_means_no_limit_where_the_help_says_so() {
    let mut c = Config::defaults();
    c.header_read_timeout_secs = 0;
    c.body_read_timeout_secs = 0;
    c.idle_timeout_secs = 0;
    c.monthly_token_budget = 0;
    c.max_concurrent_turns = 0;
    c.login_failures_per_minute = 0;
    c.shutdown_grace_secs = 0;
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn the_message_names_the_value_and_the_range() {
    let mut c = Config::defaults();
    c.context_messages = 0;
    let message = c.validate().expect_err("refused").to_string();
    assert!(message.contains("CONVO_CONTEXT_MESSAGES=0"), "{message}");
    assert!(message.contains("1 to 1000"), "{message}");
}

#[test]
fn a_short_jwt_secret_is_refused_without_showing_it() {
    let mut c = Config::defaults();
    c.jwt_secret = Some("tiny-secret".into());
    let message = c.validate().expect_err("refused").to_string();
    assert!(!message.contains("tiny-secret"), "{message}");
    assert!(message.contains("11 characters"), "{message}");
}

#[test]
fn debug_output_hides_every_secret() {
    // Arrange
    let mut c = Config::defaults();
    c.jwt_secret = Some("jwt-secret-0123456789-0123456789-abc".into());
    c.gemini_api_key = Some("gemini-key-AIzaSyD0123".into());
    c.openai_api_key = Some("sk-openai-key-0123".into());
    c.store = "mongodb://convo:mongo-password-42@db.example:27017/convo".into();

    // Act
    let shown = format!("{c:?} {c:#?}");

    // Assert
    for secret in [
        "jwt-secret-0123456789",
        "gemini-key-AIzaSyD0123",
        "sk-openai-key-0123",
        "mongo-password-42",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(
        shown.contains("db.example:27017"),
        "the rest stays useful: {shown}"
    );
}

#[test]
fn cookies_are_secure_unless_on_loopback_or_told_otherwise() {
    let mut c = Config::defaults();
    assert!(!c.secure_cookies(), "127.0.0.1");
    c.listen = "0.0.0.0:8080".parse().expect("addr");
    assert!(c.secure_cookies());
    c.cookie_secure = CookieSecure::False;
    assert!(!c.secure_cookies());
}

#[test]
fn private_networks_for_webhook_tools_are_off_unless_asked_for() {
    let default = Config::try_parse_from(["convo-server"]).expect("parses");
    assert!(!default.engine_settings().tools_allow_private_networks);
    assert!(
        !Config::defaults()
            .engine_settings()
            .tools_allow_private_networks
    );
    let allowed =
        Config::try_parse_from(["convo-server", "--tools-allow-private-networks"]).expect("parses");
    assert!(allowed.engine_settings().tools_allow_private_networks);
}

#[test]
fn the_turn_timeout_reaches_the_engine() {
    let default = Config::try_parse_from(["convo-server"]).expect("parses");
    assert_eq!(
        default.engine_settings().turn_timeout,
        Duration::from_secs(300)
    );
    let set =
        Config::try_parse_from(["convo-server", "--turn-timeout-secs", "42"]).expect("parses");
    assert_eq!(set.engine_settings().turn_timeout, Duration::from_secs(42));
}
