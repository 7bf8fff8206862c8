//! Streams: the deltas and the finish, failures after the stream started
//! (items, never retried) and before it (retried, then the outer error).

use std::time::Duration;

use convo_core::llm::{LlmChunk, LlmError};
use convo_core::FinishReason;
use wiremock::MockServer;

use super::raw::{raw_server, Then};
use super::{
    mount, mount_once, provider, received, sse, stop, stream_items, stream_items_from,
    whole_stream, Patience, Unfinished, WireFormat,
};

fn text(t: &str) -> Result<LlmChunk, LlmError> {
    Ok(LlmChunk::Text(t.into()))
}

/// Each text event is one delta, in order, and the stream ends with exactly
/// one finish.
pub async fn a_stream_yields_its_text_deltas_in_order_then_one_finish(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    let body = whole_stream(wire, &["Hel", "lo, ", "world", ""], stop(wire));
    mount(wire, &server, true, sse(body)).await;

    let items = stream_items(wire, &server).await;

    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items[..3], [text("Hel"), text("lo, "), text("world")]);
    assert!(
        matches!(
            items[3],
            Ok(LlmChunk::Finish {
                finish_reason: FinishReason::Stop,
                ..
            })
        ),
        "{items:?}"
    );
}

/// An error after the first bytes is the stream's last item: what came before
/// stands, nothing after it is read, and nothing is retried.
pub async fn an_error_in_a_started_stream_is_an_unavailable_item_and_is_not_retried(
    wire: &dyn WireFormat,
) {
    let after = whole_stream(wire, &["never seen"], stop(wire));
    for (case, error) in wire.mid_stream_errors() {
        let server = MockServer::start().await;
        let body = wire.event("Hel", None) + &wire.event("lo", None) + &error + &after;
        mount(wire, &server, true, sse(body)).await;

        let items = stream_items(wire, &server).await;

        assert_eq!(items.len(), 3, "{case}: nothing after the error: {items:?}");
        assert_eq!(items[..2], [text("Hel"), text("lo")], "{case}");
        assert!(
            matches!(items[2], Err(LlmError::Unavailable { .. })),
            "{case}: {items:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            1,
            "{case}: no retry after the stream started"
        );
    }
}

/// A body that ends cleanly before any finish reason keeps its text and has
/// no finish item; a format with an end marker also reports the missing
/// marker as a provider error.
pub async fn a_stream_that_ends_without_a_finish_reason_has_no_finish_item(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    let body = wire.event("Hel", None) + &wire.event("lo", None);
    mount(wire, &server, true, sse(body)).await;

    let items = stream_items(wire, &server).await;

    assert_eq!(items[..2], [text("Hel"), text("lo")], "{items:?}");
    match wire.unfinished() {
        Unfinished::EndsQuietly => assert_eq!(items.len(), 2, "{items:?}"),
        Unfinished::ProviderError { marker } => {
            assert_eq!(items.len(), 3, "{items:?}");
            assert!(
                matches!(&items[2], Err(LlmError::Provider(m)) if m.contains(marker)),
                "{items:?}"
            );
        }
    }
    assert_eq!(received(&server).await.len(), 1);
}

/// An event that is not JSON ends the stream with a provider error item.
pub async fn a_chunk_that_is_not_json_is_a_provider_error_item(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    let body = wire.event("Hel", None) + "data: {\"cut\": [<<\n\n" + wire.end();
    mount(wire, &server, true, sse(body)).await;

    let items = stream_items(wire, &server).await;

    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], text("Hel"));
    assert!(matches!(items[1], Err(LlmError::Provider(_))), "{items:?}");
}

/// A failure before the stream started is retried like a reply's.
pub async fn a_stream_whose_first_response_is_503_is_retried_before_it_starts(
    wire: &dyn WireFormat,
) {
    let server = MockServer::start().await;
    mount_once(wire, &server, true, wire.error(503)).await;
    let body = whole_stream(wire, &["ok", ""], stop(wire));
    mount(wire, &server, true, sse(body)).await;

    let items = stream_items(wire, &server).await;

    assert_eq!(items.first(), Some(&text("ok")), "{items:?}");
    assert!(matches!(
        items.last(),
        Some(Ok(LlmChunk::Finish {
            finish_reason: FinishReason::Stop,
            ..
        }))
    ));
    assert_eq!(received(&server).await.len(), 2);
}

/// When every attempt fails before the stream started, `stream` itself
/// fails: the request never started.
pub async fn a_stream_that_keeps_failing_before_it_starts_is_an_outer_unavailable_error(
    wire: &dyn WireFormat,
) {
    let attempts = Patience::default().retry.max_attempts as usize;
    let cases = [
        ("503", wire.error(503)),
        ("429 asking for no wait", wire.rate_limited(Duration::ZERO)),
    ];
    for (case, response) in cases {
        let server = MockServer::start().await;
        mount(wire, &server, true, response).await;

        let result = provider(wire, &server).stream(wire.request()).await;

        assert!(
            matches!(result, Err(LlmError::Unavailable { .. })),
            "{case}: the request never started"
        );
        assert_eq!(received(&server).await.len(), attempts, "{case}");
    }
}

/// A refusal before any text is a blocked item, not an empty answer.
pub async fn a_stream_refused_before_any_text_is_a_blocked_item(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    mount(wire, &server, true, sse(wire.refused_stream())).await;

    let items = stream_items(wire, &server).await;

    assert_eq!(items.len(), 1, "{items:?}");
    assert!(matches!(items[0], Err(LlmError::Blocked(_))), "{items:?}");
}

/// A connection that breaks mid-body ends the stream with an unavailable
/// item after the text it sent.
pub async fn a_connection_cut_mid_stream_is_an_unavailable_item(wire: &dyn WireFormat) {
    let origin = raw_server(wire.event("Hel", None), Then::HangUp);

    let items = stream_items_from(wire, &origin).await;

    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], text("Hel"));
    assert!(
        matches!(&items[1], Err(LlmError::Unavailable { message, .. }) if message.contains("mid-answer")),
        "{items:?}"
    );
}
