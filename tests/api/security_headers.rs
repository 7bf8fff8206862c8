//! Security headers: `nosniff` on every response, `no-store` on every
//! `/api/auth/*` answer, and the `/docs` page's Content-Security-Policy and
//! framing refusal (that Swagger UI still works under it is proven in a real
//! browser by `scripts/browser_test.sh`).

use convo::core::MockProvider;
use reqwest::header::{HeaderMap, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ORIGIN};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{plain_client, spawn_app, spawn_app_with, PASSWORD};

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn every_response_says_nosniff_errors_and_404s_included() {
    // Arrange
    let app = spawn_app_with(MockProvider::new(), |c| {
        c.cors_origins = vec!["https://app.example.com".to_owned()];
    })
    .await;
    app.sign_up().await;
    let anonymous = plain_client();
    let requests = [
        (app.client.get(app.url("/api/projects")), 200, "a list"),
        (
            app.client
                .post(app.url("/api/projects"))
                .json(&json!({"name": "P"})),
            201,
            "a create",
        ),
        (
            anonymous.get(app.url("/api/projects")),
            401,
            "unauthenticated",
        ),
        (
            app.client.get(app.url("/no/such/route")),
            404,
            "an unknown route",
        ),
        (
            app.client.put(app.url("/api/projects")),
            405,
            "a wrong method",
        ),
        (
            app.client
                .post(app.url("/api/projects"))
                .header(CONTENT_TYPE, "application/json")
                .body("{"),
            400,
            "malformed JSON",
        ),
        (
            app.client.post(app.url("/api/projects")).json(&json!({})),
            422,
            "a missing field",
        ),
        (
            app.client
                .request(Method::OPTIONS, app.url("/api/projects"))
                .header(ORIGIN, "https://app.example.com")
                .header("access-control-request-method", "POST"),
            200,
            "a CORS preflight",
        ),
        (anonymous.get(app.url("/healthz")), 200, "the probe"),
        (anonymous.get(app.url("/openapi.json")), 200, "the document"),
        (anonymous.get(app.url("/docs")), 200, "Swagger UI"),
        (
            anonymous.get(app.url("/v1/models")),
            401,
            "/v1 without a token",
        ),
    ];

    for (request, status, case) in requests {
        // Act
        let resp = request.send().await.expect("request sent");

        // Assert
        assert_eq!(resp.status(), status, "{case}");
        assert_eq!(
            header(resp.headers(), "x-content-type-options"),
            Some("nosniff"),
            "{case}"
        );
    }
}

#[tokio::test]
async fn every_auth_answer_says_no_store_success_and_failure() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let creds = json!({"email": user.email, "password": PASSWORD});
    let wrong = json!({"email": user.email, "password": "wrong-password"});
    let anonymous = plain_client();
    let requests = [
        (
            anonymous
                .post(app.url("/api/auth/register"))
                .json(&json!({"email": crate::helpers::unique_email(), "password": PASSWORD})),
            201,
            "register",
        ),
        (
            anonymous.post(app.url("/api/auth/register")).json(&creds),
            409,
            "register a taken e-mail",
        ),
        (
            anonymous.post(app.url("/api/auth/login")).json(&creds),
            200,
            "login",
        ),
        (
            anonymous.post(app.url("/api/auth/login")).json(&wrong),
            401,
            "a wrong password",
        ),
        (
            anonymous.post(app.url("/api/auth/login")).json(&json!({})),
            422,
            "login without fields",
        ),
        (
            anonymous.post(app.url("/api/auth/token")).json(&creds),
            200,
            "a token",
        ),
        (app.client.get(app.url("/api/auth/me")), 200, "me"),
        (anonymous.get(app.url("/api/auth/me")), 401, "me, anonymous"),
        (
            anonymous
                .get(app.url("/api/auth/me"))
                .header(AUTHORIZATION, "Bearer not-a-jwt"),
            401,
            "me with a bad token",
        ),
        (
            anonymous.get(app.url("/api/auth/nope")),
            404,
            "an unknown auth route",
        ),
        (app.client.post(app.url("/api/auth/logout")), 204, "logout"),
    ];

    for (request, status, case) in requests {
        // Act
        let resp = request.send().await.expect("request sent");

        // Assert
        assert_eq!(resp.status(), status, "{case}");
        assert_eq!(
            header(resp.headers(), CACHE_CONTROL),
            Some("no-store"),
            "{case}"
        );
    }
}

#[tokio::test]
async fn the_docs_page_may_not_be_framed_and_runs_only_its_own_inline_code() {
    // Arrange
    let app = spawn_app().await;

    for path in ["/docs", "/docs/", "/docs/oauth-receiver.html"] {
        // Act
        let resp = plain_client()
            .get(app.url(path))
            .send()
            .await
            .expect("request sent");

        // Assert
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        assert_eq!(header(&headers, "x-frame-options"), Some("DENY"), "{path}");
        let csp = header(&headers, "content-security-policy").unwrap_or_default();
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        for required in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(
                directives.contains(&required),
                "{path}: {required} missing in {csp}"
            );
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        // The page's inline scripts are allowed by hash (that these are
        // exactly the right ones, the browser test proves).
        let script_src = directives
            .iter()
            .find(|d| d.starts_with("script-src "))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert!(script_src.contains("'sha256-"), "{path}: {script_src}");
    }
    let missing = plain_client()
        .get(app.url("/docs/nothing-here"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(header(missing.headers(), "x-frame-options"), Some("DENY"));
}
