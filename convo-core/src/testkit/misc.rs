//! Token revocation and the health check.

use std::sync::Arc;

use chrono::TimeDelta;
use uuid::Uuid;

use crate::domain::now;
use crate::store::Store;

/// A revoked `jti` reads as revoked (also after revoking it twice); another does not.
pub async fn revoked_tokens_are_reported_as_revoked(store: Arc<dyn Store>) {
    let (revoked, other) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let expires_at = now() + TimeDelta::hours(1);

    store
        .revoke_token(&revoked, expires_at)
        .await
        .expect("revoke_token must succeed");
    store
        .revoke_token(&revoked, expires_at)
        .await
        .expect("revoking an already revoked token must succeed");

    assert!(
        store
            .is_token_revoked(&revoked)
            .await
            .expect("is_token_revoked must succeed"),
        "a revoked jti must read as revoked"
    );
    assert!(
        !store
            .is_token_revoked(&other)
            .await
            .expect("is_token_revoked must succeed"),
        "a jti never revoked must not read as revoked"
    );
}

/// A revocation holds until its `expires_at`, however many revocations come
/// after it (a store may drop expired records when it stores a new one, but
/// never an unexpired one).
pub async fn a_revocation_holds_until_its_expiry_whatever_is_revoked_later(store: Arc<dyn Store>) {
    let kept = Uuid::now_v7().to_string();
    store
        .revoke_token(&kept, now() + TimeDelta::hours(1))
        .await
        .expect("revoke_token must succeed");

    for expires_at in [now() - TimeDelta::hours(1), now() + TimeDelta::minutes(5)] {
        store
            .revoke_token(&Uuid::now_v7().to_string(), expires_at)
            .await
            .expect("revoke_token must succeed");
    }

    assert!(
        store
            .is_token_revoked(&kept)
            .await
            .expect("is_token_revoked must succeed"),
        "a revocation must hold until its expiry, whatever is revoked later"
    );
}

/// `ping` answers `Ok` on a working store.
pub async fn ping_succeeds(store: Arc<dyn Store>) {
    store
        .ping()
        .await
        .expect("ping must succeed on a working store");
}
