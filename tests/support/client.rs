//! The tests' HTTP client: how to build one that works in this workspace,
//! with or without a cookie jar, and how to read its answers. Shared by the
//! test binaries through `#[path]`.

// Each test binary uses a part of it.
#![allow(dead_code)]

use reqwest::Response;
use serde_json::Value;

/// A client builder that does not panic for want of a TLS provider.
///
/// `convo-core`'s `gemini` feature turns on reqwest's `rustls-no-provider`
/// (feature unification reaches the tests' reqwest too), and then building
/// any client without a crypto provider panics, even one that only ever
/// speaks plain HTTP to 127.0.0.1. Handing it the engine's own rustls
/// configuration (ring) avoids the panic without touching process-wide state.
pub fn client_builder() -> reqwest::ClientBuilder {
    let tls = convo_core::llm::gemini::tls_client_config().expect("TLS configuration");
    reqwest::Client::builder().tls_backend_preconfigured(tls)
}

/// A fresh client with its own cookie jar: another browser, which a login
/// cookie signs in.
pub fn new_client() -> reqwest::Client {
    client_builder().cookie_store(true).build().expect("client")
}

/// A client with no cookie jar at all (credentials only as sent by hand,
/// e.g. a bearer token).
pub fn plain_client() -> reqwest::Client {
    client_builder().build().expect("client")
}

/// The body as JSON, with the status checked first (the body is in the
/// failure message, so a wrong status says why).
pub async fn json_with_status(resp: Response, status: u16) -> Value {
    let actual = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(actual.as_u16(), status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
