//! Logging setup.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: text or JSON lines on stderr, filtered by `filter`.
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) fails harmlessly.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
