//! User enumeration: an unknown e-mail must look like a wrong password, in
//! its answer and in its timing. (Registration answers `409 email_taken` by
//! contract; login's identical answers are in `auth`.)

use std::time::{Duration, Instant};

use convo::core::MockProvider;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, plain_client, set_cookie, spawn_app, spawn_app_with, unique_email, TestApp,
    PASSWORD,
};

/// The error object without its request id, and whether a cookie was set.
async fn failure(resp: reqwest::Response) -> (Value, bool) {
    let cookie = set_cookie(&resp).is_some();
    let mut error = assert_error(resp, 401, "invalid_credentials").await;
    error["request_id"] = Value::Null;
    (error, cookie)
}

/// `POST /api/auth/token` with these credentials, from a client with no cookies.
async fn token(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let body = json!({"email": email, "password": password});
    app.post(&plain_client(), "/api/auth/token", &body).await
}

#[tokio::test]
async fn the_token_endpoint_answers_an_unknown_email_like_a_wrong_password() {
    // Arrange
    let app = spawn_app().await;
    let user = app.other_user().await;

    // Act
    let wrong_password = failure(token(&app, &user.email, "not the password").await).await;
    let unknown_email = failure(token(&app, &unique_email(), PASSWORD).await).await;
    let malformed_email = failure(token(&app, "not-an-email", PASSWORD).await).await;
    let login_malformed = failure(app.login(&plain_client(), "not-an-email", PASSWORD).await).await;

    // Assert
    assert_eq!(wrong_password, unknown_email, "nothing tells them apart");
    assert_eq!(wrong_password, malformed_email);
    assert_eq!(wrong_password, login_malformed, "login says the same");
    assert!(!wrong_password.1, "no cookie on failure");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// How long one failed login for `email` takes, asserting the 401.
async fn timed_failed_login(app: &TestApp, client: &reqwest::Client, email: &str) -> Duration {
    let started = Instant::now();
    let resp = app.login(client, email, "wrong password!").await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 401, "{email}");
    elapsed
}

/// Median login times (unknown e-mail, wrong password) over 20 of each,
/// interleaved and alternating which kind goes first, so drifts in the
/// machine's load hit both alike.
async fn median_login_times(
    app: &TestApp,
    client: &reqwest::Client,
    known: &str,
) -> (Duration, Duration) {
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for round in 0..20 {
        if round % 2 == 0 {
            unknown.push(timed_failed_login(app, client, &unique_email()).await);
            wrong.push(timed_failed_login(app, client, known).await);
        } else {
            wrong.push(timed_failed_login(app, client, known).await);
            unknown.push(timed_failed_login(app, client, &unique_email()).await);
        }
    }
    (median(unknown), median(wrong))
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_take_about_the_same_time() {
    // Arrange: no failure limit, 40 failures would trip it.
    let app = spawn_app_with(MockProvider::new(), |c| c.login_failures_per_minute = 0).await;
    let user = app.other_user().await;
    let client = plain_client();
    // The first miss makes the dummy hash; the first request opens a connection.
    timed_failed_login(&app, &client, &unique_email()).await;
    timed_failed_login(&app, &client, &user.email).await;

    // Act: a burst of load from other work on this shared machine can skew
    // one series, so up to three are measured; a real leak (a miss that
    // skips the hash is ~20x faster) skews all three.
    let mut series = Vec::new();
    for _ in 0..3 {
        let (unknown, wrong) = median_login_times(&app, &client, &user.email).await;
        let ratio = unknown.max(wrong).as_secs_f64() / unknown.min(wrong).as_secs_f64();
        series.push((unknown, wrong, ratio));
        if ratio <= 1.2 {
            break;
        }
    }

    // Assert
    assert!(
        series.iter().any(|(_, _, ratio)| *ratio <= 1.2),
        "median login times (unknown email, wrong password, ratio) not within 20%: {series:?}"
    );
}
