//! Login tokens: HS256 JWTs with the algorithm pinned.
//!
//! A token is accepted only inside its validity window: not after `exp`
//! and not before `nbf` when it has one (RFC 7519 §4.1.4 and §4.1.5), both
//! with the same few seconds of leeway for clocks that disagree.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use convo_core::UserId;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::crypto::install_jwt_crypto;

/// The claims Convo puts in a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Unique token id, the handle for revocation.
    pub jti: String,
}

impl Claims {
    /// When the token expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0)
            .single()
            .unwrap_or_else(Utc::now)
    }
}

/// Seconds of clock disagreement forgiven at both ends of a token's
/// validity window (`exp` and `nbf`).
const LEEWAY_SECS: u64 = 5;

/// How many verified tokens [`JwtKeys`] remembers.
const VERIFIED_CAPACITY: usize = 4096;

/// Signs and verifies tokens with one secret.
///
/// Tokens that verified are remembered (a bounded cache keyed by the whole
/// token string), so a client's next request skips decoding and the MAC:
/// under load they were a tenth of a list request's CPU time (perf,
/// scripts/bench.sh case 1). A hit is exactly as strong as a verification,
/// since only byte-identical tokens that verified are in it; expiry is
/// checked again on every hit (a token's `nbf` needs no second look: it was
/// already past when the token verified, and time only moves on), and
/// revocation is the caller's per-request check, as before.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    verified: Arc<quick_cache::sync::Cache<String, Claims>>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys from a secret; tokens live for `ttl`.
    ///
    /// Fails on an empty secret (`jsonwebtoken` refuses empty HMAC keys).
    /// Installs the HMAC-only crypto backend if nothing else was installed.
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Self, jsonwebtoken::errors::Error> {
        install_jwt_crypto();
        // Only HS256: a token claiming `none` or any other algorithm fails.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        // `exp` is checked by default; `nbf` only when asked, and then only
        // when the token has one (ours do not, but a token is not refused
        // for want of it). One leeway serves both edges of the window.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            ttl,
            verified: Arc::new(quick_cache::sync::Cache::new(VERIFIED_CAPACITY)),
        })
    }

    /// How long issued tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for a user.
    pub fn issue(&self, user: &UserId) -> Result<(String, Claims), jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// The claims of a valid, unexpired token signed with our secret.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        if let Some(claims) = self.verified.get(token) {
            return self.unexpired(claims);
        }
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        self.verified.insert(token.to_owned(), claims.clone());
        Some(claims)
    }

    /// The claims, if they have not expired (with the validation's leeway,
    /// as `jsonwebtoken` counts it).
    fn unexpired(&self, claims: Claims) -> Option<Claims> {
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(0);
        (claims.exp >= Utc::now().timestamp() - leeway).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_user() {
        let keys = JwtKeys::new(b"secret", Duration::from_secs(60)).expect("keys");
        let user = UserId::new();
        let (token, claims) = keys.issue(&user).expect("issue");
        assert_eq!(keys.verify(&token), Some(claims.clone()));
        assert_eq!(claims.sub, user.to_string());
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let keys = JwtKeys::new(b"secret", Duration::from_secs(60)).expect("keys");
        let (token, claims) = keys.issue(&UserId::new()).expect("issue");
        assert_eq!(keys.verify(&token), Some(claims.clone()));
        assert_eq!(keys.verify(&token), Some(claims.clone()), "from the cache");
        // The same token, once past its expiry and leeway, is refused even
        // though it verified before.
        let past = Claims {
            exp: Utc::now().timestamp() - 6,
            ..claims.clone()
        };
        assert_eq!(keys.unexpired(past), None);
        let within_leeway = Claims {
            exp: Utc::now().timestamp() - 2,
            ..claims
        };
        assert!(keys.unexpired(within_leeway).is_some());
    }

    #[test]
    fn tampered_foreign_expired_and_unsigned_tokens_are_refused() {
        let keys = JwtKeys::new(b"secret", Duration::from_secs(60)).expect("keys");
        let (token, claims) = keys.issue(&UserId::new()).expect("issue");
        // The genuine token is remembered; its tampered twin is still refused.
        assert!(keys.verify(&token).is_some());
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(keys.verify(&tampered), None, "tampered signature");

        let other = JwtKeys::new(b"another secret", Duration::from_secs(60)).expect("keys");
        let (foreign, _) = other.issue(&UserId::new()).expect("issue");
        assert_eq!(keys.verify(&foreign), None, "signed with another secret");

        let expired = Claims {
            iat: claims.iat - 3600,
            exp: claims.iat - 1800,
            ..claims.clone()
        };
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(b"secret").expect("key"),
        )
        .expect("encode");
        assert_eq!(keys.verify(&expired), None, "expired");

        let payload = serde_json::to_vec(&claims).expect("json");
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(&payload)
        );
        assert_eq!(keys.verify(&none), None, "alg none");

        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"secret").expect("key"),
        )
        .expect("encode");
        assert_eq!(keys.verify(&hs512), None, "another algorithm, same secret");
    }

    /// Our claims plus an `nbf` `offset` seconds from now, signed with `secret`.
    fn with_nbf(offset: i64) -> String {
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": UserId::new().to_string(),
            "iat": now,
            "exp": now + 3600,
            "nbf": now + offset,
            "jti": "j",
        });
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret").expect("key"),
        )
        .expect("encode")
    }

    #[test]
    fn a_token_is_refused_before_its_not_before_time() {
        let keys = JwtKeys::new(b"secret", Duration::from_secs(60)).expect("keys");
        let cases = [
            (3600, false, "an hour ahead"),
            (60, false, "past the leeway"),
            (2, true, "within the leeway"),
            (-3600, true, "an hour ago"),
        ];
        for (offset, accepted, case) in cases {
            assert_eq!(keys.verify(&with_nbf(offset)).is_some(), accepted, "{case}");
        }
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert!(JwtKeys::new(b"", Duration::from_secs(60)).is_err());
    }
}
