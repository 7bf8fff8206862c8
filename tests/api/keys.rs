//! Project API keys and end users, through HTTP: the key routes, what a
//! key reaches (its project, a chat key its end user's sessions), scopes,
//! revocation on another server, expiry, limits, budgets, usage, `/v1`.

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A client that sends `secret` as its bearer and, if given, the end user.
fn key_client(secret: &str, end_user: Option<&str>) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {secret}")).expect("header"),
    );
    if let Some(user) = end_user {
        headers.insert(
            "x-convo-end-user",
            HeaderValue::from_str(user).expect("header"),
        );
    }
    crate::client::client_builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Creates a key on the owner's `client`, asserting 201; returns the answer.
async fn create_key(app: &TestApp, client: &reqwest::Client, project: &str, body: Value) -> Value {
    let resp = app
        .post(client, &format!("/api/projects/{project}/keys"), &body)
        .await;
    json_with_status(resp, 201).await
}

/// Every route a chat key may call that names chat session `s`, as
/// `(method, path, body)`.
fn session_routes(s: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/api/chat/{s}"), None),
        (Method::GET, format!("/api/chat/{s}/messages"), None),
        (
            Method::POST,
            format!("/api/chat/{s}/message"),
            Some(json!({"content": "x"})),
        ),
        (
            Method::POST,
            format!("/api/chat/{s}/message/stream"),
            Some(json!({"content": "x"})),
        ),
        (Method::POST, format!("/api/chat/{s}/cancel"), None),
        (Method::GET, format!("/api/chat/{s}/context"), None),
        (
            Method::POST,
            format!("/api/chat/{s}/tool_outputs"),
            Some(json!({"outputs": [{"tool_call_id": "c", "output": "o"}]})),
        ),
    ]
}

async fn list_sessions(app: &TestApp, who: &reqwest::Client, agent: &str, query: &str) -> Value {
    let path = format!("/api/agents/{agent}/sessions{query}");
    json_with_status(app.get(who, &path).await, 200).await
}

fn secret(key: &Value) -> String {
    key["key"].as_str().expect("the secret").to_owned()
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_by_the_owner_only() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "backend", "scope": "chat", "rate_limit_per_minute": 100,
               "end_user_monthly_token_budget": 5000}),
    )
    .await;
    let secret = secret(&key);
    assert!(
        secret.starts_with("ck_") && secret.len() >= 3 + 43,
        "{secret}"
    );
    assert!(secret.starts_with(key["prefix"].as_str().expect("prefix")));
    for field in ["id", "name", "scope", "prefix", "created_at"] {
        assert!(key[field].is_string(), "{field} in {key}");
    }
    for field in ["expires_at", "last_used_at"] {
        assert!(key[field].is_null(), "{field} in {key}");
    }
    assert_eq!(key["rate_limit_per_minute"], 100);
    assert_eq!(key["end_user_monthly_token_budget"], 5000);

    let path = format!("/api/projects/{}/keys", f.project_id());
    let list = json_with_status(app.get(&owner.client, &path).await, 200).await;
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert!(data[0].get("key").is_none(), "never the secret: {list}");
    assert!(!list.to_string().contains(&secret[3..]));

    // Another user: 404, nothing changed.
    let stranger = app.other_user().await;
    assert_error(app.get(&stranger.client, &path).await, 404, "not_found").await;
    let body = json!({"name": "mine", "scope": "admin"});
    assert_error(
        app.post(&stranger.client, &path, &body).await,
        404,
        "not_found",
    )
    .await;
    let one = format!("{path}/{}", key["id"].as_str().expect("id"));
    assert_error(app.delete(&stranger.client, &one).await, 404, "not_found").await;

    // A key manages no keys, whatever its scope.
    let chat = key_client(&secret, Some("alice"));
    assert_error(app.get(&chat, &path).await, 403, "insufficient_scope").await;
    let admin = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "ops", "scope": "admin"}),
    )
    .await;
    let admin = key_client(&self::secret(&admin), None);
    assert_error(
        app.post(&admin, &path, &body).await,
        403,
        "insufficient_scope",
    )
    .await;

    // Revoked: refused at once.
    assert_eq!(app.delete(&owner.client, &one).await.status(), 204);
    assert_error(
        app.get(&chat, &format!("/api/chat/{}", f.session_id()))
            .await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(app.delete(&owner.client, &one).await, 404, "not_found").await;
}

#[tokio::test]
async fn bad_key_settings_are_validation_errors() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let path = format!("/api/projects/{}/keys", f.project_id());
    for (body, param) in [
        (
            json!({"name": "k", "scope": "chat", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "k", "scope": "chat", "rate_limit_per_minute": 0}),
            "rate_limit_per_minute",
        ),
        (
            json!({"name": "k", "scope": "chat", "end_user_monthly_token_budget": 0}),
            "end_user_monthly_token_budget",
        ),
        (json!({"name": "", "scope": "chat"}), "name"),
    ] {
        let error = assert_error(
            app.post(&owner.client, &path, &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error["param"], param, "{body}");
    }
    let error = assert_error(
        app.post(&owner.client, &path, &json!({"name": "k", "scope": "root"}))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error["param"], "scope");
    let list = json_with_status(app.get(&owner.client, &path).await, 200).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_chat_key_serves_end_users_who_see_only_their_own_sessions() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "k", "scope": "chat"}),
    )
    .await;
    let secret = secret(&key);
    let alice = key_client(&secret, Some("alice"));
    let bob = key_client(&secret, Some("bob"));

    // The end user is required, and must be 1–128 visible ASCII characters.
    let start = format!("/api/chat/start/{}", f.agent_id());
    let error = assert_error(
        app.post(&key_client(&secret, None), &start, &json!({}))
            .await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(error["param"], "X-Convo-End-User");
    let long = "x".repeat(129);
    assert_error(
        app.post(&key_client(&secret, Some(&long)), &start, &json!({}))
            .await,
        400,
        "invalid_request",
    )
    .await;

    let session = json_with_status(
        app.post(&alice, &start, &json!({"title": "help"})).await,
        201,
    )
    .await;
    assert_eq!(session["end_user"], "alice");
    let id = session["id"].as_str().expect("id").to_owned();
    json_with_status(app.send_message(&alice, &id, "hello").await, 201).await;
    assert_eq!(app.history(&alice, &id).await.len(), 2);

    // Bob: 404 on every route with Alice's session, and nothing changes.
    let before = app.history(&owner.client, &id).await;
    for (method, path, body) in session_routes(&id) {
        let resp = app
            .request(&bob, method.clone(), &path, body.as_ref())
            .await;
        assert_error(resp, 404, "not_found").await;
    }
    assert_eq!(app.history(&owner.client, &id).await, before);

    // Lists: each end user their own; the owner all, filtered by end user.
    let bobs = json_with_status(app.post(&bob, &start, &json!({})).await, 201).await;
    let ids = |list: &Value| -> Vec<String> {
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        ids(&list_sessions(&app, &alice, f.agent_id(), "").await),
        std::slice::from_ref(&id)
    );
    assert_eq!(
        ids(&list_sessions(&app, &alice, f.agent_id(), "?end_user=bob").await),
        Vec::<String>::new()
    );
    let all = list_sessions(&app, &owner.client, f.agent_id(), "").await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(3), "{all}");
    let only_bob = list_sessions(&app, &owner.client, f.agent_id(), "?end_user=bob").await;
    assert_eq!(
        ids(&only_bob),
        [bobs["id"].as_str().expect("id").to_owned()]
    );
    assert_eq!(only_bob["data"][0]["end_user"], "bob");

    // The owner's own session is no end user's.
    assert_error(
        app.get(&alice, &format!("/api/chat/{}", f.session_id()))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_chat_key_is_refused_what_is_not_chatting() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "k", "scope": "chat"}),
    )
    .await;
    let alice = key_client(&secret(&key), Some("alice"));
    let mine = json_with_status(
        app.post(
            &alice,
            &format!("/api/chat/start/{}", f.agent_id()),
            &json!({}),
        )
        .await,
        201,
    )
    .await;
    let session = mine["id"].as_str().expect("id");
    let (project, agent) = (f.project_id(), f.agent_id());
    for (method, path, body) in [
        (Method::GET, "/api/projects".to_owned(), None),
        (
            Method::POST,
            "/api/projects".to_owned(),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, format!("/api/projects/{project}"), None),
        (
            Method::PATCH,
            format!("/api/projects/{project}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/projects/{project}"), None),
        (Method::GET, format!("/api/projects/{project}/agents"), None),
        (
            Method::POST,
            format!("/api/projects/{project}/agents"),
            Some(json!({"name": "x", "system_prompt": "y"})),
        ),
        (Method::GET, format!("/api/projects/{project}/export"), None),
        (Method::GET, format!("/api/agents/{agent}"), None),
        (
            Method::PATCH,
            format!("/api/agents/{agent}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/agents/{agent}"), None),
        (
            Method::PATCH,
            format!("/api/chat/{session}"),
            Some(json!({"title": "x"})),
        ),
        (Method::DELETE, format!("/api/chat/{session}"), None),
        (
            Method::POST,
            format!("/api/chat/{session}/fork"),
            Some(json!({"up_to_seq": 0})),
        ),
        (Method::GET, "/api/usage".to_owned(), None),
        (Method::GET, "/api/auth/me".to_owned(), None),
    ] {
        let resp = app
            .request(&alice, method.clone(), &path, body.as_ref())
            .await;
        assert_error(resp, 403, "insufficient_scope").await;
    }
    // Nothing changed.
    let agent_now = json_with_status(
        app.get(&owner.client, &format!("/api/agents/{agent}"))
            .await,
        200,
    )
    .await;
    assert_eq!(agent_now["name"], "Helper");
    json_with_status(
        app.get(&owner.client, &format!("/api/chat/{session}"))
            .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn a_key_reaches_nothing_outside_its_project() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    // The same owner's other project, and another user's.
    let other = app.fixture(&owner.client).await;
    let stranger = app.other_user().await;
    let theirs = app.fixture(&stranger.client).await;
    for scope in ["chat", "admin"] {
        let key = create_key(
            &app,
            &owner.client,
            f.project_id(),
            json!({"name": "k", "scope": scope}),
        )
        .await;
        let client = key_client(&secret(&key), Some("alice"));
        for target in [&other, &theirs] {
            let (s, a, p) = (target.session_id(), target.agent_id(), target.project_id());
            let mut routes = session_routes(s);
            routes.extend([
                (
                    Method::POST,
                    format!("/api/chat/start/{a}"),
                    Some(json!({})),
                ),
                (Method::GET, format!("/api/agents/{a}/sessions"), None),
            ]);
            if scope == "admin" {
                routes.extend([
                    (Method::GET, format!("/api/projects/{p}"), None),
                    (
                        Method::PATCH,
                        format!("/api/projects/{p}"),
                        Some(json!({"name": "x"})),
                    ),
                    (Method::GET, format!("/api/projects/{p}/agents"), None),
                    (
                        Method::POST,
                        format!("/api/projects/{p}/agents"),
                        Some(json!({"name": "x", "system_prompt": "y"})),
                    ),
                    (Method::GET, format!("/api/agents/{a}"), None),
                    (
                        Method::PATCH,
                        format!("/api/agents/{a}"),
                        Some(json!({"name": "x"})),
                    ),
                    (Method::DELETE, format!("/api/agents/{a}"), None),
                    (
                        Method::PATCH,
                        format!("/api/chat/{s}"),
                        Some(json!({"title": "x"})),
                    ),
                    (
                        Method::POST,
                        format!("/api/chat/{s}/fork"),
                        Some(json!({"up_to_seq": 0})),
                    ),
                    (Method::DELETE, format!("/api/chat/{s}"), None),
                    (Method::GET, format!("/api/projects/{p}/export"), None),
                ]);
            }
            for (method, path, body) in routes {
                let resp = app
                    .request(&client, method.clone(), &path, body.as_ref())
                    .await;
                assert_error(resp, 404, "not_found").await;
            }
        }
    }
    // Nothing changed.
    for (target, who) in [(&other, &owner), (&theirs, &stranger)] {
        let agent = json_with_status(
            app.get(&who.client, &format!("/api/agents/{}", target.agent_id()))
                .await,
            200,
        )
        .await;
        assert_eq!(agent["name"], "Helper");
        let session = json_with_status(
            app.get(&who.client, &format!("/api/chat/{}", target.session_id()))
                .await,
            200,
        )
        .await;
        assert_eq!(session["message_count"], 0);
        assert!(session["title"].is_null() || session["title"] != "x");
    }
}

#[tokio::test]
async fn an_admin_key_does_what_the_owner_does_inside_its_project() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "ops", "scope": "admin"}),
    )
    .await;
    let admin = key_client(&secret(&key), None);
    let project = json_with_status(
        app.get(&admin, &format!("/api/projects/{}", f.project_id()))
            .await,
        200,
    )
    .await;
    assert_eq!(project["id"], f.project_id());
    let agent = app
        .create_agent(
            &admin,
            f.project_id(),
            &json!({"name": "Second", "system_prompt": "Hi."}),
        )
        .await;
    let session = json_with_status(
        app.post(
            &admin,
            &format!("/api/chat/start/{}", agent["id"].as_str().expect("id")),
            &json!({}),
        )
        .await,
        201,
    )
    .await;
    assert!(session["end_user"].is_null());
    // The owner's own session is in reach too.
    json_with_status(
        app.get(&admin, &format!("/api/chat/{}", f.session_id()))
            .await,
        200,
    )
    .await;
    // But not what needs a signed-in user.
    assert_error(
        app.get(&admin, "/api/projects").await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_error(
        app.get(&admin, "/api/usage").await,
        403,
        "insufficient_scope",
    )
    .await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_another_server_at_once() {
    let app = spawn_app().await;
    let second = spawn_second_server(&app).await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "k", "scope": "admin"}),
    )
    .await;
    let client = key_client(&secret(&key), None);
    let on_second = format!("{}/api/projects/{}", second.address, f.project_id());
    let resp = client.get(&on_second).send().await.expect("request");
    json_with_status(resp, 200).await;
    let path = format!(
        "/api/projects/{}/keys/{}",
        f.project_id(),
        key["id"].as_str().expect("id")
    );
    assert_eq!(app.delete(&owner.client, &path).await.status(), 204);
    let resp = client.get(&on_second).send().await.expect("request");
    assert_error(resp, 401, "unauthenticated").await;
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let soon = (chrono::Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc3339();
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "k", "scope": "admin", "expires_at": soon}),
    )
    .await;
    assert!(key["expires_at"].is_string());
    let client = key_client(&secret(&key), None);
    let path = format!("/api/projects/{}", f.project_id());
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let error = assert_error(app.get(&client, &path).await, 401, "unauthenticated").await;
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("expired")));
}

#[tokio::test]
async fn a_keys_rate_limit_answers_429_with_retry_after() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "k", "scope": "admin", "rate_limit_per_minute": 2}),
    )
    .await;
    let client = key_client(&secret(&key), None);
    let path = format!("/api/projects/{}", f.project_id());
    let mut limited = None;
    // Within one minute the third request is refused; a minute boundary
    // inside the loop opens a new window, so allow two more.
    for _ in 0..5 {
        let resp = app.get(&client, &path).await;
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = limited.expect("a request over the limit is refused");
    let wait: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let error = assert_error(resp, 429, "rate_limited").await;
    assert_eq!(error["retryable"], true);
}

#[tokio::test]
async fn guessing_keys_is_limited_per_address() {
    let app = spawn_app_with(convo_core::MockProvider::new(), |c| {
        c.login_failures_per_minute = 3;
    })
    .await;
    let wrong = format!("ck_{}", "A".repeat(43));
    let client = key_client(&wrong, None);
    for _ in 0..3 {
        assert_error(
            app.get(&client, "/api/projects").await,
            401,
            "unauthenticated",
        )
        .await;
    }
    assert_error(app.get(&client, "/api/projects").await, 429, "rate_limited").await;
}

#[tokio::test]
async fn end_user_budgets_and_usage_by_key_and_end_user() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "k", "scope": "chat", "end_user_monthly_token_budget": 1}),
    )
    .await;
    let alice = key_client(&secret(&key), Some("alice"));
    let start = format!("/api/chat/start/{}", f.agent_id());
    let session = json_with_status(app.post(&alice, &start, &json!({})).await, 201).await;
    let id = session["id"].as_str().expect("id");
    json_with_status(app.send_message(&alice, id, "one").await, 201).await;
    let resp = app.send_message(&alice, id, "two").await;
    assert!(resp.headers().get("retry-after").is_some());
    assert_error(resp, 429, "quota_exceeded").await;
    assert_eq!(
        app.history(&owner.client, id).await.len(),
        2,
        "nothing stored"
    );
    // The owner's turns are not bound by the key's budget.
    json_with_status(
        app.send_message(&owner.client, f.session_id(), "hi").await,
        201,
    )
    .await;

    let by_user = json_with_status(
        app.get(&owner.client, "/api/usage?group_by=end_user").await,
        200,
    )
    .await;
    assert_eq!(by_user["group_by"], "end_user");
    let keys: Vec<Value> = by_user["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|g| g["key"].clone())
        .collect();
    assert_eq!(keys, [Value::Null, json!("alice")]);
    let by_key =
        json_with_status(app.get(&owner.client, "/api/usage?group_by=key").await, 200).await;
    let keys: Vec<Value> = by_key["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|g| g["key"].clone())
        .collect();
    assert_eq!(keys, [Value::Null, key["id"].clone()]);
    assert_eq!(
        by_key["data"][1]["turns"], 1,
        "the refused turn is not a turn: {by_key}"
    );
}

#[tokio::test]
async fn v1_with_a_chat_key_answers_for_its_project_and_end_user() {
    let app = spawn_app().await;
    let owner = app.sign_up().await;
    let f = app.fixture(&owner.client).await;
    let elsewhere = app.fixture(&owner.client).await;
    let key = create_key(
        &app,
        &owner.client,
        f.project_id(),
        json!({"name": "k", "scope": "chat"}),
    )
    .await;
    let no_user = key_client(&secret(&key), None);
    let carol = key_client(&secret(&key), Some("carol"));

    // Every chat-key request names its end user, a model list too.
    let resp = no_user
        .get(app.url("/v1/models"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let models = json_with_status(
        carol.get(app.url("/v1/models")).send().await.expect("send"),
        200,
    )
    .await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, [f.agent_id()], "only its project's agents");
    let resp = carol
        .get(app.url(&format!("/v1/models/{}", elsewhere.agent_id())))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);

    let body = |user: Option<&str>| {
        let mut b = json!({"model": f.agent_id(), "messages": [{"role": "user", "content": "hi"}]});
        if let Some(u) = user {
            b["user"] = json!(u);
        }
        b
    };
    let resp = no_user
        .post(app.url("/v1/chat/completions"))
        .json(&body(None))
        .send()
        .await
        .expect("send");
    let error = json_with_status(resp, 400).await;
    assert_eq!(error["error"]["param"], "user");
    let resp = no_user
        .post(app.url("/v1/chat/completions"))
        .json(&body(Some("alice")))
        .send()
        .await
        .expect("send");
    let completion = json_with_status(resp, 200).await;
    assert_eq!(completion["object"], "chat.completion");

    // A stored turn stays within the end user's sessions.
    let alice = key_client(&secret(&key), Some("alice"));
    let bob = key_client(&secret(&key), Some("bob"));
    let session = json_with_status(
        app.post(
            &alice,
            &format!("/api/chat/start/{}", f.agent_id()),
            &json!({}),
        )
        .await,
        201,
    )
    .await;
    let sid = session["id"].as_str().expect("id");
    let resp = bob
        .post(app.url("/v1/chat/completions"))
        .header("x-convo-session", sid)
        .json(&body(None))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    let resp = alice
        .post(app.url("/v1/chat/completions"))
        .header("x-convo-session", sid)
        .json(&body(None))
        .send()
        .await
        .expect("send");
    json_with_status(resp, 200).await;
    assert_eq!(app.history(&owner.client, sid).await.len(), 2);

    let usage = json_with_status(
        app.get(&owner.client, "/api/usage?group_by=end_user").await,
        200,
    )
    .await;
    let keys: Vec<Value> = usage["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|g| g["key"].clone())
        .collect();
    assert_eq!(keys, [json!("alice")]);
}

#[tokio::test]
async fn the_openapi_document_has_the_key_scheme_and_the_end_user_header() {
    let app = spawn_app().await;
    let doc = json_with_status(app.get(&app.client, "/openapi.json").await, 200).await;
    let scheme = &doc["components"]["securitySchemes"]["ProjectKeyAuth"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let send = &doc["paths"]["/api/chat/{chat_session_id}/message"]["post"];
    let names: Vec<&str> = send["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"X-Convo-End-User"), "{names:?}");
    let security = send["security"].to_string();
    assert!(security.contains("ProjectKeyAuth"), "{security}");
}
