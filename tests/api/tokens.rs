//! Bearer tokens and the token lifecycle: `/api/auth/token`, logout and
//! revocation, forged and expired tokens, where a token may be sent, and
//! which credential wins.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::header::{AUTHORIZATION, COOKIE};
use serde_json::json;

use crate::helpers::{
    assert_error, json_with_status, plain_client, set_cookie, spawn_app, JWT_SECRET, PASSWORD,
};

/// A JWT with Convo's claims, signed with HS256 and `secret`.
fn forge(secret: &str, sub: &str, exp_from_now_secs: i64) -> String {
    let now = Utc::now().timestamp();
    sign(
        secret,
        &json!({
            "sub": sub,
            "iat": now - 10,
            "exp": now + exp_from_now_secs,
            "jti": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

/// These claims as a JWT signed with HS256 and `secret`.
fn sign(secret: &str, claims: &serde_json::Value) -> String {
    // The server's HMAC-only backend signs for jsonwebtoken in this process.
    convo::server::credentials::install_jwt_crypto();
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("a non-empty secret");
    encode(&Header::new(Algorithm::HS256), claims, &key).expect("token encodes")
}

/// `GET /api/auth/me` from a client with no cookies, with this bearer token.
async fn me_with_bearer(address: &str, token: &str) -> reqwest::Response {
    plain_client()
        .get(format!("{address}/api/auth/me"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("request sent")
}

/// `GET /api/auth/me` from a client with no cookie jar, with this `token` cookie.
async fn me_with_cookie(address: &str, token: &str) -> reqwest::Response {
    plain_client()
        .get(format!("{address}/api/auth/me"))
        .header(COOKIE, format!("token={token}"))
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn the_token_endpoint_returns_a_bearer_token_that_works_on_protected_routes() {
    // Arrange
    let app = spawn_app().await;
    let user = app.other_user().await;
    let creds = json!({"email": user.email, "password": PASSWORD});

    // Act
    let resp = app.post(&app.client, "/api/auth/token", &creds).await;

    // Assert
    assert!(set_cookie(&resp).is_none(), "no cookie from /token");
    let body = json_with_status(resp, 200).await;
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let expires = body["expires_at"].as_str().expect("expires_at");
    let expires = DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
    assert!(expires.with_timezone(&Utc) > Utc::now() + chrono::Duration::hours(1));
    let token = body["access_token"].as_str().expect("access_token");
    let bearer = plain_client(); // no cookie jar at all
    let with = |req: reqwest::RequestBuilder| req.header(AUTHORIZATION, format!("Bearer {token}"));
    let me = with(bearer.get(app.url("/api/auth/me")))
        .send()
        .await
        .expect("me");
    assert_eq!(
        json_with_status(me, 200).await["user"]["id"],
        user.id.as_str()
    );
    let created = with(bearer.post(app.url("/api/projects")))
        .json(&json!({"name": "B"}))
        .send()
        .await
        .expect("create");
    let created = json_with_status(created, 201).await;
    let listed = with(bearer.get(app.url("/api/projects")))
        .send()
        .await
        .expect("list");
    assert_eq!(
        json_with_status(listed, 200).await["data"][0]["id"],
        created["id"]
    );
    let anonymous = bearer
        .get(app.url("/api/projects"))
        .send()
        .await
        .expect("list");
    assert_error(anonymous, 401, "unauthenticated").await;
}

#[tokio::test]
async fn the_token_endpoint_refuses_a_wrong_password() {
    let app = spawn_app().await;
    let user = app.other_user().await;

    let resp = app
        .post(
            &app.client,
            "/api/auth/token",
            &json!({"email": user.email, "password": "nope-nope"}),
        )
        .await;

    assert_error(resp, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn logout_clears_the_cookie_and_revokes_the_token() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    assert_eq!(
        me_with_bearer(&app.address, &user.token).await.status(),
        200,
        "valid before logout"
    );

    // Act
    let resp = app
        .request(&app.client, reqwest::Method::POST, "/api/auth/logout", None)
        .await;

    // Assert
    assert_eq!(resp.status(), 204);
    let cookie = set_cookie(&resp).expect("Set-Cookie clearing the cookie");
    assert!(
        cookie.starts_with("token=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    assert_error(
        app.get(&app.client, "/api/auth/me").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        me_with_bearer(&app.address, &user.token).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        me_with_cookie(&app.address, &user.token).await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn a_token_revoked_by_another_server_is_refused_on_the_next_request() {
    // Arrange: a token that has just worked (anything a server could cache
    // about it is warm), with the jti it carries.
    let app = spawn_app().await;
    let user = app.sign_up().await;
    assert_eq!(
        me_with_bearer(&app.address, &user.token).await.status(),
        200,
        "valid before the revocation"
    );
    let payload = user.token.split('.').nth(1).expect("a JWT has a payload");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
            .expect("JSON claims");
    let jti = claims["jti"].as_str().expect("a jti claim");

    // Act: revoked straight in the shared store, as another server's logout does.
    app.store
        .revoke_token(jti, Utc::now() + chrono::TimeDelta::hours(1))
        .await
        .expect("revoke_token");

    // Assert
    assert_error(
        me_with_bearer(&app.address, &user.token).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        me_with_cookie(&app.address, &user.token).await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn tampered_unsigned_foreign_expired_and_orphan_tokens_are_401() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let control = forge(JWT_SECRET, &user.id, 3600);
    assert_eq!(
        me_with_bearer(&app.address, &control).await.status(),
        200,
        "a well-forged token works"
    );
    let mut parts: Vec<String> = user.token.split('.').map(str::to_owned).collect();
    let flipped = if parts[2].as_bytes()[5] == b'A' {
        "B"
    } else {
        "A"
    };
    parts[2].replace_range(5..6, flipped);
    let tampered = parts.join(".");
    let claims = json!({"sub": user.id, "iat": Utc::now().timestamp(), "exp": Utc::now().timestamp() + 3600, "jti": "x"});
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let cases = [
        (tampered, "tampered signature"),
        (unsigned, "alg none"),
        (
            forge("another-secret-that-is-long-enough-0123", &user.id, 3600),
            "another secret",
        ),
        (forge(JWT_SECRET, &user.id, -3600), "expired"),
        (
            forge(JWT_SECRET, &uuid::Uuid::now_v7().to_string(), 3600),
            "unregistered subject",
        ),
        ("not-a-jwt".to_owned(), "garbage"),
    ];

    for (token, case) in cases {
        // Act
        let bearer = me_with_bearer(&app.address, &token).await;
        let cookie = me_with_cookie(&app.address, &token).await;

        // Assert
        assert_eq!(bearer.status(), 401, "{case} (as a bearer token)");
        assert_eq!(cookie.status(), 401, "{case} (as the cookie)");
        assert_error(bearer, 401, "unauthenticated").await;
        assert_error(cookie, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let app = spawn_app().await;
    let user = app.other_user().await;

    for name in ["token", "access_token"] {
        let resp = plain_client()
            .get(app.url(&format!("/api/auth/me?{name}={}", user.token)))
            .send()
            .await
            .expect("request sent");

        assert_eq!(resp.status(), 401, "?{name}= must not authenticate");
        assert_error(resp, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn a_bearer_token_wins_over_the_cookie() {
    // Arrange
    let app = spawn_app().await;
    let a = app.sign_up().await; // app.client holds A's cookie
    let b = app.other_user().await;

    // Act
    let resp = app
        .client
        .get(app.url("/api/auth/me"))
        .header(AUTHORIZATION, format!("Bearer {}", b.token))
        .send()
        .await
        .expect("request sent");

    // Assert
    let me = json_with_status(resp, 200).await;
    assert_eq!(
        me["user"]["id"],
        b.id.as_str(),
        "the bearer (B), not the cookie (A = {})",
        a.id
    );
}

#[tokio::test]
async fn a_token_not_valid_before_an_hour_from_now_is_401() {
    // Arrange: signed with the server's own secret, only `nbf` is wrong.
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let now = Utc::now().timestamp();
    let early = sign(
        JWT_SECRET,
        &json!({"sub": user.id, "iat": now, "exp": now + 7200, "nbf": now + 3600, "jti": "early"}),
    );
    let due = sign(
        JWT_SECRET,
        &json!({"sub": user.id, "iat": now, "exp": now + 7200, "nbf": now - 60, "jti": "due"}),
    );

    // Act
    let bearer = me_with_bearer(&app.address, &early).await;
    let cookie = me_with_cookie(&app.address, &early).await;

    // Assert
    assert_error(bearer, 401, "unauthenticated").await;
    assert_error(cookie, 401, "unauthenticated").await;
    assert_eq!(
        me_with_bearer(&app.address, &due).await.status(),
        200,
        "an nbf in the past is fine"
    );
}

#[tokio::test]
async fn a_failing_bearer_token_is_401_even_with_a_valid_cookie() {
    // Arrange: app.client holds A's valid cookie, and A owns a session.
    let app = spawn_app().await;
    let a = app.sign_up().await;
    let fixture = app.fixture(&app.client).await;
    let session = fixture.session_id();
    let revoked = {
        let creds = json!({"email": a.email, "password": PASSWORD});
        let issued = app.post(&plain_client(), "/api/auth/token", &creds).await;
        let token = json_with_status(issued, 200).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let logout = plain_client()
            .post(app.url("/api/auth/logout"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .expect("logout");
        assert_eq!(logout.status(), 204, "the token is revoked");
        token
    };
    let credentials = [
        ("Bearer not-a-jwt".to_owned(), "garbage"),
        (
            format!(
                "Bearer {}",
                forge("another-secret-that-is-long-enough-0123", &a.id, 3600)
            ),
            "forged with another secret",
        ),
        (
            format!("Bearer {}", forge(JWT_SECRET, &a.id, -3600)),
            "expired",
        ),
        (format!("Bearer {revoked}"), "revoked"),
        ("bearer not-a-jwt".to_owned(), "lower-case scheme"),
        ("Bearer".to_owned(), "no token after the scheme"),
    ];
    let routes = [
        (reqwest::Method::GET, "/api/auth/me".to_owned(), None),
        (reqwest::Method::GET, "/api/projects".to_owned(), None),
        (
            reqwest::Method::POST,
            "/api/projects".to_owned(),
            Some(json!({"name": "smuggled"})),
        ),
        (reqwest::Method::GET, format!("/api/chat/{session}"), None),
        (
            reqwest::Method::POST,
            format!("/api/chat/{session}/message"),
            Some(json!({"content": "smuggled"})),
        ),
        (reqwest::Method::POST, "/api/auth/logout".to_owned(), None),
    ];

    for (authorization, case) in &credentials {
        for (method, path, body) in &routes {
            // Act
            let mut req = app
                .client
                .request(method.clone(), app.url(path))
                .header(AUTHORIZATION, authorization);
            if let Some(body) = body {
                req = req.json(body);
            }
            let resp = req.send().await.expect("request sent");

            // Assert
            assert_eq!(resp.status(), 401, "{case}: {method} {path}");
            assert_error(resp, 401, "unauthenticated").await;
        }
    }
    // Nothing ran as A: no project, no message, and A's cookie was not logged out.
    let projects = json_with_status(app.get(&app.client, "/api/projects").await, 200).await;
    assert_eq!(
        projects["data"].as_array().map(Vec::len),
        Some(1),
        "{projects}"
    );
    assert!(app.history(&app.client, session).await.is_empty());
    assert_eq!(app.get(&app.client, "/api/auth/me").await.status(), 200);
}

#[tokio::test]
async fn a_valid_bearer_token_acts_as_its_user_whatever_the_cookie() {
    // Arrange: app.client holds A's cookie; B sends their bearer token through it.
    let app = spawn_app().await;
    let a = app.sign_up().await;
    let a_fixture = app.fixture(&app.client).await;
    let b = app.other_user().await;
    let as_b =
        |req: reqwest::RequestBuilder| req.header(AUTHORIZATION, format!("Bearer {}", b.token));

    // Act
    let created = as_b(app.client.post(app.url("/api/projects")))
        .json(&json!({"name": "B's"}))
        .send()
        .await
        .expect("create");
    let foreign = as_b(
        app.client
            .get(app.url(&format!("/api/chat/{}", a_fixture.session_id()))),
    )
    .send()
    .await
    .expect("get");

    // Assert
    let created = json_with_status(created, 201).await;
    assert_error(foreign, 404, "not_found").await;
    let b_list = as_b(plain_client().get(app.url("/api/projects")))
        .send()
        .await
        .expect("list");
    let b_list = json_with_status(b_list, 200).await;
    assert_eq!(b_list["data"][0]["id"], created["id"], "the project is B's");
    let a_list = json_with_status(app.get(&app.client, "/api/projects").await, 200).await;
    assert!(
        a_list["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|p| p["id"] != created["id"]),
        "not A's ({}): {a_list}",
        a.id
    );
}
