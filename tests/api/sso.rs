//! Single sign-on: bearer JWTs of a configured OpenID Connect issuer (a
//! local one, `sso::issuer`), each acting as the Convo user of its `(iss,
//! sub)`; every way such a token can be wrong; key rotation and the
//! refresh limit; an issuer that cannot be reached.

mod issuer;

use std::time::Duration;

use convo::server::credentials::oidc::Clock;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::header::AUTHORIZATION;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, json_with_status, plain_client, spawn_app_inspecting, TestApp, PASSWORD,
};
use issuer::{signing_input, Issuer, TestKey, AUDIENCE};

/// A server accepting `issuer`'s tokens (keys from its discovery document),
/// and the clock of its key cache.
async fn spawn_with(issuer: &Issuer) -> (TestApp, Clock) {
    spawn_configured(&issuer.url, None).await
}

/// A server accepting tokens of `issuer_url`, with keys from `jwks_url` when given.
async fn spawn_configured(issuer_url: &str, jwks_url: Option<String>) -> (TestApp, Clock) {
    let mut clock = None;
    let app = spawn_app_inspecting(
        convo::core::MockProvider::new(),
        |config| {
            config.oidc_issuer = Some(issuer_url.to_owned());
            config.oidc_audience = Some(AUDIENCE.to_owned());
            config.oidc_jwks_url = jwks_url;
        },
        |app| clock = app.oidc_clock(),
    )
    .await;
    (app, clock.expect("single sign-on is configured"))
}

/// `method path` with `token` as the bearer, from a client without cookies.
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::Response {
    plain_client()
        .request(method, app.url(path))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("request sent")
}

/// `GET /api/auth/me` with `token`.
async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    call(app, reqwest::Method::GET, "/api/auth/me", token).await
}

/// A subject no other test uses.
fn subject() -> String {
    format!("user-{}", uuid::Uuid::now_v7().simple())
}

#[tokio::test]
async fn rs256_and_es256_tokens_of_the_issuer_act_as_one_user_created_on_first_use() {
    let rsa = TestKey::rsa("rsa-1");
    let ec = TestKey::ec("ec-1");
    let issuer = Issuer::start(&[&rsa, &ec]).await;
    let (app, _) = spawn_with(&issuer).await;
    let sub = subject();
    let email = format!("{sub}@example.com");
    let mut claims = issuer.claims(&sub);
    claims["email"] = json!(email.to_uppercase());
    claims["email_verified"] = json!(true);
    let by_rsa = rsa.sign(&claims);
    let by_ec = ec.sign(&claims);

    let created = plain_client()
        .post(app.url("/api/projects"))
        .header(AUTHORIZATION, format!("Bearer {by_rsa}"))
        .json(&json!({"name": "Made through SSO"}))
        .send()
        .await
        .expect("request sent");
    let project = json_with_status(created, 201).await;
    let listed = json_with_status(
        call(&app, reqwest::Method::GET, "/api/projects", &by_ec).await,
        200,
    )
    .await;
    let first = json_with_status(me(&app, &by_rsa).await, 200).await;
    let second = json_with_status(me(&app, &by_ec).await, 200).await;

    let ids: Vec<&Value> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(
        ids,
        [&project["id"]],
        "the ES256 token sees the RS256 token's project"
    );
    assert_eq!(
        first["user"]["id"], second["user"]["id"],
        "one identity, one user"
    );
    assert_eq!(
        first["user"]["email"],
        json!(email),
        "the verified e-mail claim, normalised, is the new user's"
    );
}

#[tokio::test]
async fn tokens_the_issuer_did_not_issue_for_this_server_are_401() {
    let rsa = TestKey::rsa("rsa-1");
    let stranger = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&rsa]).await;
    let (app, _) = spawn_with(&issuer).await;
    let now = chrono::Utc::now().timestamp();
    let valid = issuer.claims(&subject());
    let with = |field: &str, value: Value| {
        let mut claims = valid.clone();
        claims[field] = value;
        claims
    };
    let without = |field: &str| {
        let mut claims = valid.clone();
        claims.as_object_mut().expect("object").remove(field);
        claims
    };
    let tampered = {
        let token = rsa.sign(&valid);
        let forged = rsa.sign(&with("sub", json!("someone-else")));
        let (head, _) = forged.rsplit_once('.').expect("three parts");
        let (_, sig) = token.rsplit_once('.').expect("three parts");
        format!("{head}.{sig}")
    };
    let cases = [
        (
            "another issuer",
            rsa.sign(&with("iss", json!("https://evil.example.com"))),
        ),
        (
            "the issuer with a trailing slash",
            rsa.sign(&with("iss", json!(format!("{}/", issuer.url)))),
        ),
        (
            "another audience",
            rsa.sign(&with("aud", json!("someone-else"))),
        ),
        (
            "an audience list without ours",
            rsa.sign(&with("aud", json!(["a", "b"]))),
        ),
        (
            "expired a minute ago",
            rsa.sign(&with("exp", json!(now - 60))),
        ),
        (
            "not valid for another ten minutes",
            rsa.sign(&with("nbf", json!(now + 600))),
        ),
        ("no sub", rsa.sign(&without("sub"))),
        ("no exp", rsa.sign(&without("exp"))),
        ("no aud", rsa.sign(&without("aud"))),
        (
            "a sub Convo cannot keep",
            rsa.sign(&with("sub", json!("x".repeat(256)))),
        ),
        ("a claims part swapped under the signature", tampered),
        (
            "signed by another key under the same kid",
            stranger.sign(&valid),
        ),
    ];

    for (case, token) in cases {
        let resp = me(&app, &token).await;
        assert_eq!(resp.status().as_u16(), 401, "{case}");
        assert_error(resp, 401, "unauthenticated").await;
    }
    let listed = rsa.sign(&with("aud", json!(["other", AUDIENCE])));
    json_with_status(me(&app, &listed).await, 200).await;
}

#[tokio::test]
async fn algorithm_confusion_and_unsigned_tokens_are_401() {
    let rsa = TestKey::rsa("rsa-1");
    let ec = TestKey::ec("ec-1");
    let issuer = Issuer::start(&[&rsa, &ec]).await;
    let (app, _) = spawn_with(&issuer).await;
    let claims = issuer.claims(&subject());
    // HS256 "signed" with the public key, as a verifier that lets the
    // header pick the algorithm would check it.
    convo::server::credentials::install_jwt_crypto();
    let hs256_with = |secret: &[u8]| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(rsa.kid().to_owned());
        let key = EncodingKey::from_secret(secret).expect("a non-empty secret");
        encode(&header, &claims, &key).expect("token encodes")
    };
    let jwk_text = serde_json::to_vec(&rsa.jwk()).expect("JSON");
    let unsigned = |alg: &str| {
        let header = json!({"alg": alg, "typ": "JWT", "kid": rsa.kid()});
        format!("{}.", signing_input(&header, &claims))
    };
    let ec_signature_under_rsa_kid = {
        let by_ec = ec.sign(&claims);
        let (_, sig) = by_ec.rsplit_once('.').expect("three parts");
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": rsa.kid()});
        format!("{}.{sig}", signing_input(&header, &claims))
    };
    let cases = [
        (
            "HS256 keyed with the RSA public key (DER)",
            hs256_with(&rsa.public_bytes()),
        ),
        ("HS256 keyed with the JWK's JSON", hs256_with(&jwk_text)),
        ("HS256 keyed with the EC point", {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(ec.kid().to_owned());
            let key = EncodingKey::from_secret(&ec.public_bytes()).expect("key");
            encode(&header, &claims, &key).expect("token encodes")
        }),
        ("alg none", unsigned("none")),
        ("alg None", unsigned("None")),
        (
            "an ES256 signature under the RSA key's kid",
            ec_signature_under_rsa_kid,
        ),
    ];

    for (case, token) in cases {
        let resp = me(&app, &token).await;
        assert_eq!(resp.status().as_u16(), 401, "{case}");
        assert_error(resp, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn an_unknown_kid_is_accepted_once_the_rotated_jwks_is_fetched_at_most_once_a_minute() {
    let old = TestKey::rsa("2026-11");
    let new = TestKey::ec("2026-12");
    let never = TestKey::rsa("never-published");
    let issuer = Issuer::start(&[&old]).await;
    let (app, clock) = spawn_with(&issuer).await;
    let claims = issuer.claims(&subject());

    json_with_status(me(&app, &old.sign(&claims)).await, 200).await;
    assert_eq!(
        issuer.jwks_fetches().await,
        1,
        "the first token fetches the keys"
    );

    // The issuer rotates: the new key is published and the old one withdrawn.
    issuer.publish(&[&new]);
    for (case, token) in [
        ("the new kid", new.sign(&claims)),
        ("a kid never published", never.sign(&claims)),
    ] {
        assert_error(me(&app, &token).await, 401, "unauthenticated").await;
        assert_eq!(
            issuer.jwks_fetches().await,
            1,
            "{case}: no refetch within a minute"
        );
    }
    json_with_status(me(&app, &old.sign(&claims)).await, 200).await;

    clock.advance(Duration::from_secs(61));
    json_with_status(me(&app, &new.sign(&claims)).await, 200).await;
    assert_eq!(
        issuer.jwks_fetches().await,
        2,
        "a minute on, an unknown kid refetches"
    );
    for (case, token) in [
        ("a kid never published", never.sign(&claims)),
        ("the withdrawn kid", old.sign(&claims)),
    ] {
        assert_error(me(&app, &token).await, 401, "unauthenticated").await;
        assert_eq!(
            issuer.jwks_fetches().await,
            2,
            "{case}: no refetch within a minute"
        );
    }
}

#[tokio::test]
async fn an_issuer_that_cannot_be_reached_is_a_retryable_503() {
    let rsa = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&rsa]).await;
    // Nothing listens on the JWKS URL given.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let jwks_url = format!("http://{}/jwks", closed.local_addr().expect("address"));
    drop(closed);
    let (app, _) = spawn_configured(&issuer.url, Some(jwks_url)).await;

    let token = rsa.sign(&issuer.claims(&subject()));
    let with_cookie = app.sign_up().await;

    let alone = me(&app, &token).await;
    let beside_a_cookie = with_cookie
        .client
        .get(app.url("/api/auth/me"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("request sent");

    for (case, resp) in [("alone", alone), ("beside a valid cookie", beside_a_cookie)] {
        let error = assert_error(resp, 503, "identity_provider_unavailable").await;
        assert_eq!(error["retryable"], json!(true), "{case}: {error}");
    }
    assert_eq!(
        issuer.jwks_fetches().await,
        0,
        "CONVO_OIDC_JWKS_URL replaces discovery"
    );
}

#[tokio::test]
async fn an_sso_user_has_no_password_and_takes_no_unverified_or_taken_email() {
    let rsa = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&rsa]).await;
    let (app, _) = spawn_with(&issuer).await;
    let registered = app.sign_up().await;
    let email_of = |verified: bool, email: &str| {
        let mut claims = issuer.claims(&subject());
        claims["email"] = json!(email);
        claims["email_verified"] = json!(verified);
        claims
    };
    let unverified = format!("{}@example.com", subject());
    let cases = [
        ("an unverified address", email_of(false, &unverified)),
        (
            "a registered user's address",
            email_of(true, &registered.email),
        ),
    ];

    for (case, claims) in cases {
        let user = json_with_status(me(&app, &rsa.sign(&claims)).await, 200).await;
        let email = user["user"]["email"].as_str().expect("email");
        assert!(email.ends_with("@external.invalid"), "{case}: {email}");
        let login = plain_client()
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("request sent");
        assert_error(login, 401, "invalid_credentials").await;
    }
    let verified = email_of(true, &unverified);
    let user = json_with_status(me(&app, &rsa.sign(&verified)).await, 200).await;
    let login = plain_client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": user["user"]["email"], "password": PASSWORD}))
        .send()
        .await
        .expect("request sent");
    assert_error(login, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn logging_out_revokes_the_sso_token_and_convo_tokens_still_work() {
    let rsa = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&rsa]).await;
    let (app, _) = spawn_with(&issuer).await;
    let token = rsa.sign(&issuer.claims(&subject()));
    let own = app.sign_up().await;
    let convo_token = json_with_status(
        plain_client()
            .post(app.url("/api/auth/token"))
            .json(&json!({"email": own.email, "password": PASSWORD}))
            .send()
            .await
            .expect("request sent"),
        200,
    )
    .await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    json_with_status(me(&app, &token).await, 200).await;
    let out = call(&app, reqwest::Method::POST, "/api/auth/logout", &token).await;
    assert_eq!(out.status().as_u16(), 204);
    assert_error(me(&app, &token).await, 401, "unauthenticated").await;

    let mine = json_with_status(me(&app, &convo_token).await, 200).await;
    assert_eq!(
        mine["user"]["id"],
        json!(own.id),
        "Convo's own tokens are unchanged"
    );
}
