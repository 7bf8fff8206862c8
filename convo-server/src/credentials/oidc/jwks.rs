//! The issuer's signing keys, cached by `kid`.
//!
//! Keys are fetched on first use, and again when a token names a `kid` the
//! cache does not hold (the issuer rotated its keys) or the keys are an hour
//! old (so a key the issuer withdrew stops working): at most once a minute
//! after a good fetch, whatever tokens arrive, so a stream of made-up `kid`s
//! cannot turn into a stream of requests to the issuer. After a failed fetch
//! the next may come 5 seconds later, and until it succeeds requests are
//! answered "issuer unavailable", not "invalid token". Keys in hand stay in
//! use while the issuer cannot be reached.
//!
//! One fetch at a time: requests arriving during a fetch wait for it (an
//! async mutex; nothing else is awaited under it) and then read its keys.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::fetch;
use super::keys::{signing_keys, RawJwks, SigningKey};
use super::{Clock, OidcError, OidcSettings};

/// Least time between two fetches after a good one.
pub(super) const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Least time between two fetches after a failed one.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// Keys older than this are fetched again on their next use.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// The keys and when they were fetched.
#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, SigningKey>,
    fetched_at: Option<Instant>,
}

/// When the next fetch may start, and why the last one failed (if it did).
#[derive(Default)]
struct FetchState {
    not_before: Option<Instant>,
    last_error: Option<OidcError>,
}

/// The cache (see the module doc).
pub(super) struct KeyCache {
    settings: OidcSettings,
    client: reqwest::Client,
    clock: Clock,
    keys: RwLock<Keys>,
    fetching: tokio::sync::Mutex<FetchState>,
}

impl KeyCache {
    pub(super) fn new(settings: OidcSettings, client: reqwest::Client, clock: Clock) -> Self {
        Self {
            settings,
            client,
            clock,
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::default(),
        }
    }

    /// The key named `kid`: [`OidcError::Invalid`] when the issuer has no
    /// such key (as far as a fetch allowed now can tell),
    /// [`OidcError::Unavailable`] when it could not be asked.
    pub(super) async fn key(&self, kid: &str) -> Result<SigningKey, OidcError> {
        if let Some(key) = self.cached(kid, true) {
            return Ok(key);
        }
        let mut fetch = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid, true) {
            return Ok(key);
        }
        let now = self.clock.now();
        if fetch.not_before.is_some_and(|t| now < t) {
            return self
                .cached(kid, false)
                .ok_or_else(|| match &fetch.last_error {
                    Some(e) => e.clone(),
                    None => OidcError::Invalid("no key of the issuer has this kid"),
                });
        }
        match self.fetch().await {
            Ok(by_kid) => {
                tracing::info!(
                    keys = by_kid.len(),
                    "fetched the OIDC issuer's signing keys"
                );
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Keys {
                    by_kid,
                    fetched_at: Some(now),
                };
                *fetch = FetchState {
                    not_before: Some(now + REFRESH_INTERVAL),
                    last_error: None,
                };
                self.cached(kid, false)
                    .ok_or(OidcError::Invalid("no key of the issuer has this kid"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the OIDC issuer's signing keys");
                *fetch = FetchState {
                    not_before: Some(now + RETRY_INTERVAL),
                    last_error: Some(e.clone()),
                };
                // Keys in hand still verify while the issuer is away.
                self.cached(kid, false).ok_or(e)
            }
        }
    }

    /// The cached key, if any; with `fresh`, only from keys under an hour old.
    fn cached(&self, kid: &str, fresh: bool) -> Option<SigningKey> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let young = keys
            .fetched_at
            .is_some_and(|at| self.clock.now().saturating_duration_since(at) < MAX_AGE);
        if fresh && !young {
            return None;
        }
        keys.by_kid.get(kid).cloned()
    }

    /// The issuer's keys now: from `CONVO_OIDC_JWKS_URL`, else from its
    /// discovery document's `jwks_uri` (asked each time, so a moved JWKS is
    /// followed).
    async fn fetch(&self) -> Result<HashMap<String, SigningKey>, OidcError> {
        let url = match &self.settings.jwks_url {
            Some(url) => url.clone(),
            None => fetch::jwks_uri(&self.client, &self.settings.issuer).await?,
        };
        let jwks: RawJwks = fetch::json(&self.client, &url).await?;
        Ok(signing_keys(jwks))
    }
}
