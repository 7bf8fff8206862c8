//! # convo-server
//!
//! The Convo engine ([`convo_core`]) as the REST API of `docs/api.md`,
//! on poem + poem-openapi, with Swagger UI at `/docs` and the OpenAPI
//! document at `/openapi.json`.
//!
//! ## Crate map
//! - [`config`]: flags and environment variables (the only reader of the environment).
//! - [`startup`]: [`Application`]: build from a config (or around an engine), bind, run.
//! - [`api`]: the operations, one module per resource, and their JSON shapes;
//!   [`api::v1`] is the OpenAI-compatible face (`/v1`).
//! - [`credentials`]: JWTs, the cookie, the cookie-or-bearer security scheme, login limits.
//! - [`http`]: the plumbing every route shares: the error envelope, the
//!   middleware chain, the slow-client guard, CORS, security headers, metrics,
//!   and the JSON/text/pattern value types.
//! - [`state`]: what every handler gets.
//! - [`telemetry`]: logging set-up.

pub mod api;
pub mod config;
pub mod credentials;
pub mod http;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::Config;
pub use startup::{openapi_json, Application, HttpOptions, StartupError};

use std::process::ExitCode;

/// The `convo-server` command: parse the configuration, then print the spec or serve.
pub async fn run_cli() -> ExitCode {
    let config = Config::from_env();
    if config.print_openapi || matches!(config.command, Some(config::Command::Openapi)) {
        println!("{}", openapi_json());
        return ExitCode::SUCCESS;
    }
    // Before logging is set up: the log filter is among what is checked,
    // and a filter of `off` would hide the message.
    if let Err(e) = config.validate() {
        eprintln!("error: invalid configuration: {e}");
        return ExitCode::FAILURE;
    }
    telemetry::init(&config.log, config.log_json);
    let app = match Application::build(&config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = shutdown_signal();
    tracing::info!(address = %app.local_addr(), "convo-server listening; Swagger UI at http://{}/docs", app.local_addr());
    match app.run_until(shutdown).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: a signal sent right after
/// the "listening" line (a supervisor, a test) must stop the server
/// gracefully rather than kill it with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let (interrupt, terminate) = streams;
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: finishing in-flight requests");
    }
}
