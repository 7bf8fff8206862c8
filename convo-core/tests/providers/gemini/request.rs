//! The exact requests Gemini gets: path, key header, body, signatures, and
//! the `countTokens` model check.

use convo_core::llm::LlmProvider;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{answer, chunk, event, provider, request, signed, Gemini, GENERATE, STREAM};
use crate::conformance::{embedders_client, generate, mount, ok, received, sse, stream_items};

fn expected_body() -> Value {
    json!({
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello", "thoughtSignature": "c2lnLWhlbGxv"}]},
            {"role": "user", "parts": [{"text": "again"}]}
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 64,
                             "thinkingConfig": {"thinkingLevel": "LOW"}}
    })
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn assert_sent_exactly(req: &Request, route: &str, query: Option<&str>) {
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), route);
    assert_eq!(req.url.query(), query);
    assert!(
        !req.url.as_str().contains("test-key"),
        "the key is not in the URL: {}",
        req.url
    );
    assert_eq!(header(req, "x-goog-api-key"), Some("test-key"));
    assert_eq!(header(req, "content-type"), Some("application/json"));
    assert_eq!(
        req.body_json::<Value>().expect("a JSON body"),
        expected_body()
    );
}

#[tokio::test]
async fn a_reply_request_sends_roles_system_instruction_settings_and_the_key_in_a_header() {
    let server = MockServer::start().await;
    mount(&Gemini, &server, false, ok(answer("fine", "STOP"))).await;

    generate(&Gemini, &server).await.expect("reply");

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], GENERATE, None);
}

#[tokio::test]
async fn a_stream_request_uses_stream_generate_content_with_alt_sse_and_the_same_body() {
    let server = MockServer::start().await;
    let body = event(&chunk("fine", Some("STOP"), 1));
    mount(&Gemini, &server, true, sse(body)).await;

    stream_items(&Gemini, &server).await;

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], STREAM, Some("alt=sse"));
}

#[tokio::test]
async fn a_signature_goes_back_only_to_the_model_that_made_it() {
    let server = MockServer::start().await;
    mount(&Gemini, &server, false, ok(answer("fine", "STOP"))).await;
    let mut req = request();
    req.messages[1].provider_state = signed("gemini-3.6-flash", "c2lnLW90aGVy");
    req.reasoning_effort = None;

    provider(&server).generate(req).await.expect("reply");

    let body: Value = received(&server).await[0].body_json().expect("json");
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [{"text": "hello"}]}),
        "another model's signature is left out"
    );
    assert!(body["generationConfig"].get("thinkingConfig").is_none());
}

#[tokio::test]
async fn check_model_asks_count_tokens_and_reports_an_unknown_model() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-3.8-flash:countTokens"))
        .respond_with(ok(json!({"totalTokens": 1})))
        .mount(&server)
        .await;
    let missing = json!({"error": {"code": 404, "status": "NOT_FOUND",
        "message": "models/gemini-9-flash is not found for API version v1beta, or is not supported for countTokens."}});
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-9-flash:countTokens"))
        .respond_with(ResponseTemplate::new(404).set_body_json(missing))
        .mount(&server)
        .await;
    let p = provider(&server);

    assert_eq!(p.check_model("gemini-3.8-flash").await, Ok(()));
    let err = p.check_model("gemini-9-flash").await.expect_err("unknown");

    assert!(
        matches!(&err, convo_core::llm::LlmError::Provider(m) if m.contains("`gemini-9-flash`")),
        "{err:?}"
    );
    let sent = received(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(header(&sent[0], "x-goog-api-key"), Some("test-key"));
}

#[tokio::test]
async fn a_provider_on_the_embedders_client_sends_through_that_client() {
    let server = MockServer::start().await;
    mount(&Gemini, &server, false, ok(answer("fine", "STOP"))).await;
    let config = convo_core::llm::gemini::GeminiConfig {
        base_url: server.uri(),
        ..convo_core::llm::gemini::GeminiConfig::new("test-key")
    };
    let provider = convo_core::llm::gemini::GeminiProvider::with_client(config, embedders_client());

    let reply = provider.generate(request()).await.expect("a reply");

    assert_eq!(reply.text, "fine");
    let requests = received(&server).await;
    assert_eq!(requests.len(), 1, "one request");
    assert_eq!(
        header(&requests[0], "x-embedder"),
        Some("own-client"),
        "the request must go through the embedder's client"
    );
    assert_sent_exactly(&requests[0], GENERATE, None);
}
