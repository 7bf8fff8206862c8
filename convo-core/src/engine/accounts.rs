//! Users: registration, credential checks (argon2id), and users for
//! external identities.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

use super::{validate, Convo};
use crate::domain::{now, Email, ExternalIdentity, Timestamp, User, UserId};
use crate::error::ConvoError;
use crate::store::StoreError;

impl Convo {
    /// Registers a user. The e-mail is trimmed and lower-cased; the password
    /// (8–128 characters) is hashed with argon2id (OWASP parameters:
    /// m = 19456 KiB, t = 2, p = 1) off the async threads.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
    ) -> Result<User, ConvoError> {
        let email = Email::parse(email).map_err(|e| ConvoError::invalid("email", e.to_string()))?;
        validate::password(password)?;
        let name = validate::optional_name("name", name)?;
        let password_hash = self.hash_password(password).await?;
        let user = User {
            id: UserId::new(),
            email,
            name,
            password_hash: Some(password_hash),
            external: None,
            created_at: now(),
        };
        match self.store().insert_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(ConvoError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks an e-mail and password. An unknown e-mail and a wrong password
    /// give the same [`ConvoError::InvalidCredentials`] in about the same time:
    /// an unknown e-mail is checked against a dummy hash.
    pub async fn verify_credentials(
        &self,
        email: &str,
        password: &str,
    ) -> Result<User, ConvoError> {
        // A malformed e-mail cannot be registered, so it is simply unknown.
        let user = match Email::parse(email) {
            Ok(email) => self.store().user_by_email(&email).await?,
            Err(_) => None,
        };
        // A user without a password (created for an external identity) is
        // checked against the dummy hash too: refused in the same time.
        let hash = match user.as_ref().and_then(|u| u.password_hash.clone()) {
            Some(hash) => hash,
            None => self.dummy_hash().await?,
        };
        let matches = self.verify_password(password, hash).await?;
        match user {
            Some(user) if matches && user.password_hash.is_some() => Ok(user),
            _ => Err(ConvoError::InvalidCredentials),
        }
    }

    /// The user for an identity at another system, created on first use:
    /// how a program that has its own users (or an OpenID Connect issuer
    /// whose tokens it verified) maps them onto Convo's, without inventing
    /// passwords. `issuer` names that system (an OIDC `iss`, or any stable
    /// name of the embedding program's user base) and `subject` the user's
    /// id there; both are compared exactly, non-empty, without control
    /// characters, at most [`ExternalIdentity::MAX_ISSUER_LEN`] and
    /// [`ExternalIdentity::MAX_SUBJECT_LEN`] bytes (else
    /// [`ConvoError::Invalid`] naming `issuer` or `subject`).
    ///
    /// The user has no password, so [`verify_credentials`](Self::verify_credentials)
    /// never accepts it. Its e-mail is `email` (normalised; an invalid one is
    /// [`ConvoError::Invalid`] on `email`) when that address is not already
    /// another user's, else, or without one, `<user id>@external.invalid`, an
    /// address that can never be delivered. An address already taken is never
    /// taken over: whoever registered it keeps it. The e-mail is only set when
    /// the user is created; later calls return the user as stored. Two
    /// concurrent first calls for one identity create one user, on every
    /// store and across engines sharing one.
    pub async fn user_for_external_identity(
        &self,
        issuer: &str,
        subject: &str,
        email: Option<&str>,
    ) -> Result<User, ConvoError> {
        let identity = ExternalIdentity::new(issuer, subject)
            .map_err(|e| ConvoError::invalid(e.field, e.reason))?;
        let email = email
            .map(Email::parse)
            .transpose()
            .map_err(|e| ConvoError::invalid("email", e.to_string()))?;
        let id = UserId::new();
        let candidate = |email| User {
            id,
            email,
            name: None,
            password_hash: None,
            external: Some(identity.clone()),
            created_at: now(),
        };
        if let Some(email) = email {
            match self
                .store()
                .find_or_insert_external_user(&candidate(email))
                .await
            {
                // The address is someone else's: fall back to the placeholder.
                Err(StoreError::Conflict(_)) => {}
                found_or_made => return Ok(found_or_made?),
            }
        }
        let placeholder = Email::external_placeholder(&id);
        Ok(self
            .store()
            .find_or_insert_external_user(&candidate(placeholder))
            .await?)
    }

    /// The user with this id (e.g. the subject of a verified token).
    pub async fn user(&self, id: &UserId) -> Result<User, ConvoError> {
        self.store()
            .user(id)
            .await?
            .ok_or(ConvoError::NotFound("user"))
    }

    /// The user a verified token stands for, if it still does: `None` when
    /// the token's id (`jti`) was revoked (by any engine over the same
    /// store) or the user is gone.
    ///
    /// One store call, or none while the store's [change
    /// feed](crate::store::ChangeFeed) is healthy and this token was seen
    /// before: a revocation made through this engine's store holds here at
    /// once, one made elsewhere from when its change arrives (a stream's
    /// delivery; on SQLite at once, since its feed looks for any commit to
    /// the file before a kept answer is used); while the feed is down,
    /// every call asks the store.
    pub async fn authenticate(&self, id: &UserId, jti: &str) -> Result<Option<User>, ConvoError> {
        let feed = self.store().changes();
        if let Some(user) = feed.and_then(|f| f.user(id, jti)) {
            return Ok(Some(user));
        }
        // Taken before the read: an answer is kept only if no change
        // arrived while it was being read.
        let ticket = feed.and_then(|f| f.ticket());
        let found = self.store().authenticate(id, jti).await?;
        if let (Some(feed), Some(ticket), Some(user)) = (feed, ticket, &found) {
            feed.keep_user(ticket, jti, user);
        }
        Ok(found)
    }

    /// Revokes the token with this id (its `jti`) until it would have
    /// expired anyway, on every engine over the same store.
    pub async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), ConvoError> {
        Ok(self.store().revoke_token(jti, expires_at).await?)
    }

    /// Whether the token with this id was revoked (by any engine over the
    /// same store).
    pub async fn is_token_revoked(&self, jti: &str) -> Result<bool, ConvoError> {
        Ok(self.store().is_token_revoked(jti).await?)
    }

    async fn hash_password(&self, password: &str) -> Result<String, ConvoError> {
        let password = password.to_owned();
        self.blocking_hash_work(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| ConvoError::Internal(format!("password hashing failed: {e}")))
        })
        .await
    }

    async fn verify_password(&self, password: &str, hash: String) -> Result<bool, ConvoError> {
        // Overlong input is refused before hashing: argon2 cost grows with it.
        if password.len() > 4 * validate::PASSWORD_CHARS.end() {
            return Ok(false);
        }
        let password = password.to_owned();
        self.blocking_hash_work(move || {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| ConvoError::Internal(format!("stored hash unreadable: {e}")))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    /// A hash of a random password, made once, for timing-safe misses.
    async fn dummy_hash(&self) -> Result<String, ConvoError> {
        self.shared
            .dummy_hash
            .get_or_try_init(|| {
                let random = uuid::Uuid::new_v4().to_string();
                async move { self.hash_password(&random).await }
            })
            .await
            .cloned()
    }

    /// Runs argon2 work on the blocking pool, at most
    /// `max_concurrent_password_hashes` at once, so a login storm neither
    /// stalls the async workers nor exhausts memory.
    async fn blocking_hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ConvoError> + Send + 'static,
    ) -> Result<T, ConvoError> {
        let _permit = self
            .shared
            .hash_permits
            .acquire()
            .await
            .map_err(|_| ConvoError::Internal("password hashing pool closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ConvoError::Internal(format!("password hashing task failed: {e}")))?
    }
}
