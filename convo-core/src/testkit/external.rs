//! Users for external identities: found or created once per `(issuer,
//! subject)`, atomically, never a password login.

use std::sync::Arc;

use tokio::sync::Barrier;
use uuid::Uuid;

use super::fixtures::{insert_user, unique_email, user};
use crate::domain::{ExternalIdentity, User};
use crate::error::ConvoError;
use crate::llm::MockProvider;
use crate::store::{Store, StoreError};
use crate::{Convo, Settings};

/// An identity no other call returns, at `issuer`.
fn identity_at(issuer: &str) -> ExternalIdentity {
    let subject = format!("subject-{}", Uuid::now_v7().simple());
    ExternalIdentity::new(issuer, &subject).expect("test identity must be valid")
}

/// A fresh passwordless candidate for `identity`, with a unique e-mail.
fn candidate(identity: &ExternalIdentity) -> User {
    User {
        password_hash: None,
        external: Some(identity.clone()),
        name: None,
        ..user(&unique_email())
    }
}

/// The first call stores the candidate and returns it; a second call, with
/// another candidate, returns the first user unchanged (no password, its
/// identity kept), and so do `user(id)` and `user_by_email`.
pub async fn finding_the_user_of_an_external_identity_twice_gives_one_user(store: Arc<dyn Store>) {
    let identity = identity_at("https://issuer.example.test");
    let first = candidate(&identity);

    let made = store
        .find_or_insert_external_user(&first)
        .await
        .expect("the first find_or_insert_external_user must succeed");
    let again = store
        .find_or_insert_external_user(&candidate(&identity))
        .await
        .expect("the second find_or_insert_external_user must succeed");

    assert_eq!(
        made, first,
        "the first call must store and return the candidate"
    );
    assert_eq!(again, first, "the second call must return the first user");
    let by_id = store.user(&first.id).await.expect("user() must succeed");
    assert_eq!(
        by_id.as_ref(),
        Some(&first),
        "user(id) must read it back equal"
    );
    let by_email = store
        .user_by_email(&first.email)
        .await
        .expect("user_by_email() must succeed");
    assert_eq!(
        by_email,
        Some(first),
        "user_by_email must read it back equal"
    );
}

/// Twenty first calls racing for one identity, each with its own candidate,
/// all get the same single user.
pub async fn concurrent_first_calls_for_an_external_identity_make_one_user(store: Arc<dyn Store>) {
    race_for_one_identity(&store, &store).await;
}

/// When the identity has no user and the candidate's e-mail is taken, the
/// call is a [`StoreError::Conflict`] and stores nothing.
pub async fn an_external_user_whose_email_is_taken_is_a_conflict_and_not_stored(
    store: Arc<dyn Store>,
) {
    let owner = insert_user(store.as_ref()).await;
    let identity = identity_at("https://issuer.example.test");
    let taken = User {
        email: owner.email.clone(),
        ..candidate(&identity)
    };

    let result = store.find_or_insert_external_user(&taken).await;

    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "an external user with a taken e-mail must be Err(Conflict), got {result:?}"
    );
    let stored = store.user(&taken.id).await.expect("user() must succeed");
    assert_eq!(stored, None, "the refused user must not be stored");
    let next = candidate(&identity);
    let made = store
        .find_or_insert_external_user(&next)
        .await
        .expect("a free e-mail for the same identity must then succeed");
    assert_eq!(
        made, next,
        "the identity had no user, so the new candidate is stored"
    );
}

/// The same subject at two issuers is two users.
pub async fn the_same_subject_at_another_issuer_is_another_user(store: Arc<dyn Store>) {
    let at_a = identity_at("https://a.example.test");
    let at_b = ExternalIdentity::new("https://b.example.test", at_a.subject())
        .expect("test identity must be valid");

    let a = store
        .find_or_insert_external_user(&candidate(&at_a))
        .await
        .expect("find_or_insert_external_user at issuer A");
    let b = store
        .find_or_insert_external_user(&candidate(&at_b))
        .await
        .expect("find_or_insert_external_user at issuer B");

    assert_ne!(a.id, b.id, "one subject at two issuers must be two users");
    assert_eq!(b.external, Some(at_b), "each user keeps its own issuer");
}

/// A user made for an external identity has no password: a password login
/// with its e-mail is refused like a wrong password, never a panic or an
/// internal error (an engine over this store checks it).
pub async fn a_password_login_for_an_external_user_is_refused(store: Arc<dyn Store>) {
    let made = store
        .find_or_insert_external_user(&candidate(&identity_at("https://issuer.example.test")))
        .await
        .expect("find_or_insert_external_user must succeed");
    let convo = Convo::new(
        Arc::clone(&store),
        Arc::new(MockProvider::new()),
        Settings::default(),
    );

    for password in ["", "password123"] {
        let login = convo
            .verify_credentials(made.email.as_str(), password)
            .await;
        assert!(
            matches!(login, Err(ConvoError::InvalidCredentials)),
            "a password login ({password:?}) for a user without a password must be \
             Err(InvalidCredentials), got {login:?}"
        );
    }
}

/// Twenty first calls for one identity, alternating between `a` and `b`
/// (one store twice, or two handles on one backend), make one user.
pub(super) async fn race_for_one_identity(a: &Arc<dyn Store>, b: &Arc<dyn Store>) {
    let identity = identity_at("https://issuer.example.test");
    let start = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { a } else { b });
            let start = Arc::clone(&start);
            let mine = candidate(&identity);
            tokio::spawn(async move {
                start.wait().await;
                store.find_or_insert_external_user(&mine).await
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(20);
    for task in tasks {
        let user = task
            .await
            .expect("the racing task must not panic")
            .expect("a racing find_or_insert_external_user must succeed");
        ids.push(user.id);
    }
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "twenty first calls for one identity must all get the same user, got {ids:?}"
    );
    for store in [a, b] {
        let stored = store.user(&ids[0]).await.expect("user() must succeed");
        assert_eq!(
            stored.and_then(|u| u.external),
            Some(identity.clone()),
            "the one user must be stored with its identity"
        );
    }
}

/// Twenty first calls for one identity, racing through two handles on one
/// backend, make one user (the rule holds in the database, not in a process).
pub async fn concurrent_first_calls_for_an_external_identity_through_two_handles_make_one_user(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    race_for_one_identity(&a, &b).await;
}
