//! Server-sent events as a test reads them: a finished `text/event-stream`
//! body parsed into events, and the views of Convo's chat stream that tests
//! compare (event names, the text of the deltas). Shared by the test binaries
//! through `#[path]`.
//!
//! Hand-written rather than taken from an SSE crate: a test wants the whole
//! body at once, each event's `id:` as sent, and a loud failure when an
//! event's data is not JSON, where a general parser streams, tracks the last
//! id for reconnection and passes any text through.

// Each test binary uses a part of it.
#![allow(dead_code)]

use serde_json::Value;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` name.
    pub event: Option<String>,
    /// The `id:`.
    pub id: Option<String>,
    /// The `data:` lines joined with newlines, parsed as JSON.
    pub data: Value,
}

impl SseEvent {
    /// The `event:` name, or `<none>` (which no Convo event is called).
    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("<none>")
    }
}

/// Parses an SSE body: events are separated by blank lines; `event:`, `id:`
/// and `data:` fields are collected; comment lines (`:`, the keep-alives)
/// are ignored.
///
/// Panics when an event's data is not JSON: every event Convo sends carries
/// a JSON object, so anything else is a bug to see.
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    let body = body.replace("\r\n", "\n");
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let (mut event, mut id, mut data) = (None, None, Vec::new());
        for line in block.lines() {
            if line.is_empty() || line.starts_with(':') {
                continue;
            }
            // A line without a colon is a field with an empty value; one
            // space after the colon is not part of the value (WHATWG HTML,
            // "Interpreting an event stream").
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = Some(value.to_owned()),
                "id" => id = Some(value.to_owned()),
                "data" => data.push(value.to_owned()),
                _ => {}
            }
        }
        if event.is_none() && id.is_none() && data.is_empty() {
            continue;
        }
        let data = data.join("\n");
        let data = serde_json::from_str(&data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
        events.push(SseEvent { event, id, data });
    }
    events
}

/// The names of `events`, in order (`<none>` for an unnamed one).
pub fn names(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(SseEvent::name).collect()
}

/// The text of the `message.delta` events, in order.
pub fn deltas(events: &[SseEvent]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e.event.as_deref() == Some("message.delta"))
        .filter_map(|e| e.data["delta"].as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_are_split_on_blank_lines_with_comments_and_crlf_ignored() {
        let body = ": keep-alive\r\n\r\nevent: message.delta\r\nid: 1\r\ndata: {\"delta\": \"Hel\"}\r\n\r\n\
                    : keep-alive\n\nevent: message.delta\nid: 2\ndata:{\"delta\":\"lo\"}\n\n";

        let events = parse_sse(body);

        assert_eq!(names(&events), ["message.delta", "message.delta"]);
        assert_eq!(
            events.iter().map(|e| e.id.as_deref()).collect::<Vec<_>>(),
            [Some("1"), Some("2")],
            "ids as sent"
        );
        assert_eq!(deltas(&events).concat(), "Hello");
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines_before_it_is_parsed() {
        let body = "event: error\ndata: {\"error\":\ndata:  {\"code\": \"llm_error\"}}\n\n";

        let events = parse_sse(body);

        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].data, json!({"error": {"code": "llm_error"}}));
        assert!(deltas(&events).is_empty(), "an error is not a delta");
    }

    #[test]
    fn an_unnamed_event_is_named_none() {
        let events = parse_sse("data: {}\n\n");

        assert_eq!(names(&events), ["<none>"]);
        assert_eq!(events[0].id, None);
    }

    #[test]
    #[should_panic(expected = "event data is not JSON")]
    fn data_that_is_not_json_fails_loudly() {
        parse_sse("event: message.delta\ndata: [DONE]\n\n");
    }
}
