//! Checking one token: its key, its signature, its claims.

use std::collections::HashSet;

use jsonwebtoken::{decode, decode_header, Validation};
use serde::Deserialize;

use super::jwks::KeyCache;
use super::{OidcError, OidcSettings};

/// Seconds of clock disagreement with the issuer forgiven on `exp` and
/// `nbf`. More than Convo's own tokens get (5 s): the issuer's clock is
/// another machine's.
pub(super) const LEEWAY_SECS: u64 = 30;

/// The claims Convo reads from an issuer's token.
#[derive(Debug, Clone, Deserialize)]
pub struct OidcClaims {
    /// The issuer (checked: exactly `CONVO_OIDC_ISSUER`).
    pub iss: String,
    /// The user's id at the issuer.
    pub sub: String,
    /// Expiry, seconds since the epoch (checked).
    pub exp: i64,
    /// Issued at, when the token says.
    #[serde(default)]
    pub iat: Option<i64>,
    /// The user's e-mail address, when the token carries one.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the issuer verified `email`: `true`, or the string `"true"`
    /// some issuers send.
    #[serde(default)]
    pub email_verified: Option<serde_json::Value>,
}

impl OidcClaims {
    /// `email`, only when the issuer says it verified it: an address is
    /// given to a new user only if it is provably theirs.
    pub fn verified_email(&self) -> Option<&str> {
        let verified = match &self.email_verified {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        self.email.as_deref().filter(|_| verified)
    }
}

/// Verifies `token` against the issuer's keys and `settings`.
pub(super) async fn verify(
    settings: &OidcSettings,
    keys: &KeyCache,
    token: &str,
) -> Result<OidcClaims, OidcError> {
    // `alg: none` and unknown algorithms fail here: `jsonwebtoken` has no
    // such `Algorithm`.
    let header = decode_header(token).map_err(|_| OidcError::Invalid("malformed header"))?;
    // Convo's own (expired or foreign) tokens have no `kid`: refused here,
    // without asking the issuer anything.
    let kid = header
        .kid
        .as_deref()
        .ok_or(OidcError::Invalid("the header names no kid"))?;
    let key = keys.key(kid).await?;
    // The key decides the algorithm; a header claiming another fails.
    let mut validation = Validation::new(key.algorithm);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.required_spec_claims = ["exp", "iss", "aud", "sub"]
        .into_iter()
        .map(str::to_owned)
        .collect::<HashSet<_>>();
    decode::<OidcClaims>(token, &key.key, &validation)
        .map(|data| data.claims)
        .map_err(|e| {
            tracing::debug!(error = %e, "an OIDC token was refused");
            OidcError::Invalid("signature or claims do not verify")
        })
}
