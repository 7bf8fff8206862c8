//! Users: insert, read by id and by e-mail, unique e-mail.

use std::sync::Arc;

use uuid::Uuid;

use super::fixtures::{unique_email, user};
use crate::domain::{Email, UserId};
use crate::store::{Store, StoreError};

/// A stored user reads back equal by id and by (normalised) e-mail.
pub async fn users_can_be_inserted_and_read_by_id_and_by_email(store: Arc<dyn Store>) {
    let ada = user(&unique_email());

    store
        .insert_user(&ada)
        .await
        .expect("insert_user with a unique e-mail must succeed");

    let by_id = store.user(&ada.id).await.expect("user() must succeed");
    assert_eq!(
        by_id.as_ref(),
        Some(&ada),
        "user(id) must return the stored user"
    );
    let by_email = store
        .user_by_email(&ada.email)
        .await
        .expect("user_by_email() must succeed");
    assert_eq!(
        by_email.as_ref(),
        Some(&ada),
        "user_by_email must return the stored user"
    );
}

/// Unknown ids and addresses read as `None`, not as an error.
pub async fn unknown_users_read_as_none(store: Arc<dyn Store>) {
    let unknown_email = Email::parse(&unique_email()).expect("unique_email() must parse");

    let by_id = store
        .user(&UserId::new())
        .await
        .expect("user() of an unknown id must succeed");
    let by_email = store
        .user_by_email(&unknown_email)
        .await
        .expect("user_by_email() of an unknown address must succeed");

    assert_eq!(by_id, None, "user(id) of an unknown id must be None");
    assert_eq!(
        by_email, None,
        "user_by_email of an unknown address must be None"
    );
}

/// A second user whose address differs only in case is a [`StoreError::Conflict`].
pub async fn emails_are_unique_regardless_of_case(store: Arc<dyn Store>) {
    let tag = Uuid::now_v7().simple().to_string();
    let first = user(&format!("Ada.{tag}@X.io"));
    let second = user(&format!("ada.{tag}@x.io"));
    store
        .insert_user(&first)
        .await
        .expect("insert_user of the first address must succeed");

    let result = store.insert_user(&second).await;

    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "inserting {} after {} must be Err(StoreError::Conflict(_)), got {result:?}",
        second.email,
        first.email,
    );
    let shouted = Email::parse(&format!("ADA.{tag}@X.IO")).expect("upper-case address must parse");
    let found = store
        .user_by_email(&shouted)
        .await
        .expect("user_by_email() must succeed");
    assert_eq!(
        found.as_ref(),
        Some(&first),
        "a lookup in another case must find the first user"
    );
    let loser = store.user(&second.id).await.expect("user() must succeed");
    assert_eq!(loser, None, "the refused user must not be stored");
}
