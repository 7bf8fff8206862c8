//! Fetching the issuer's documents: discovery and the JWKS. Each fetch has
//! a deadline and a size cap, follows no redirect, and fails as
//! [`OidcError::Unavailable`] (the issuer could not be asked) or, for a
//! document that is not what the specs say, [`OidcError::Misconfigured`].

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::OidcError;

/// Time to connect to the issuer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole fetch, body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest document read: a JWKS of a few keys is a few KiB.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The HTTP client for the issuer: HTTPS on the process's TLS set-up (the
/// model providers'), no redirects (a document moved elsewhere is a
/// configuration to fix, not to follow silently).
pub(super) fn client() -> Result<reqwest::Client, OidcError> {
    let tls = convo_core::llm::tls_client_config()
        .map_err(|e| OidcError::Misconfigured(format!("no HTTPS client: {e}")))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| OidcError::Misconfigured(format!("no HTTP client: {e}")))
}

/// GETs `url` and parses its JSON body as `T`.
pub(super) async fn json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Result<T, OidcError> {
    let unavailable = |e: &dyn std::fmt::Display| OidcError::Unavailable(format!("{url}: {e}"));
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unavailable(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(unavailable(&format_args!("answered {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(&e))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(OidcError::Misconfigured(format!(
                "{url}: the document is over {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| OidcError::Misconfigured(format!("{url}: not the JSON expected: {e}")))
}

/// The part of the discovery document Convo reads (OpenID Connect
/// Discovery 1.0 §3; read 2026-12-01 at
/// <https://openid.net/specs/openid-connect-discovery-1_0.html>).
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The issuer's JWKS URL from its discovery document,
/// `<issuer>/.well-known/openid-configuration` (Discovery §4: a trailing `/`
/// of the issuer is dropped first). The document's `issuer` must be the
/// configured one exactly (Discovery §4.3), or its keys are not that
/// issuer's.
pub(super) async fn jwks_uri(client: &reqwest::Client, issuer: &str) -> Result<String, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovery: Discovery = json(client, &url).await?;
    if discovery.issuer != issuer {
        return Err(OidcError::Misconfigured(format!(
            "{url} names issuer {:?}, not the configured {issuer:?}",
            discovery.issuer
        )));
    }
    // Keys fetched over plain HTTP could be anyone's: only a loopback
    // issuer (itself on http) may name an http JWKS.
    if issuer.starts_with("https://") && !discovery.jwks_uri.starts_with("https://") {
        return Err(OidcError::Misconfigured(format!(
            "{url} names a jwks_uri that is not https: {:?}",
            discovery.jwks_uri
        )));
    }
    Ok(discovery.jwks_uri)
}
