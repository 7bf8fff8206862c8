//! Errors before an answer: unusable bodies, client errors, no server.

use std::net::TcpListener;

use convo_core::llm::LlmError;
use wiremock::{MockServer, ResponseTemplate};

use super::{generate, mount, received, stop, Patience, WireFormat};

/// A 200 whose body breaks off mid-JSON is the provider's fault, and is not
/// retried.
pub async fn a_200_whose_body_is_not_json_is_a_provider_error(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    // A real reply cut halfway, so the body starts like the wire's JSON.
    let whole = wire.reply("fine", stop(wire)).to_string();
    let garbage = format!("{}<<not json", &whole[..whole.len() / 2]);
    let response = ResponseTemplate::new(200).set_body_raw(garbage, "application/json");
    mount(wire, &server, false, response).await;

    let result = generate(wire, &server).await;

    assert!(matches!(result, Err(LlmError::Provider(_))), "{result:?}");
    assert_eq!(received(&server).await.len(), 1);
}

/// A 4xx other than 429 says the request is wrong: asking again would not
/// help.
pub async fn client_errors_are_provider_errors_and_are_not_retried(wire: &dyn WireFormat) {
    for code in [400, 401, 403, 404] {
        let server = MockServer::start().await;
        mount(wire, &server, false, wire.error(code)).await;

        let result = generate(wire, &server).await;

        assert!(
            matches!(result, Err(LlmError::Provider(_))),
            "{code}: {result:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            1,
            "{code}: exactly one request"
        );
    }
}

/// No server at all: unavailable (worth trying later), saying so.
pub async fn a_refused_connection_is_unavailable_after_the_retries(wire: &dyn WireFormat) {
    // A port that was just free; nothing listens once the listener is dropped.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let provider = wire.provider(&format!("http://127.0.0.1:{port}"), &Patience::default());

    let result = provider.generate(wire.request()).await;

    assert!(
        matches!(&result, Err(LlmError::Unavailable { message, .. }) if message.contains("connect")),
        "{result:?}"
    );
}
