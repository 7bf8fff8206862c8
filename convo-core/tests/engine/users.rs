//! Users: registration and credentials.

use convo_core::{ConvoError, MockProvider, Settings};

use crate::support::*;

#[tokio::test]
async fn registration_normalises_the_email_and_refuses_a_second_spelling() {
    let w = world_with(MockProvider::new(), Settings::default());
    let user = w
        .convo
        .register("  Ada@Example.COM ", "password123", Some(" Ada "))
        .await
        .expect("register");
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.name.as_deref(), Some("Ada"));
    assert!(
        user.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "OWASP argon2id: {}",
        user.password_hash
    );
    let again = w
        .convo
        .register("ADA@example.com", "another-pass", None)
        .await;
    assert!(matches!(again, Err(ConvoError::EmailTaken)), "{again:?}");
}

#[tokio::test]
async fn registration_rejects_bad_emails_and_passwords_by_field() {
    let w = world_with(MockProvider::new(), Settings::default());
    assert_invalid(
        w.convo.register("not-an-email", "password123", None).await,
        "email",
    );
    assert_invalid(w.convo.register("a@b.c", "short", None).await, "password");
    assert_invalid(
        w.convo.register("a@b.c", &"x".repeat(129), None).await,
        "password",
    );
    assert_invalid(
        w.convo
            .register("a@b.c", "password123", Some(&"n".repeat(201)))
            .await,
        "name",
    );
}

#[tokio::test]
async fn credentials_are_verified_and_every_miss_looks_the_same() {
    let w = world_with(MockProvider::new(), Settings::default());
    let user = w
        .convo
        .register("ada@example.com", "password123", None)
        .await
        .expect("register");
    let ok = w
        .convo
        .verify_credentials(" ADA@example.com", "password123")
        .await
        .expect("login");
    assert_eq!(ok.id, user.id);
    for (email, password) in [
        ("ada@example.com", "wrong-password"),
        ("bob@example.com", "password123"),
        ("garbage", "password123"),
    ] {
        let result = w.convo.verify_credentials(email, password).await;
        assert!(
            matches!(result, Err(ConvoError::InvalidCredentials)),
            "{email}/{password}: {result:?}"
        );
    }
}
