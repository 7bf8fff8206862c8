//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use convo_core::Convo;

use crate::credentials::oidc::OidcVerifier;
use crate::credentials::{FailureLimiter, JwtKeys};

/// Shared server state: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<StateInner>);

/// The fields of [`AppState`].
#[derive(Debug)]
pub struct StateInner {
    /// The engine.
    pub convo: Convo,
    /// Token signing.
    pub jwt: JwtKeys,
    /// Single sign-on: the OIDC issuer's tokens, when one is configured.
    pub oidc: Option<OidcVerifier>,
    /// Failed-login limits.
    pub login_failures: FailureLimiter,
    /// Failed project API key attempts per client address, under the same
    /// limit as logins.
    pub key_failures: FailureLimiter,
    /// Whether cookies get `Secure`.
    pub secure_cookies: bool,
    /// Keep-alive period of event streams.
    pub sse_keep_alive: Duration,
    /// Largest request body.
    pub max_body_bytes: usize,
}

impl AppState {
    /// Wraps the fields.
    pub fn new(inner: StateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}
