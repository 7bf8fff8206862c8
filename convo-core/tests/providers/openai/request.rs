//! The exact requests a Chat Completions server gets: the body, the Bearer
//! key (or none), the base URL and the output-cap field.

use convo_core::llm::openai::{OpenAiCompatProvider, OpenAiConfig, TokenLimitField};
use convo_core::llm::{LlmError, LlmProvider};
use serde_json::{json, Value};
use wiremock::{MockServer, Request};

use super::{answer, chunk, event, request, server_config, OpenAi, COMPLETIONS, DONE};
use crate::conformance::{embedders_client, generate, mount, ok, received, sse, stream_items};

fn expected_body(stream: bool) -> Value {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"}
        ],
        "temperature": 0.5,
        "max_tokens": 64,
        "reasoning_effort": "medium",
        "stream": stream
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn assert_sent_exactly(req: &Request, stream: bool) {
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), COMPLETIONS);
    assert_eq!(req.url.query(), None);
    assert!(
        !req.url.as_str().contains("sk-test-key"),
        "the key is not in the URL: {}",
        req.url
    );
    assert_eq!(header(req, "authorization"), Some("Bearer sk-test-key"));
    assert_eq!(header(req, "content-type"), Some("application/json"));
    assert_eq!(
        req.body_json::<Value>().expect("a JSON body"),
        expected_body(stream)
    );
}

#[tokio::test]
async fn a_reply_request_posts_the_system_prompt_first_then_the_window_settings_and_a_bearer_key() {
    let server = MockServer::start().await;
    mount(&OpenAi, &server, false, ok(answer("fine", "stop"))).await;

    generate(&OpenAi, &server).await.expect("reply");

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], false);
}

#[tokio::test]
async fn a_stream_request_sets_stream_and_asks_for_usage_in_the_same_body() {
    let server = MockServer::start().await;
    let body = event(&chunk("fine", Some("stop"))) + DONE;
    mount(&OpenAi, &server, true, sse(body)).await;

    stream_items(&OpenAi, &server).await;

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_sent_exactly(&requests[0], true);
}

#[tokio::test]
async fn without_a_key_no_authorization_header_is_sent() {
    let server = MockServer::start().await;
    mount(&OpenAi, &server, false, ok(answer("fine", "stop"))).await;
    for key in [None, Some(String::new())] {
        let config = OpenAiConfig {
            api_key: key.clone(),
            ..server_config(&server)
        };

        OpenAiCompatProvider::new(config)
            .expect("provider builds")
            .generate(request())
            .await
            .expect("reply");

        let requests = received(&server).await;
        let last = requests.last().expect("a request");
        assert_eq!(header(last, "authorization"), None, "key {key:?}");
    }
}

#[tokio::test]
async fn a_trailing_slash_on_the_base_url_and_max_completion_tokens_are_honoured() {
    let server = MockServer::start().await;
    mount(&OpenAi, &server, false, ok(answer("fine", "stop"))).await;
    let config = OpenAiConfig {
        base_url: format!("{}/v1/", server.uri()),
        token_limit_field: TokenLimitField::MaxCompletionTokens,
        ..server_config(&server)
    };

    OpenAiCompatProvider::new(config)
        .expect("provider builds")
        .generate(request())
        .await
        .expect("reply");

    let requests = received(&server).await;
    assert_eq!(requests[0].url.path(), COMPLETIONS);
    let body: Value = requests[0].body_json().expect("json");
    assert_eq!(body["max_completion_tokens"], json!(64));
    assert!(body.get("max_tokens").is_none(), "{body}");
}

#[tokio::test]
async fn a_base_url_that_is_not_http_is_refused_at_construction() {
    for base in ["", "localhost:11434/v1", "ftp://example.com/v1"] {
        let result = OpenAiCompatProvider::new(OpenAiConfig::new(base));

        assert!(
            matches!(result, Err(LlmError::Provider(_))),
            "{base:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_provider_on_the_embedders_client_sends_through_that_client() {
    let server = MockServer::start().await;
    mount(&OpenAi, &server, false, ok(answer("fine", "stop"))).await;
    let provider = OpenAiCompatProvider::with_client(server_config(&server), embedders_client())
        .expect("provider builds");

    let reply = provider.generate(request()).await.expect("a reply");

    assert_eq!(reply.text, "fine");
    let requests = received(&server).await;
    assert_eq!(requests.len(), 1, "one request");
    assert_eq!(
        header(&requests[0], "x-embedder"),
        Some("own-client"),
        "the request must go through the embedder's client"
    );
    assert_sent_exactly(&requests[0], false);
}

#[test]
fn a_provider_on_the_embedders_client_still_refuses_a_base_url_that_is_not_http() {
    let config = OpenAiConfig::new("ftp://example.test/v1");

    let refused = OpenAiCompatProvider::with_client(config, embedders_client());

    assert!(
        matches!(refused, Err(LlmError::Provider(_))),
        "a non-http(s) base URL must be refused, got {:?}",
        refused.map(|_| ())
    );
}
