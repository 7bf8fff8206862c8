//! The real server in-process: the configuration every test server starts
//! from, and a built `Application` run on the test's runtime until the
//! handle drops. Shared by the test binaries of the `convo` package through
//! `#[path]`.

// Each test binary uses a part of it.
#![allow(dead_code)]

use convo::server::{Application, Config};
use tokio::sync::oneshot;

/// The defaults, on a free port of 127.0.0.1, signing tokens with `secret`,
/// on the memory store (the default, a `convo.db` in the working directory,
/// would be shared by every test that builds its store from the config).
pub fn test_config(secret: &str) -> Config {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.store = "memory".into();
    config.jwt_secret = Some(secret.into());
    config
}

/// A server running on the test's runtime; dropping it stops the server.
pub struct RunningServer {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// `http://<metrics address>` when `/metrics` has a listener of its own.
    pub metrics_address: Option<String>,
    /// Dropping it resolves the server's shutdown future. The test owns the
    /// shutdown, so a server never outlives its test.
    _shutdown: oneshot::Sender<()>,
}

/// Runs `app` until the returned handle drops.
pub fn serve(app: Application) -> RunningServer {
    let address = format!("http://{}", app.local_addr());
    let metrics_address = app.metrics_addr().map(|a| format!("http://{a}"));
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        // A dropped sender is the signal too.
        let _ = rx.await;
    }));
    RunningServer {
        address,
        metrics_address,
        _shutdown: tx,
    }
}
