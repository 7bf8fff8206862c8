//! `/api/auth/*`: registration, login, the cookie, `me`, and the
//! failed-login limit (tokens and logout are in `tokens`).

use chrono::DateTime;
use convo::core::MockProvider;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, json_with_status, new_client, set_cookie, spawn_app, spawn_app_with,
    token_cookie, unique_email, PASSWORD,
};

#[tokio::test]
async fn registering_returns_the_user_and_sets_an_http_only_lax_cookie_that_is_not_secure_on_loopback(
) {
    // Arrange
    let app = spawn_app().await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"});

    // Act
    let resp = app.post(&app.client, "/api/auth/register", &body).await;

    // Assert
    let cookie = set_cookie(&resp).expect("Set-Cookie");
    let token = token_cookie(&resp).expect("token cookie");
    let text = resp.text().await.expect("body");
    let json: Value = serde_json::from_str(&text).expect("json");
    let user = &json["user"];
    assert_eq!(
        json.as_object().map(|o| o.len()),
        Some(1),
        "only `user`: {json}"
    );
    assert_eq!(
        user.as_object().map(|o| o.len()),
        Some(4),
        "id, email, name, created_at: {user}"
    );
    assert!(user["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada");
    let created = user["created_at"].as_str().expect("created_at");
    DateTime::parse_from_rfc3339(created).expect("RFC 3339 timestamp");
    assert!(
        !token.is_empty() && !text.contains(&token),
        "the token never appears in the body"
    );
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=", "Expires="] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure on 127.0.0.1: {cookie}"
    );
    let max_age: i64 = cookie
        .split(';')
        .find_map(|a| a.trim().strip_prefix("Max-Age="))
        .and_then(|v| v.parse().ok())
        .expect("numeric Max-Age");
    assert!(
        max_age > 3600,
        "the cookie lives as long as the token: {cookie}"
    );
}

#[tokio::test]
async fn registration_normalises_the_email_and_refuses_the_same_address_in_another_case() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let first = app
        .register(&app.client, "  Grace.Hopper@Example.COM ", PASSWORD)
        .await;
    let again = app
        .register(&new_client(), "GRACE.HOPPER@example.com", PASSWORD)
        .await;

    // Assert
    let first = json_with_status(first, 201).await;
    assert_eq!(first["user"]["email"], "grace.hopper@example.com");
    assert_eq!(first["user"]["name"], Value::Null);
    assert_error(again, 409, "email_taken").await;
    let login = app
        .login(&new_client(), " grace.hopper@EXAMPLE.com\t", PASSWORD)
        .await;
    assert_eq!(
        login.status(),
        200,
        "login trims and compares case-insensitively too"
    );
}

#[tokio::test]
async fn invalid_registrations_are_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
            "no @",
        ),
        (
            json!({"email": "", "password": PASSWORD}),
            "email",
            "empty email",
        ),
        (
            json!({"email": unique_email(), "password": "x".repeat(7)}),
            "password",
            "7 characters",
        ),
        (
            json!({"email": unique_email(), "password": "x".repeat(129)}),
            "password",
            "129 characters",
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "name": "n".repeat(201)}),
            "name",
            "name of 201",
        ),
    ];
    for (body, param, case) in cases {
        let resp = app.post(&new_client(), "/api/auth/register", &body).await;
        let error = assert_error(resp, 422, "validation_failed").await;
        assert_eq!(error["param"], param, "{case}");
    }
    for (password, case) in [
        ("x".repeat(8), "8 characters"),
        ("x".repeat(128), "128 characters"),
    ] {
        let resp = app
            .register(&new_client(), &unique_email(), &password)
            .await;
        assert_eq!(resp.status(), 201, "{case} is a valid password");
    }
}

#[tokio::test]
async fn login_sets_the_cookie_and_me_returns_the_user() {
    // Arrange
    let app = spawn_app().await;
    let user = app.other_user().await;

    // Act
    let resp = app.login(&app.client, &user.email, PASSWORD).await;

    // Assert
    let cookie = set_cookie(&resp).expect("Set-Cookie on login");
    assert!(
        cookie.starts_with("token=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let token = token_cookie(&resp).expect("token");
    let login = json_with_status(resp, 200).await;
    assert!(
        !login.to_string().contains(&token),
        "no token in the login body"
    );
    assert_eq!(login["user"]["id"], user.id.as_str());
    let me = json_with_status(app.get(&app.client, "/api/auth/me").await, 200).await;
    assert_eq!(me, login, "me returns the same {{user}}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    // Arrange
    let app = spawn_app().await;
    let user = app.other_user().await;

    // Act
    let wrong_password = app
        .login(&new_client(), &user.email, "not the password")
        .await;
    let unknown_email = app.login(&new_client(), &unique_email(), PASSWORD).await;

    // Assert
    let mut a = assert_error(wrong_password, 401, "invalid_credentials").await;
    let mut b = assert_error(unknown_email, 401, "invalid_credentials").await;
    assert_ne!(a["request_id"], b["request_id"]);
    a["request_id"] = Value::Null;
    b["request_id"] = Value::Null;
    assert_eq!(a, b, "nothing tells the two apart");
}

#[tokio::test]
async fn me_without_credentials_is_401_unauthenticated() {
    let app = spawn_app().await;

    let resp = app.get(&app.client, "/api/auth/me").await;

    assert_error(resp, 401, "unauthenticated").await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_email_and_per_client_address() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| c.login_failures_per_minute = 3).await;
    let victim = app.other_user().await;
    let bystander = app.other_user().await;
    for attempt in 1..=3 {
        let resp = app
            .login(&new_client(), &victim.email, "wrong password!")
            .await;
        assert_eq!(
            resp.status(),
            401,
            "attempt {attempt} is an ordinary failure"
        );
    }

    // Act
    let right_password = app.login(&new_client(), &victim.email, PASSWORD).await;
    let other_email = app.login(&new_client(), &bystander.email, PASSWORD).await;

    // Assert
    for (resp, case) in [
        (right_password, "the right password"),
        (other_email, "another email, same address"),
    ] {
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(
            retry_after.is_some_and(|s| (1..=60).contains(&s)),
            "{case}: Retry-After {retry_after:?}"
        );
        let error = assert_error(resp, 429, "rate_limited").await;
        assert_eq!(error["retryable"], true, "{case}");
    }
}
