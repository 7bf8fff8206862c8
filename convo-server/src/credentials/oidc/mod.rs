//! Single sign-on: bearer JWTs of one OpenID Connect issuer
//! (`CONVO_OIDC_ISSUER`), each standing for the Convo user of its
//! `(iss, sub)`, found or created on first use without a password.
//!
//! - `fetch`: the discovery document and the JWKS (timeouts, a size cap,
//!   no redirects);
//! - `keys`: which JWKS keys are used, each with the one algorithm its type
//!   allows (RS256 for RSA, ES256 for P-256);
//! - `jwks`: the key cache, refreshed on an unknown `kid` at most once a
//!   minute, on a [`Clock`] tests can move;
//! - `verify`: signature, `iss` (exact), `aud` (string or array holding
//!   `CONVO_OIDC_AUDIENCE`), `exp` and `nbf` (30 s leeway), `sub`;
//! - `signature`: the RS256 and ES256 checks `jsonwebtoken` calls.
//!
//! `authenticate` is the one entry point, called by the bearer scheme for
//! a token that is not Convo's own.

mod clock;
mod fetch;
mod jwks;
mod keys;
pub(super) mod signature;
mod verify;

use std::sync::Arc;

use base64::Engine;
use convo_core::{ConvoError, Email};
use sha2::{Digest, Sha256};

use super::{AuthUser, Claims};
use crate::http::error::ApiError;
use crate::state::AppState;

pub use clock::Clock;
pub use verify::OidcClaims;

/// Where the tokens come from and whom they must be for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer, exactly as tokens' `iss` says.
    pub issuer: String,
    /// What tokens' `aud` must hold.
    pub audience: String,
    /// The JWKS URL; `None`: the discovery document's `jwks_uri`.
    pub jwks_url: Option<String>,
}

/// Why an issuer's token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The token is not a valid token of the issuer (401).
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// The issuer could not be asked for its keys (503, retryable).
    #[error("the identity provider cannot be reached: {0}")]
    Unavailable(String),
    /// The issuer answered, but not as the specs say (503: an operator
    /// must look; logged as an error).
    #[error("the identity provider is misconfigured: {0}")]
    Misconfigured(String),
}

impl From<OidcError> for ApiError {
    fn from(err: OidcError) -> Self {
        match &err {
            OidcError::Invalid(_) => ApiError::unauthenticated(),
            OidcError::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "OIDC issuer unavailable");
                ApiError::identity_provider_unavailable()
            }
            OidcError::Misconfigured(detail) => {
                tracing::error!(detail = %detail, "OIDC issuer misconfigured");
                ApiError::identity_provider_unavailable()
            }
        }
    }
}

/// Verifies the issuer's tokens (cheap to clone).
#[derive(Clone)]
pub struct OidcVerifier(Arc<Inner>);

struct Inner {
    settings: OidcSettings,
    keys: jwks::KeyCache,
    clock: Clock,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("settings", &self.0.settings)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// A verifier for `settings`; nothing is fetched until the first token.
    pub fn new(settings: OidcSettings) -> Result<Self, OidcError> {
        super::install_jwt_crypto();
        let clock = Clock::default();
        let keys = jwks::KeyCache::new(settings.clone(), fetch::client()?, clock.clone());
        Ok(Self(Arc::new(Inner {
            settings,
            keys,
            clock,
        })))
    }

    /// The clock of the key cache's refresh limit (tests move it forward).
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The claims of `token`, if it is a valid token of the issuer.
    pub async fn verify(&self, token: &str) -> Result<OidcClaims, OidcError> {
        verify::verify(&self.0.settings, &self.0.keys, token).await
    }
}

/// The caller an issuer's bearer token stands for: it verifies, was not
/// logged out, and names a subject; the user is found or created. Without
/// a configured issuer, any token reaching here is `401`.
pub(super) async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let Some(oidc) = &state.oidc else {
        return Err(ApiError::unauthenticated());
    };
    let claims = oidc.verify(token).await?;
    let jti = revocation_id(token);
    if state.convo.is_token_revoked(&jti).await? {
        return Err(ApiError::unauthenticated());
    }
    // An address that is not one (to Convo's rules) is simply not used.
    let email = claims.verified_email().filter(|e| Email::parse(e).is_ok());
    let user = state
        .convo
        .user_for_external_identity(&claims.iss, &claims.sub, email)
        .await
        .map_err(|e| match e {
            // A `sub` Convo cannot keep (over 255 bytes, control characters).
            ConvoError::Invalid { .. } => ApiError::unauthenticated(),
            other => other.into(),
        })?;
    let now = chrono::Utc::now().timestamp();
    Ok(AuthUser {
        id: user.id,
        claims: Claims {
            sub: user.id.to_string(),
            iat: claims.iat.unwrap_or(now),
            exp: claims.exp,
            jti,
        },
    })
}

/// The id logout revokes an issuer's token by: a hash of the whole token,
/// since a `jti` is optional in OIDC tokens and, when present, unique only
/// at its issuer. Prefixed so it can never equal a Convo token's id.
fn revocation_id(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!(
        "oidc:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}
