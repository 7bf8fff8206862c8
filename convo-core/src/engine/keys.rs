//! Project API keys: made, listed and revoked by the project's owner, and
//! recognised, per request, by their secret.
//!
//! A secret is `ck_` + 43 base62 characters (256 bits from the OS random
//! source); stores keep its SHA-256. A fast hash suffices where a password
//! needs argon2: the secret is random and long, so there is nothing to
//! guess from its hash. A presented secret finds its key by that hash, and
//! the hashes are compared once more in constant time.
//!
//! Per request a key costs one store call to find it (none while the
//! store's change feed is healthy and the key was found before: a deletion
//! anywhere drops it from every process as its change arrives, and while
//! the feed is down every request asks the store), one more when it has a
//! rate limit (the shared per-minute counter), and no write for
//! `last_used_at`: that is written at most once a minute per key and
//! process, in the background.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{parse_id, validate, Convo};
use crate::domain::{
    now, ApiKey, IntoId, IssuedApiKey, KeyId, NewApiKey, ProjectId, Timestamp, UserId,
};
use crate::error::ConvoError;
use crate::store::StoreError;

/// What every key's secret starts with.
pub const KEY_PREFIX: &str = "ck_";
/// Base62 characters after the prefix: 43 × log2(62) ≈ 256 bits.
const SECRET_CHARS: usize = 43;
/// Characters of the secret kept as the key's visible `prefix`, `ck_` included.
const SHOWN_CHARS: usize = KEY_PREFIX.len() + 8;
/// The most requests per minute a key may be given.
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 1_000_000;
/// How stale a key's `last_used_at` may get (and how often a process writes it).
const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a presented secret does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// No such key (never made, revoked, or not a key at all).
    Unknown,
    /// The key's `expires_at` has passed.
    Expired,
}

/// A new secret: `ck_` + 43 characters drawn uniformly from base62.
fn new_secret() -> Result<String, ConvoError> {
    let mut secret = String::with_capacity(KEY_PREFIX.len() + SECRET_CHARS);
    secret.push_str(KEY_PREFIX);
    let mut buf = [0u8; 64];
    while secret.len() < KEY_PREFIX.len() + SECRET_CHARS {
        getrandom::fill(&mut buf)
            .map_err(|e| ConvoError::Internal(format!("the OS random source failed: {e}")))?;
        // 248 = 4 × 62: bytes at or above it are dropped, so every
        // character is equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if secret.len() == KEY_PREFIX.len() + SECRET_CHARS {
                break;
            }
            secret.push(char::from(BASE62[usize::from(*b % 62)]));
        }
    }
    Ok(secret)
}

/// Lowercase hex SHA-256 of a secret: how stores know it.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
}

/// Whether `text` has the shape of a key's secret (and so is worth a store
/// call): the prefix, then base62 of the right length.
pub fn looks_like_key(text: &str) -> bool {
    text.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == SECRET_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

impl Convo {
    /// Makes a key for one of the owner's projects. The returned
    /// [`IssuedApiKey::secret`] is the only copy of the secret.
    pub async fn create_api_key(
        &self,
        owner: &UserId,
        project_id: impl IntoId<ProjectId>,
        new: NewApiKey,
    ) -> Result<IssuedApiKey, ConvoError> {
        let project = self.project(owner, project_id).await?;
        let name = validate::name("name", &new.name)?;
        let at = now();
        if new.expires_at.is_some_and(|end| end <= at) {
            return Err(ConvoError::invalid("expires_at", "must be in the future"));
        }
        if let Some(rpm) = new.rate_limit_per_minute {
            if !(1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&rpm) {
                return Err(ConvoError::invalid(
                    "rate_limit_per_minute",
                    format!("must be between 1 and {MAX_RATE_LIMIT_PER_MINUTE}"),
                ));
            }
        }
        if new.end_user_monthly_token_budget == Some(0) {
            return Err(ConvoError::invalid(
                "end_user_monthly_token_budget",
                "must be at least 1",
            ));
        }
        let secret = new_secret()?;
        let key = ApiKey {
            id: KeyId::new(),
            project_id: project.id,
            owner: *owner,
            name,
            scope: new.scope,
            prefix: secret[..SHOWN_CHARS].to_owned(),
            secret_hash: secret_hash(&secret),
            created_at: at,
            expires_at: new.expires_at,
            last_used_at: None,
            rate_limit_per_minute: new.rate_limit_per_minute,
            end_user_monthly_token_budget: new.end_user_monthly_token_budget,
        };
        match self.store().insert_api_key(&key).await {
            Ok(()) => Ok(IssuedApiKey { key, secret }),
            Err(StoreError::NotFound(_)) => Err(ConvoError::NotFound("project")),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys of one of the owner's projects, oldest first (never their secrets).
    pub async fn list_api_keys(
        &self,
        owner: &UserId,
        project_id: impl IntoId<ProjectId>,
    ) -> Result<Vec<ApiKey>, ConvoError> {
        let project = self.project(owner, project_id).await?;
        Ok(self.store().api_keys(owner, &project.id).await?)
    }

    /// Revokes (deletes) a key of one of the owner's projects: every engine
    /// on the same store refuses it from its next request on.
    pub async fn revoke_api_key(
        &self,
        owner: &UserId,
        project_id: impl IntoId<ProjectId>,
        key_id: impl IntoId<KeyId>,
    ) -> Result<(), ConvoError> {
        let project = parse_id(project_id, "project")?;
        let key = parse_id(key_id, "api key")?;
        if self.store().delete_api_key(owner, &project, &key).await? {
            Ok(())
        } else {
            Err(ConvoError::NotFound("api key"))
        }
    }

    /// The key a presented secret stands for, if it is a live one, with its
    /// request counted against the key's per-minute limit
    /// ([`ConvoError::KeyRateLimited`] when over it). `Ok(Err(_))`: the
    /// secret authenticates nothing.
    pub async fn authenticate_api_key(
        &self,
        secret: &str,
    ) -> Result<Result<Arc<ApiKey>, KeyRefusal>, ConvoError> {
        if !looks_like_key(secret) {
            return Ok(Err(KeyRefusal::Unknown));
        }
        let hash = secret_hash(secret);
        let Some(key) = self.key_by_hash(&hash).await? else {
            return Ok(Err(KeyRefusal::Unknown));
        };
        // The store found it by this hash; comparing again in constant time
        // keeps a store whose lookup is looser (a prefix or collation match)
        // from admitting a near miss, without a timing signal.
        if !bool::from(key.secret_hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Ok(Err(KeyRefusal::Unknown));
        }
        let at = now();
        if key.expired_at(at) {
            return Ok(Err(KeyRefusal::Expired));
        }
        if let Some(limit) = key.rate_limit_per_minute {
            let (window, retry_after) = minute_window(at);
            let count = self.store().count_key_request(&key.id, window).await?;
            if count > u64::from(limit) {
                return Err(ConvoError::KeyRateLimited { limit, retry_after });
            }
        }
        self.note_key_use(&key, at);
        Ok(Ok(Arc::new(key)))
    }

    /// The key with this secret hash: kept in process while the store's
    /// change feed is healthy (a deletion through this engine's store is
    /// applied before it returns, one elsewhere when its change arrives),
    /// else asked of the store. Only the lookup is kept: the expiry and the
    /// rate limit are checked on every request.
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, ConvoError> {
        let feed = self.store().changes();
        if let Some(key) = feed.and_then(|f| f.api_key(hash)) {
            return Ok(Some(key));
        }
        let ticket = feed.and_then(|f| f.ticket());
        let found = self.store().api_key_by_hash(hash).await?;
        if let (Some(feed), Some(ticket), Some(key)) = (feed, ticket, &found) {
            feed.keep_api_key(ticket, key);
        }
        Ok(found)
    }

    /// Writes the key's `last_used_at` in the background when it is more
    /// than a minute old, at most once a minute per key in this engine.
    fn note_key_use(&self, key: &ApiKey, at: Timestamp) {
        let fresh = key.last_used_at.is_some_and(|last| {
            (at - last)
                .to_std()
                .is_ok_and(|age| age < LAST_USED_GRANULARITY)
        });
        if fresh {
            return;
        }
        {
            let mut touched = self
                .shared
                .key_touches
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now_here = Instant::now();
            if touched
                .get(&key.id)
                .is_some_and(|t| now_here.duration_since(*t) < LAST_USED_GRANULARITY)
            {
                return;
            }
            // Bounded: keys used in the last minute, whatever the traffic.
            touched.retain(|_, t| now_here.duration_since(*t) < LAST_USED_GRANULARITY);
            touched.insert(key.id, now_here);
        }
        let store = self.store().clone();
        let id = key.id;
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&id, at).await {
                tracing::warn!(key = %id, error = %e, "could not record the key's last use");
            }
        });
    }
}

/// The start of `at`'s minute (UTC) and the time left in it.
fn minute_window(at: Timestamp) -> (Timestamp, Duration) {
    use chrono::{DurationRound, TimeDelta};
    let start = at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at);
    let left = (start + TimeDelta::minutes(1) - at)
        .to_std()
        .unwrap_or(Duration::from_secs(1));
    // `Retry-After` is whole seconds: round up, never 0.
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    (start, Duration::from_secs(secs.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_base62_of_256_bits_and_all_different() {
        let a = new_secret().expect("secret");
        let b = new_secret().expect("secret");
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert!(looks_like_key(s), "{s}");
            assert_eq!(s.len(), 3 + 43);
        }
        assert!(!looks_like_key("ck_short"));
        assert!(!looks_like_key(&format!("xk_{}", &a[3..])));
        assert!(!looks_like_key(&format!("{}!", &a[..a.len() - 1])));
    }

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_window_is_the_minute_and_the_wait_its_rest() {
        use chrono::TimeZone;
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 12, 1, 10, 20, 45)
            .single()
            .expect("time");
        let (start, wait) = minute_window(at);
        assert_eq!(start.to_rfc3339(), "2026-12-01T10:20:00+00:00");
        assert_eq!(wait, Duration::from_secs(15));
    }
}
