//! The served spec, the printed spec and the checked-in `openapi.json` are one document.
//!
//! Run with `UPDATE_OPENAPI=1` to rewrite `openapi.json` after an API change.

use crate::helpers::spawn_app;

fn checked_in_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[tokio::test]
async fn the_checked_in_openapi_json_matches_the_server() {
    let generated = convo::server::openapi_json();
    let path = checked_in_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, format!("{generated}\n")).expect("write openapi.json");
    }
    let checked_in =
        std::fs::read_to_string(&path).expect("openapi.json exists at the repository root");
    assert!(
        checked_in.trim_end() == generated.trim_end(),
        "openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test --test api openapi` (or `cargo run -p convo-server -- openapi > openapi.json`) and commit it"
    );
}

#[tokio::test]
async fn the_served_spec_is_the_checked_in_one() {
    let app = spawn_app().await;
    let served = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(served.status(), 200);
    let served: serde_json::Value = served.json().await.expect("json");
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(checked_in_path()).expect("read"))
            .expect("valid json");
    assert_eq!(served, checked_in);
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("text");
    assert!(html.contains("swagger-ui"), "the Swagger UI page");
}

#[test]
fn every_operation_is_documented_and_secured_where_it_must_be() {
    let spec: serde_json::Value =
        serde_json::from_str(&convo::server::openapi_json()).expect("json");
    let public = ["register", "login", "create_token", "healthz", "readyz"];
    let paths = spec["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, methods) in paths {
        for (method, op) in methods.as_object().expect("methods") {
            operations += 1;
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success response"
            );
            if !public.contains(&id) {
                let security = op["security"].as_array().map(Vec::len).unwrap_or(0);
                assert_eq!(
                    security, 3,
                    "{method} {path}: cookie, bearer or project key"
                );
                assert!(
                    responses.contains_key("403"),
                    "{method} {path} must document 403 (a key's scope)"
                );
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} must document 401"
                );
            }
            if path.contains('{') {
                assert!(
                    responses.contains_key("404"),
                    "{method} {path} must document 404"
                );
            }
        }
    }
    // auth 5, projects 5 (+ export, import), keys 3, agents 6 (+ webhook_secret), chat 7
    // (+ cancel, fork, context, tool_outputs and its stream), usage 1, probes 2
    assert_eq!(operations, 37, "the contract's operations");
}
