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
    let hash = user.password_hash.as_deref().unwrap_or_default();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "OWASP argon2id: {hash}"
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

#[tokio::test]
async fn an_external_identity_gets_one_passwordless_user_with_its_free_email() {
    let w = world_with(MockProvider::new(), Settings::default());

    let first = w
        .convo
        .user_for_external_identity("https://id.example.com", "u-1", Some(" Ada@Example.com"))
        .await
        .expect("first use creates the user");
    let again = w
        .convo
        .user_for_external_identity("https://id.example.com", "u-1", Some("other@example.com"))
        .await
        .expect("second use finds it");

    assert_eq!(again, first, "one identity, one user, as first stored");
    assert_eq!(first.email.as_str(), "ada@example.com");
    assert_eq!(first.password_hash, None, "no password is invented");
    let login = w
        .convo
        .verify_credentials("ada@example.com", "password123")
        .await;
    assert!(
        matches!(login, Err(ConvoError::InvalidCredentials)),
        "{login:?}"
    );
}

#[tokio::test]
async fn an_external_identity_never_takes_over_a_registered_email() {
    let w = world_with(MockProvider::new(), Settings::default());
    let ada = w
        .convo
        .register("ada@example.com", "password123", None)
        .await
        .expect("register");

    let external = w
        .convo
        .user_for_external_identity("https://id.example.com", "ada", Some("ada@example.com"))
        .await
        .expect("created with a placeholder address");

    assert_ne!(external.id, ada.id, "the registered user is not linked");
    assert_eq!(
        external.email.as_str(),
        format!("{}@external.invalid", external.id),
        "a taken address gives way to the undeliverable placeholder"
    );
    let without = w
        .convo
        .user_for_external_identity("https://id.example.com", "bob", None)
        .await
        .expect("created without an address");
    assert!(without.email.as_str().ends_with("@external.invalid"));
}

#[tokio::test]
async fn external_identities_are_validated_by_field() {
    let w = world_with(MockProvider::new(), Settings::default());
    let long = "s".repeat(256);
    let cases = [
        ("", "sub", None, "issuer"),
        ("https://id.example.com", "", None, "subject"),
        ("https://id.example.com", long.as_str(), None, "subject"),
        (
            "https://id.example.com",
            "sub",
            Some("not-an-email"),
            "email",
        ),
    ];
    for (issuer, subject, email, field) in cases {
        assert_invalid(
            w.convo
                .user_for_external_identity(issuer, subject, email)
                .await,
            field,
        );
    }
}
