//! Token revocation, authentication and the health check.

use std::sync::Arc;

use chrono::TimeDelta;
use uuid::Uuid;

use super::fixtures::{unique_email, user};
use crate::domain::{now, UserId};
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

/// `authenticate` answers a stored user whose token is not revoked, the
/// revocation of another token notwithstanding.
pub async fn authenticate_answers_a_stored_user_whose_token_is_not_revoked(store: Arc<dyn Store>) {
    let ada = user(&unique_email());
    store
        .insert_user(&ada)
        .await
        .expect("insert_user must succeed");
    let (live, other) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    store
        .revoke_token(&other, now() + TimeDelta::hours(1))
        .await
        .expect("revoke_token must succeed");

    let found = store
        .authenticate(&ada.id, &live)
        .await
        .expect("authenticate must succeed");

    assert_eq!(
        found.as_ref(),
        Some(&ada),
        "authenticate with an unrevoked jti must return the stored user"
    );
}

/// `authenticate` answers `None`, not an error, for a revoked token of an
/// existing user, for a missing user, and for both at once.
pub async fn authenticate_answers_none_for_a_revoked_token_or_a_missing_user(
    store: Arc<dyn Store>,
) {
    let ada = user(&unique_email());
    store
        .insert_user(&ada)
        .await
        .expect("insert_user must succeed");
    let (revoked, live) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    store
        .revoke_token(&revoked, now() + TimeDelta::hours(1))
        .await
        .expect("revoke_token must succeed");
    let missing = UserId::new();

    let cases = [
        (&ada.id, &revoked, "an existing user with a revoked jti"),
        (&missing, &live, "a missing user with an unrevoked jti"),
        (&missing, &revoked, "a missing user with a revoked jti"),
    ];
    for (id, jti, case) in cases {
        let found = store
            .authenticate(id, jti)
            .await
            .unwrap_or_else(|e| panic!("authenticate must succeed for {case}: {e}"));
        assert_eq!(found, None, "authenticate must be None for {case}");
    }
}
