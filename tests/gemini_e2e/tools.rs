//! Webhook tools end to end, in both wire formats: the real server, the
//! fake model scripted to call the agent's webhook tool and then answer,
//! and a webhook receiver in the test (on 127.0.0.1, so the server allows
//! private networks) that verifies every delivery's Standard Webhooks
//! signature with the spec's own library (`standardwebhooks`) before it
//! answers. The fake checks each tool history as the real service does
//! (the call answered, by name and id; Gemini 3's signature sent back), so
//! a turn that completes proves the exchange went out in the right shape.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{spawn_app_configured, with_knobs, GeminiApp, SYSTEM_PROMPT};

/// The tool's answer.
fn order_status() -> Value {
    json!({"order": 42, "status": "shipped"})
}

/// Answers a delivery whose signature verifies with the agent's secret
/// (set once the agent exists); anything else is a 401, which the turn
/// would show as an `is_error` tool message.
struct Verifying {
    secret: Arc<Mutex<Option<String>>>,
}

impl Respond for Verifying {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let secret = self
            .secret
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let verified = secret
            .and_then(|s| standardwebhooks::Webhook::new(&s).ok())
            .is_some_and(|hook| hook.verify(&request.body, &request.headers).is_ok());
        if verified {
            ResponseTemplate::new(200).set_body_json(order_status())
        } else {
            ResponseTemplate::new(401)
        }
    }
}

/// A receiver at `/hook`, and the slot for the secret it verifies with.
async fn receiver() -> (MockServer, Arc<Mutex<Option<String>>>) {
    let server = MockServer::start().await;
    let secret = Arc::new(Mutex::new(None));
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(Verifying {
            secret: secret.clone(),
        })
        .mount(&server)
        .await;
    (server, secret)
}

/// A server whose agent (on `model`) has the webhook tool `lookup_order`
/// at `hook`, and the receiver verifying with the agent's secret.
async fn app_with_webhook_tool(model: &str) -> (GeminiApp, MockServer) {
    let (hook, secret) = receiver().await;
    let agent = json!({"name": "Orders", "system_prompt": SYSTEM_PROMPT, "model": model,
        "tools": [{"name": "lookup_order", "description": "An order's status.",
            "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}},
            "execution": {"type": "webhook", "url": format!("{}/hook", hook.uri()), "timeout_ms": 5000}}]});
    let app = spawn_app_configured(agent, |c| {
        c.tools_allow_private_networks = true;
        let base = c.gemini_base_url.clone().expect("the fake's URL");
        c.openai_base_url = Some(format!("{base}/v1"));
        c.openai_api_key = Some("sk-e2e-tools-0123456789".into());
    })
    .await;
    let created = app.agent["webhook_secret"]
        .as_str()
        .expect("the create answer shows the secret")
        .to_owned();
    *secret.lock().unwrap_or_else(PoisonError::into_inner) = Some(created);
    (app, hook)
}

/// One turn that calls the tool once, then answers; checks what it stored
/// and what the receiver got.
async fn a_webhook_turn_completes(model: &str) {
    // Arrange
    let (app, hook) = app_with_webhook_tool(model).await;
    let content = with_knobs(
        "Where is order 42?",
        json!({"function_calls": [{"name": "lookup_order", "args": {"order": 42}}]}),
    );

    // Act
    let turn = app.send_ok(&content).await;

    // Assert: the call, its result, the answer, stored in order after the
    // user message, `seq` contiguous.
    let history = app.history().await;
    let seqs: Vec<u64> = history.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "{history:?}");
    let messages = &history[1..];
    let shape: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or(""),
                m["finish_reason"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("assistant", "tool_calls"),
            ("tool", "-"),
            ("assistant", "stop")
        ],
        "{history:?}"
    );
    let call = &messages[0]["tool_calls"][0];
    assert_eq!(call["name"], "lookup_order");
    assert_eq!(call["arguments"], json!({"order": 42}));
    let result = &messages[1];
    assert_eq!(
        result["is_error"], false,
        "the receiver verified it: {result}"
    );
    assert_eq!(result["tool_call_id"], call["id"]);
    assert_eq!(result["name"], "lookup_order");
    let output: Value =
        serde_json::from_str(result["content"].as_str().expect("content")).expect("JSON output");
    assert_eq!(output, order_status());
    assert_eq!(turn["assistant_message"]["id"], messages[2]["id"]);

    // The receiver: one delivery, its signature verified again here, its
    // body the contract's.
    let deliveries = hook.received_requests().await.unwrap_or_default();
    assert_eq!(deliveries.len(), 1);
    let secret = app.agent["webhook_secret"].as_str().expect("secret");
    let verifier = standardwebhooks::Webhook::new(secret).expect("the secret parses");
    verifier
        .verify(&deliveries[0].body, &deliveries[0].headers)
        .expect("the signature verifies");
    let body: Value = serde_json::from_slice(&deliveries[0].body).expect("JSON body");
    assert_eq!(body["type"], "tool_call");
    assert_eq!(body["tool_call_id"], call["id"]);
    assert_eq!(body["name"], "lookup_order");
    assert_eq!(body["arguments"], json!({"order": 42}));
    assert_eq!(body["agent_id"], app.agent["id"]);
    assert_eq!(body["session_id"], app.session_id.as_str());
}

#[tokio::test]
async fn a_webhook_tool_turn_completes_through_gemini_with_every_signature_verified() {
    a_webhook_turn_completes("gemini-3.8-flash").await;
}

#[tokio::test]
async fn a_webhook_tool_turn_completes_through_chat_completions_with_every_signature_verified() {
    a_webhook_turn_completes("openai:gpt-5.1-mini").await;
}

#[tokio::test]
async fn the_second_model_call_carries_the_result_in_each_wire_format() {
    for model in ["gemini-3.8-flash", "openai:gpt-5.1-mini"] {
        // Arrange
        let (app, _hook) = app_with_webhook_tool(model).await;
        let content = with_knobs(
            "Where is order 42?",
            json!({"function_calls": [{"name": "lookup_order", "args": {"order": 42}}]}),
        );

        // Act
        app.send_ok(&content).await;

        // Assert: what the fake received on the second call.
        let calls: Vec<Value> = app
            .fake
            .requests()
            .await
            .into_iter()
            .filter(|r| {
                matches!(
                    r["rpc"].as_str(),
                    Some("generateContent" | "streamGenerateContent" | "chat.completions")
                )
            })
            .collect();
        assert_eq!(calls.len(), 2, "{model}: two model calls");
        let second = calls[1].to_string();
        assert!(
            second.contains("shipped"),
            "{model}: the webhook's answer reaches the model: {second}"
        );
        assert!(
            calls.iter().all(|c| c["outcome"] == "ok"),
            "{model}: the fake accepted both histories: {calls:?}"
        );
    }
}

#[tokio::test]
async fn a_v1_tool_round_trip_on_gemini_3_sends_the_calls_signature_back() {
    // Arrange: a user of its own with a bearer token, and a Gemini 3 agent
    // with no tools (on /v1 the request declares them).
    let (app, _hook) = app_with_webhook_tool("gemini-3.8-flash").await;
    let client = crate::client::new_client();
    let email = crate::fixture::unique_email();
    crate::fixture::sign_up(&client, &app.address, &email).await;
    let token = client
        .post(app.url("/api/auth/token"))
        .json(&json!({"email": email, "password": crate::fixture::PASSWORD}))
        .send()
        .await
        .expect("sent")
        .json::<Value>()
        .await
        .expect("JSON")["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let agent = json!({"name": "Plain", "system_prompt": SYSTEM_PROMPT});
    let fx = crate::fixture::fixture(&client, &app.address, &agent).await;
    let tool = json!({"type": "function", "function": {"name": "lookup_order",
        "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}}}});
    let question = json!({"role": "user", "content": with_knobs(
        "Where is order 42?",
        json!({"function_calls": [{"name": "lookup_order", "args": {"order": 42}}]}),
    )});
    let complete = |messages: Value| {
        client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&token)
            .json(&json!({"model": fx.agent_id(), "tools": [tool], "messages": messages}))
            .send()
    };

    // Act: the call, then the call and its result sent back.
    let first: Value = complete(json!([question]))
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let asked = first["choices"][0]["message"].clone();
    let id = asked["tool_calls"][0]["id"].clone();
    let result = json!({"role": "tool", "tool_call_id": id, "content": "{\"status\":\"shipped\"}"});
    let second = complete(json!([question, asked, result]))
        .await
        .expect("sent");
    // The same without what the id carries (a client that made its own id).
    let bare_id = id
        .as_str()
        .and_then(|i| i.split_once(".cs1."))
        .map(|(i, _)| i);
    let mut bare = asked.clone();
    bare["tool_calls"][0]["id"] = json!(bare_id);
    let bare_result = json!({"role": "tool", "tool_call_id": bare_id, "content": "{}"});
    let unsigned = complete(json!([question, bare, bare_result]))
        .await
        .expect("sent");

    // Assert: the fake, like Gemini 3, refuses a call sent back without the
    // signature it issued; it accepted this one.
    assert_eq!(
        first["choices"][0]["finish_reason"], "tool_calls",
        "{first}"
    );
    let status = second.status();
    let second: Value = second.json().await.expect("JSON");
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["choices"][0]["finish_reason"], "stop", "{second}");
    assert_eq!(
        unsigned.status(),
        502,
        "without its signature, the fake (as Gemini 3) refuses the call"
    );
    let calls = app.fake.model_calls().await;
    assert!(
        calls[1]["body"].to_string().contains("thoughtSignature"),
        "the signature went back: {}",
        calls[1]["body"]
    );
}
