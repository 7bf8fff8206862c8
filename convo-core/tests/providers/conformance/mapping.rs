//! Responses: finish reasons, a tolerant reader, refusals.

use convo_core::llm::{LlmChunk, LlmError};
use wiremock::MockServer;

use super::{generate, mount, ok, received, sse, stream_items, whole_stream, WireFormat};

/// Each wire finish reason maps to Convo's, an unknown one to `Other`, and
/// the text is the text whatever the reason.
pub async fn finish_reasons_map_and_an_unknown_one_becomes_other(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    for (name, convo) in wire.finish_reasons() {
        server.reset().await;
        mount(wire, &server, false, ok(wire.reply("some text", name))).await;

        let reply = generate(wire, &server)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        assert_eq!(reply.finish_reason, convo, "{name}");
        assert_eq!(reply.text, "some text", "{name}");
    }
}

/// A stream's finishing event maps its reason exactly as a reply does.
pub async fn finish_reasons_map_the_same_in_a_stream(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    for (name, convo) in wire.finish_reasons() {
        server.reset().await;
        let body = whole_stream(wire, &["some", " text"], name);
        mount(wire, &server, true, sse(body)).await;

        let items = stream_items(wire, &server).await;

        assert!(
            matches!(items.last(), Some(Ok(LlmChunk::Finish { finish_reason, .. })) if *finish_reason == convo),
            "{name}: {items:?}"
        );
    }
}

/// Fields the provider adds later, at any depth, change nothing.
pub async fn unknown_fields_anywhere_in_the_response_are_ignored(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    mount(wire, &server, false, ok(wire.reply_with_unknown_fields())).await;

    let reply = generate(wire, &server).await.expect("reply");

    assert_eq!(
        (reply.text.as_str(), reply.finish_reason),
        ("ok", convo_core::FinishReason::Stop)
    );
}

/// Every shape of refusal is `Blocked`, and asking again would not help.
pub async fn refusals_are_blocked_errors_and_are_not_retried(wire: &dyn WireFormat) {
    for (case, response) in wire.refusals() {
        let server = MockServer::start().await;
        mount(wire, &server, false, response).await;

        let result = generate(wire, &server).await;

        assert!(
            matches!(result, Err(LlmError::Blocked(_))),
            "{case}: {result:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            1,
            "{case}: a refusal is not retried"
        );
    }
}
