//! Timeouts: before the first byte, and between two chunks of a stream.

use std::time::{Duration, Instant};

use convo_core::llm::{LlmChunk, LlmError};
use wiremock::MockServer;

use super::raw::{raw_server, Then};
use super::{generate, mount, ok, received, stop, stream_items_from, WireFormat};

/// A server that does not answer within the first-byte timeout is a timeout,
/// not retried: it used up the time a retry would need.
pub async fn no_first_byte_within_the_timeout_is_a_timeout_and_is_not_retried(
    wire: &dyn WireFormat,
) {
    let server = MockServer::start().await;
    let late = ok(wire.reply("late", stop(wire))).set_delay(Duration::from_secs(3));
    mount(wire, &server, false, late).await;

    let started = Instant::now();
    let result = generate(wire, &server).await;

    assert_eq!(result, Err(LlmError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up at the first-byte timeout"
    );
    assert_eq!(received(&server).await.len(), 1);
}

/// A stream that goes silent mid-answer ends with a timeout item after the
/// text it sent.
pub async fn a_stream_silent_longer_than_the_idle_timeout_is_a_timeout_item(wire: &dyn WireFormat) {
    let origin = raw_server(wire.event("Hel", None), Then::Stall);

    let started = Instant::now();
    let items = stream_items_from(wire, &origin).await;

    assert_eq!(
        items,
        vec![Ok(LlmChunk::Text("Hel".into())), Err(LlmError::Timeout)]
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up at the idle timeout"
    );
}
