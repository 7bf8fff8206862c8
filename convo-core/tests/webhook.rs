//! Webhook tools end to end against local receivers: every delivery's
//! signature is verified with the Standard Webhooks project's own library
//! (`standardwebhooks`), and every failure mode becomes its error. The
//! receivers listen on 127.0.0.1, so the calls that should arrive run with
//! `allow_private_networks`; the destination rules run without it, and the
//! receiver must see nothing.

use std::net::SocketAddr;
use std::time::Duration;

use convo_core::webhook::{Refusal, WebhookCall, WebhookCaller, WebhookError, WebhookPolicy};
use convo_core::{AgentId, ProjectId, SessionId, ToolCall, WebhookTarget};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MIB: usize = 1024 * 1024;

fn caller(allow_private_networks: bool) -> WebhookCaller {
    WebhookCaller::new(WebhookPolicy {
        allow_private_networks,
        max_response_bytes: MIB,
    })
    .expect("the client builds")
}

fn target(url: impl Into<String>, timeout_ms: u32) -> WebhookTarget {
    WebhookTarget {
        url: url.into(),
        timeout_ms,
    }
}

/// One model call and where it came from; the call borrows from it.
struct Origin {
    call: ToolCall,
    agent: AgentId,
    project: ProjectId,
    session: SessionId,
}

impl Origin {
    fn new() -> Self {
        Self {
            call: ToolCall {
                id: "call_7".into(),
                name: "lookup_order".into(),
                arguments: json!({"order": 42, "note": "café ☕"}),
                provider_state: None,
            },
            agent: AgentId::new(),
            project: ProjectId::new(),
            session: SessionId::new(),
        }
    }

    fn webhook_call(&self) -> WebhookCall<'_> {
        WebhookCall::new(&self.call, self.agent, self.project, self.session)
    }

    fn expected_body(&self) -> Value {
        json!({
            "type": "tool_call",
            "tool_call_id": self.call.id,
            "name": self.call.name,
            "arguments": self.call.arguments,
            "agent_id": self.agent.to_string(),
            "project_id": self.project.to_string(),
            "session_id": self.session.to_string(),
        })
    }
}

/// A receiver answering `answer` at `/hook`.
async fn receiver(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

/// Verifies every delivery `server` received as a Standard Webhooks
/// receiver holding `secret` would, checks its body, and returns how many.
async fn verify_deliveries(server: &MockServer, secret: &str, origin: &Origin) -> usize {
    let verifier = standardwebhooks::Webhook::new(secret).expect("the secret parses");
    let deliveries = server.received_requests().await.unwrap_or_default();
    let mut ids = std::collections::HashSet::new();
    for delivery in &deliveries {
        verifier
            .verify(&delivery.body, &delivery.headers)
            .expect("the signature verifies");
        let id = delivery.headers.get("webhook-id").expect("a webhook-id");
        assert!(ids.insert(id.clone()), "webhook-id {id:?} was used twice");
        assert_eq!(
            delivery.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        let body: Value = serde_json::from_slice(&delivery.body).expect("a JSON body");
        assert_eq!(body, origin.expected_body());
    }
    deliveries.len()
}

#[tokio::test]
async fn a_call_is_signed_as_standard_webhooks_and_returns_the_webhooks_json() {
    let server =
        receiver(ResponseTemplate::new(200).set_body_json(json!({"status": "shipped"}))).await;
    let origin = Origin::new();
    let caller = caller(true);
    let hook = target(format!("{}/hook", server.uri()), 5_000);

    let first = caller.call(&hook, SECRET, &origin.webhook_call()).await;
    let second = caller.call(&hook, SECRET, &origin.webhook_call()).await;

    assert_eq!(first.expect("first call"), json!({"status": "shipped"}));
    assert_eq!(second.expect("second call"), json!({"status": "shipped"}));
    assert_eq!(verify_deliveries(&server, SECRET, &origin).await, 2);
}

#[tokio::test]
async fn a_receiver_holding_another_secret_rejects_the_signature() {
    let server = receiver(ResponseTemplate::new(200).set_body_json(json!({}))).await;
    let origin = Origin::new();
    caller(true)
        .call(
            &target(format!("{}/hook", server.uri()), 5_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await
        .expect("the call succeeds");

    let other = standardwebhooks::Webhook::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
        .expect("the secret parses");
    let deliveries = server.received_requests().await.unwrap_or_default();

    assert_eq!(deliveries.len(), 1);
    assert!(other
        .verify(&deliveries[0].body, &deliveries[0].headers)
        .is_err());
}

#[tokio::test]
async fn a_secret_that_does_not_parse_is_an_error_and_nothing_is_sent() {
    let server = receiver(ResponseTemplate::new(200).set_body_json(json!({}))).await;
    let origin = Origin::new();

    let outcome = caller(true)
        .call(
            &target(format!("{}/hook", server.uri()), 5_000),
            "secret",
            &origin.webhook_call(),
        )
        .await;

    let error = outcome.expect_err("refused");
    assert!(matches!(error, WebhookError::InvalidSecret(_)), "{error:?}");
    assert!(error.refused_before_connecting());
    assert_eq!(verify_deliveries(&server, SECRET, &origin).await, 0);
}

#[tokio::test]
async fn a_webhook_slower_than_its_timeout_is_an_error() {
    let server = receiver(
        ResponseTemplate::new(200)
            .set_body_json(json!({}))
            .set_delay(Duration::from_secs(30)),
    )
    .await;
    let origin = Origin::new();

    let outcome = caller(true)
        .call(
            &target(format!("{}/hook", server.uri()), 200),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    let error = outcome.expect_err("timed out");
    assert!(matches!(error, WebhookError::Timeout(200)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the webhook did not answer within 200 ms"
    );
    assert_eq!(verify_deliveries(&server, SECRET, &origin).await, 1);
}

#[tokio::test]
async fn a_server_error_is_an_error_naming_the_status() {
    let server = receiver(ResponseTemplate::new(500).set_body_json(json!({"ok": true}))).await;
    let origin = Origin::new();

    let outcome = caller(true)
        .call(
            &target(format!("{}/hook", server.uri()), 5_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    let error = outcome.expect_err("500");
    assert!(matches!(error, WebhookError::Status(500)), "{error:?}");
    assert_eq!(error.to_string(), "the webhook answered 500");
    assert!(!error.refused_before_connecting());
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_an_error() {
    let server = receiver(ResponseTemplate::new(200).set_body_string("shipped")).await;
    let origin = Origin::new();

    let outcome = caller(true)
        .call(
            &target(format!("{}/hook", server.uri()), 5_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    assert!(matches!(outcome, Err(WebhookError::NotJson)), "{outcome:?}");
}

#[tokio::test]
async fn an_answer_declared_over_the_limit_is_refused() {
    let body = vec![b' '; 2 * MIB];
    let server = receiver(ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
    let origin = Origin::new();

    let outcome = caller(true)
        .call(
            &target(format!("{}/hook", server.uri()), 5_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    let error = outcome.expect_err("too large");
    assert!(
        matches!(error, WebhookError::TooLarge { limit: MIB }),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "the webhook's answer is over 1 MiB");
}

/// A server that answers any request with 2 MiB of a chunked body and then
/// never ends it: a client reading to the end would wait forever.
async fn endless_body_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = vec![0; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
        chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
        chunk.extend_from_slice(b"\r\n");
        for _ in 0..32 {
            if socket.write_all(&chunk).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    });
    addr
}

#[tokio::test]
async fn a_streamed_answer_stops_being_read_as_soon_as_it_passes_the_limit() {
    let addr = endless_body_server().await;
    let origin = Origin::new();

    // The timeout is far away: only stopping at the limit ends this call
    // with `TooLarge`; reading on would end it with `Timeout`.
    let outcome = caller(true)
        .call(
            &target(format!("http://{addr}/hook"), 120_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    assert!(
        matches!(outcome, Err(WebhookError::TooLarge { limit: MIB })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_redirect_is_an_error_and_its_target_is_never_called() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/elsewhere", server.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(0)
        .named("the redirect's target")
        .mount(&server)
        .await;
    let origin = Origin::new();

    let outcome = caller(true)
        .call(
            &target(format!("{}/hook", server.uri()), 5_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    let error = outcome.expect_err("redirect");
    assert!(matches!(error, WebhookError::Redirect(302)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "redirects are not followed (the webhook answered 302)"
    );
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, ["/hook"]);
}

#[tokio::test]
async fn a_webhook_nobody_listens_on_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let origin = Origin::new();

    let outcome = caller(true)
        .call(
            &target(format!("http://{addr}/hook"), 5_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    let error = outcome.expect_err("unreachable");
    assert!(matches!(error, WebhookError::Unreachable(_)), "{error:?}");
    assert!(!error.refused_before_connecting());
    assert!(!error.to_string().contains(&addr.to_string()), "{error}");
}

#[tokio::test]
async fn non_global_destinations_are_refused_and_nothing_reaches_them() {
    let server = receiver(ResponseTemplate::new(200).set_body_json(json!({}))).await;
    let port = server.address().port();
    let origin = Origin::new();
    let caller = caller(false);
    let urls = [
        format!("http://127.0.0.1:{port}/hook"),
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://[::1]:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        "https://10.0.0.1/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        format!("https://0.0.0.0:{port}/hook"),
        format!("https://localhost:{port}/hook"),
    ];

    for url in &urls {
        let outcome = caller
            .call(&target(url.clone(), 5_000), SECRET, &origin.webhook_call())
            .await;

        let error = outcome.expect_err(url);
        assert!(
            matches!(error, WebhookError::Refused(_)),
            "{url}: {error:?}"
        );
        assert!(error.refused_before_connecting(), "{url}");
        assert!(
            error.to_string().starts_with("destination refused: "),
            "{url}: {error}"
        );
    }
    assert_eq!(verify_deliveries(&server, SECRET, &origin).await, 0);
}

#[tokio::test]
async fn a_name_is_judged_on_the_address_it_resolves_to() {
    let server = receiver(ResponseTemplate::new(200).set_body_json(json!({"ok": true}))).await;
    let port = server.address().port();
    let origin = Origin::new();
    let url = format!("https://localhost:{port}/hook");

    let refused = caller(false)
        .call(&target(url, 5_000), SECRET, &origin.webhook_call())
        .await;
    let allowed = caller(true)
        .call(
            &target(format!("http://localhost:{port}/hook"), 5_000),
            SECRET,
            &origin.webhook_call(),
        )
        .await;

    match refused {
        Err(WebhookError::Refused(Refusal::Resolved { host, ip, .. })) => {
            assert_eq!(host, "localhost");
            assert!(ip.is_loopback(), "{ip}");
        }
        other => panic!("expected a refusal on the resolved address, got {other:?}"),
    }
    assert_eq!(allowed.expect("allowed"), json!({"ok": true}));
    assert_eq!(verify_deliveries(&server, SECRET, &origin).await, 1);
}
