//! The error envelope on every error class (the framework's own included),
//! request ids on every response, the body limit and the probes.

use std::collections::HashSet;

use convo::core::MockProvider;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, json_with_status, plain_client, spawn_app, spawn_app_with};

fn request_id(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `POST /api/projects` with this raw JSON body.
async fn post_raw(app: &crate::helpers::TestApp, body: &'static str) -> reqwest::Response {
    app.client
        .post(app.url("/api/projects"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn malformed_json_is_400_invalid_request() {
    let app = spawn_app().await;
    app.sign_up().await;
    let cases = [
        (r#"{"name": "#, "truncated JSON"),
        ("not json at all", "not JSON"),
        (r#"["name"]"#, "an array for an object"),
        ("null", "null for an object"),
    ];
    for (body, case) in cases {
        let resp = post_raw(&app, body).await;

        assert_eq!(resp.status(), 400, "{case}");
        let error = assert_error(resp, 400, "invalid_request").await;
        assert_eq!(error["retryable"], false, "{case}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(!message.contains("CreateProject"), "{case}: {message}");
    }
    let empty = app
        .client
        .post(app.url("/api/projects"))
        .send()
        .await
        .expect("sent");
    assert_error(empty, 400, "invalid_request").await;
    let list = json_with_status(app.get(&app.client, "/api/projects").await, 200).await;
    assert_eq!(list["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_400_not_coerced() {
    let app = spawn_app().await;
    app.sign_up().await;
    let cases = [
        (r#"{"name": 5}"#, "name", "a number for a string"),
        (r#"{"name": true}"#, "name", "a boolean for a string"),
        (
            r#"{"name": "ok", "description": ["d"]}"#,
            "description",
            "an array for an optional string",
        ),
    ];
    for (body, param, case) in cases {
        let resp = post_raw(&app, body).await;

        assert_eq!(resp.status(), 400, "{case}");
        let error = assert_error(resp, 400, "invalid_request").await;
        assert_eq!(error["param"], param, "{case}: the field is named");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(!message.contains("CreateProject"), "{case}: {message}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_and_json_with_a_charset_is_fine() {
    let app = spawn_app().await;
    app.sign_up().await;
    let send = |ctype: &'static str| {
        app.client
            .post(app.url("/api/projects"))
            .header(CONTENT_TYPE, ctype)
            .body(r#"{"name": "P"}"#)
            .send()
    };

    let plain = send("text/plain").await.expect("sent");
    let form = send("application/x-www-form-urlencoded")
        .await
        .expect("sent");
    let charset = send("application/json; charset=utf-8").await.expect("sent");

    assert_error(plain, 415, "unsupported_media_type").await;
    assert_error(form, 415, "unsupported_media_type").await;
    assert_eq!(json_with_status(charset, 201).await["name"], "P");
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_the_envelope() {
    let app = spawn_app().await;
    app.sign_up().await;
    let cases = [
        (Method::GET, "/api/nope", 404, "not_found"),
        (Method::GET, "/nope", 404, "not_found"),
        (Method::POST, "/api/projects/x/y/z", 404, "not_found"),
        (Method::PUT, "/healthz", 405, "method_not_allowed"),
        (Method::DELETE, "/api/projects", 405, "method_not_allowed"),
        (Method::GET, "/api/auth/login", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let resp = app.request(&app.client, method.clone(), path, None).await;

        assert_eq!(resp.status(), status, "{method} {path}");
        assert_error(resp, status, code).await;
    }
}

#[tokio::test]
async fn a_405_lists_the_allowed_methods() {
    let app = spawn_app().await;
    let cases = [
        (Method::PUT, "/healthz", "GET"),
        (Method::DELETE, "/api/projects", "GET, POST"),
        (
            Method::PUT,
            "/api/agents/0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e",
            "DELETE, GET, PATCH",
        ),
        (Method::GET, "/api/chat/x/message", "POST"),
        // A literal segment beats a template: not `/api/projects/{project_id}`.
        (Method::GET, "/api/projects/import", "POST"),
    ];
    for (method, path, allowed) in cases {
        let resp = app.request(&app.client, method.clone(), path, None).await;
        assert_eq!(resp.status(), 405, "{method} {path}");
        let allow = resp
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut allow: Vec<String> = allow
            .unwrap_or_default()
            .split(", ")
            .map(str::to_owned)
            .collect();
        allow.sort();
        assert_eq!(allow.join(", "), allowed, "Allow of {method} {path}");
    }
}

#[tokio::test]
async fn protected_routes_without_credentials_are_401_unauthenticated() {
    let app = spawn_app().await; // nobody signed up: the client has no cookie
    let cases = [
        (Method::GET, "/api/auth/me"),
        (Method::POST, "/api/auth/logout"),
        (Method::GET, "/api/projects"),
        (Method::POST, "/api/projects"),
        (
            Method::GET,
            "/api/agents/00000000-0000-0000-0000-000000000000",
        ),
        (
            Method::POST,
            "/api/chat/00000000-0000-0000-0000-000000000000/message",
        ),
    ];
    for (method, path) in cases {
        let body = (method == Method::POST).then(|| json!({"name": "x", "content": "x"}));

        let resp = app
            .request(&app.client, method.clone(), path, body.as_ref())
            .await;

        assert_eq!(resp.status(), 401, "{method} {path}");
        assert_error(resp, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_its_length_is_declared_or_chunked() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| c.max_body_bytes = 1024).await;
    app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let big = json!({"content": "x".repeat(2048)}).to_string();
    let url = app.url(&format!("/api/chat/{}/message", fx.session_id()));
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok(big[..1000].to_owned()), Ok(big[1000..].to_owned())];

    // Act
    let declared = app
        .client
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body(big.clone())
        .send()
        .await;
    let chunked = app
        .client
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    let small = app
        .send_message(&app.client, fx.session_id(), &"y".repeat(900))
        .await;

    // Assert
    assert_error(declared.expect("sent"), 413, "payload_too_large").await;
    assert_error(chunked.expect("sent"), 413, "payload_too_large").await;
    assert_eq!(small.status(), 201, "a body under the limit is fine");
    assert_eq!(
        app.history(&app.client, fx.session_id()).await.len(),
        2,
        "the big ones stored nothing"
    );
}

#[tokio::test]
async fn bad_list_parameters_are_422_or_400() {
    let app = spawn_app().await;
    app.sign_up().await;
    let cases = [
        ("limit=0", 422, "validation_failed", Some("limit")),
        ("limit=101", 422, "validation_failed", Some("limit")),
        ("after=nope", 422, "validation_failed", Some("after")),
        ("limit=abc", 400, "invalid_request", None),
        ("limit=-1", 400, "invalid_request", None),
        ("order=sideways", 400, "invalid_request", None),
    ];
    for (query, status, code, param) in cases {
        let resp = app
            .get(&app.client, &format!("/api/projects?{query}"))
            .await;

        assert_eq!(resp.status(), status, "{query}");
        let error = assert_error(resp, status, code).await;
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{query}");
            let message = error["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with(&format!("`{param}` does not satisfy ")),
                "{query}: {message}"
            );
        }
    }
    for query in ["limit=1", "limit=100", "order=asc", "order=desc"] {
        assert_eq!(
            app.get(&app.client, &format!("/api/projects?{query}"))
                .await
                .status(),
            200,
            "{query}"
        );
    }
}

#[tokio::test]
async fn every_successful_response_carries_its_own_request_id() {
    // Arrange
    let app = spawn_app().await;
    let register = app
        .register(
            &app.client,
            &crate::helpers::unique_email(),
            crate::helpers::PASSWORD,
        )
        .await;
    let project = app.create_project(&app.client, "P").await;
    let project_path = format!("/api/projects/{}", project["id"].as_str().expect("id"));

    // Act
    let responses = vec![
        ("register", register),
        ("me", app.get(&app.client, "/api/auth/me").await),
        ("list", app.get(&app.client, "/api/projects").await),
        (
            "create",
            app.post(&app.client, "/api/projects", &json!({"name": "Q"}))
                .await,
        ),
        ("delete", app.delete(&app.client, &project_path).await),
        ("healthz", app.get(&app.client, "/healthz").await),
        ("readyz", app.get(&app.client, "/readyz").await),
        ("openapi", app.get(&app.client, "/openapi.json").await),
    ];

    // Assert
    let mut seen = HashSet::new();
    for (case, resp) in &responses {
        assert!(resp.status().is_success(), "{case}: {}", resp.status());
        let id = request_id(resp).unwrap_or_else(|| panic!("{case}: no x-request-id"));
        assert!(!id.is_empty(), "{case}");
        assert!(seen.insert(id), "{case}: request ids are unique");
    }
}

#[tokio::test]
async fn a_sane_client_request_id_is_echoed_and_an_unsafe_one_replaced() {
    let app = spawn_app().await;
    let cases = [
        ("trace-0123_ABC", true, "letters, digits, - and _"),
        ("has spaces in it", false, "spaces"),
        ("x<script>", false, "markup"),
        (&*"r".repeat(65), false, "65 characters"),
    ];
    for (sent, echoed, case) in cases {
        let get = |path: &str| {
            app.client
                .get(app.url(path))
                .header("x-request-id", sent)
                .send()
        };

        let ok = get("/healthz").await.expect("sent");
        let err = get("/api/auth/me").await.expect("sent");

        let ok_id = request_id(&ok).expect("x-request-id");
        assert_eq!(ok_id == sent, echoed, "{case}: {ok_id}");
        assert!(!ok_id.is_empty() && ok_id.len() <= 64, "{case}: {ok_id}");
        let error = assert_error(err, 401, "unauthenticated").await;
        assert_eq!(
            error["request_id"] == sent,
            echoed,
            "{case}: in the error body"
        );
    }
}

#[tokio::test]
async fn the_probes_answer_200_without_credentials() {
    let app = spawn_app().await;

    for path in ["/healthz", "/readyz"] {
        let resp = app.get(&plain_client(), path).await;

        assert_eq!(
            json_with_status(resp, 200).await,
            json!({"status": "ok"}),
            "{path}"
        );
    }
}
