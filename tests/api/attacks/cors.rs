//! Cross-origin requests: never `*` with credentials; the configured
//! origins (`CONVO_CORS_ORIGINS`) are echoed exactly, any other gets no CORS
//! headers; configured and requesting origins are compared as browsers
//! serialise them (default ports left out).

use std::sync::Arc;

use convo::core::{Convo, MemoryStore, MockProvider};
use convo::server::{Application, StartupError};
use reqwest::header::{HeaderMap, ORIGIN};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    assert_error, json_with_status, plain_client, spawn_app, spawn_app_with, test_config, TestApp,
    JWT_SECRET,
};

const APP_ORIGIN: &str = "https://app.example.com";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The rule that must hold on every response, whatever the configuration.
fn assert_no_wildcard_with_credentials(headers: &HeaderMap, case: &str) {
    let origin = header(headers, "access-control-allow-origin");
    let credentials = header(headers, "access-control-allow-credentials");
    assert!(
        !(origin == Some("*") && credentials == Some("true")),
        "{case}: `*` with credentials"
    );
}

/// `method path` from `origin`, with the user's cookie when `client` has it.
async fn from_origin(
    app: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    origin: &str,
) -> reqwest::Response {
    client
        .request(method, app.url(path))
        .header(ORIGIN, origin)
        .send()
        .await
        .expect("sent")
}

/// A CORS preflight for `POST path` from `origin`.
async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    plain_client()
        .request(Method::OPTIONS, app.url(path))
        .header(ORIGIN, origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,idempotency-key",
        )
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    // Arrange
    let app = spawn_app().await;
    app.sign_up().await;

    // Act
    let me = from_origin(
        &app,
        &app.client,
        Method::GET,
        "/api/auth/me",
        "https://evil.example",
    )
    .await;
    let pre = preflight(&app, "/api/projects", "https://evil.example").await;

    // Assert
    assert_eq!(me.status(), 200, "a cookie-bearing request is served…");
    for (resp, case) in [(&me, "request"), (&pre, "preflight")] {
        assert_no_wildcard_with_credentials(resp.headers(), case);
        assert_eq!(
            header(resp.headers(), "access-control-allow-origin"),
            None,
            "{case}: …but the browser is not allowed to show it"
        );
        assert_eq!(
            header(resp.headers(), "access-control-allow-credentials"),
            None,
            "{case}"
        );
    }
    assert!(
        !pre.status().is_success(),
        "no preflight succeeds: {}",
        pre.status()
    );
}

#[tokio::test]
async fn a_configured_origin_is_echoed_with_credentials_and_vary_origin() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| {
        c.cors_origins = vec![APP_ORIGIN.to_owned(), "http://localhost:5173".to_owned()];
    })
    .await;
    app.sign_up().await;
    let missing = format!("/api/projects/{}", uuid::Uuid::now_v7());

    // Act
    let me = from_origin(&app, &app.client, Method::GET, "/api/auth/me", APP_ORIGIN).await;
    let error = from_origin(&app, &app.client, Method::GET, &missing, APP_ORIGIN).await;
    let pre = preflight(&app, "/api/projects", APP_ORIGIN).await;

    // Assert
    for (resp, case) in [(&me, "request"), (&error, "error"), (&pre, "preflight")] {
        let headers = resp.headers();
        assert_no_wildcard_with_credentials(headers, case);
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            Some(APP_ORIGIN),
            "{case}"
        );
        assert_eq!(
            header(headers, "access-control-allow-credentials"),
            Some("true"),
            "{case}"
        );
        let vary = headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        assert!(
            vary.to_ascii_lowercase().contains("origin"),
            "{case}: Vary {vary:?}"
        );
    }
    assert_eq!(me.status(), 200);
    let exposed = header(me.headers(), "access-control-expose-headers").unwrap_or_default();
    assert!(
        exposed.contains("x-request-id"),
        "the request id is readable: {exposed:?}"
    );
    assert!(pre.status().is_success(), "preflight: {}", pre.status());
    let methods = header(pre.headers(), "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && !methods.contains('*'),
        "methods {methods:?}"
    );
    let allowed = header(pre.headers(), "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("content-type") && allowed.contains("idempotency-key"),
        "headers {allowed:?}"
    );
    assert_error(error, 404, "not_found").await;
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_headers_and_same_origin_posts_still_work() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| {
        c.cors_origins = vec![APP_ORIGIN.to_owned()];
    })
    .await;
    app.sign_up().await;
    let unlisted = [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://sub.app.example.com",
        "null",
    ];

    for origin in unlisted {
        // Act
        let me = from_origin(&app, &app.client, Method::GET, "/api/auth/me", origin).await;
        let pre = preflight(&app, "/api/projects", origin).await;

        // Assert
        for (resp, case) in [(&me, "request"), (&pre, "preflight")] {
            assert_no_wildcard_with_credentials(resp.headers(), origin);
            assert_eq!(
                header(resp.headers(), "access-control-allow-origin"),
                None,
                "{origin}: {case}"
            );
            assert_eq!(
                header(resp.headers(), "access-control-allow-credentials"),
                None
            );
        }
        assert!(
            !pre.status().is_success(),
            "{origin}: preflight {}",
            pre.status()
        );
    }
    // Browsers send Origin on same-origin POSTs too (Swagger UI at /docs).
    let own = app
        .client
        .post(app.url("/api/projects"))
        .header(ORIGIN, &app.address)
        .json(&json!({"name": "From the docs page"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        json_with_status(own, 201).await["name"],
        "From the docs page"
    );
}

#[tokio::test]
async fn a_wildcard_or_malformed_cors_origin_is_refused_at_startup() {
    for (origins, reason) in [
        (vec!["*".to_owned()], "wildcards"),
        (
            vec![APP_ORIGIN.to_owned(), "https://*.example.com".to_owned()],
            "wildcards",
        ),
        (vec!["null".to_owned()], "null"),
        (vec!["app.example.com".to_owned()], "no scheme"),
        (vec!["ftp://app.example.com".to_owned()], "http and https"),
        (vec!["https://app.example.com/app".to_owned()], "no path"),
        (vec!["https://app.example.com?a=1".to_owned()], "no query"),
        (vec!["https://me@app.example.com".to_owned()], "user name"),
    ] {
        // Arrange
        let mut config = test_config(JWT_SECRET);
        config.cors_origins = origins.clone();
        let convo = Convo::new(
            Arc::new(MemoryStore::new()),
            Arc::new(MockProvider::new()),
            config.engine_settings(),
        );

        // Act
        let built = Application::build_with(&config, convo).await;

        // Assert
        match built {
            Err(StartupError::Invalid(invalid)) => {
                assert!(
                    invalid.names("CONVO_CORS_ORIGINS") && invalid.to_string().contains(reason),
                    "{origins:?}: {invalid} should say {reason:?}"
                );
            }
            Err(other) => panic!("{origins:?}: {other}"),
            Ok(_) => panic!("{origins:?} was accepted"),
        }
    }
}

#[tokio::test]
async fn origins_are_compared_with_default_ports_and_a_trailing_slash_normalised() {
    // Arrange: configured with the default port spelled out and a slash.
    let app = spawn_app_with(MockProvider::new(), |c| {
        c.cors_origins = vec![
            "https://App.Example.com:443/".to_owned(),
            "http://localhost:80".to_owned(),
        ];
    })
    .await;
    app.sign_up().await;
    let cases = [
        (APP_ORIGIN, true, "as a browser sends it"),
        ("https://app.example.com:443", true, "with its default port"),
        ("http://localhost", true, "http's default port"),
        ("https://app.example.com:8443", false, "another port"),
        ("http://app.example.com", false, "another scheme"),
        ("http://localhost:8080", false, "another port"),
    ];

    for (origin, allowed, case) in cases {
        // Act
        let me = from_origin(&app, &app.client, Method::GET, "/api/auth/me", origin).await;
        let pre = preflight(&app, "/api/projects", origin).await;

        // Assert
        for (resp, kind) in [(&me, "request"), (&pre, "preflight")] {
            assert_no_wildcard_with_credentials(resp.headers(), case);
            let echoed = header(resp.headers(), "access-control-allow-origin");
            assert_eq!(echoed.is_some(), allowed, "{case} ({origin}): {kind}");
        }
        assert_eq!(pre.status().is_success(), allowed, "{case}: preflight");
    }
}
