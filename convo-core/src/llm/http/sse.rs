//! A server-sent-events reader for model streams (Gemini's `alt=sse`, Chat
//! Completions' `stream: true`).
//!
//! Written here rather than taken from a crate for one reason: when a real
//! API fails mid-stream it may write its error as bare, pretty-printed JSON
//! lines with no `data:` prefix (Gemini), or under a field SSE does not know
//! (`error: {...}`, some OpenAI-compatible servers), which a conforming SSE
//! parser silently drops. This one hands such lines back as [`SseItem::Raw`],
//! so the error is seen.

/// What the stream carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// The `data:` of one event (multi-line data joined with `\n`).
    Data(String),
    /// Lines that are not SSE fields (e.g. a bare JSON error), joined with `\n`.
    Raw(String),
}

/// An incremental parser: feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    data: Vec<String>,
    raw: Vec<String>,
}

impl SseParser {
    /// Parses what `bytes` completes; keeps any partial line for later.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseItem> {
        self.pending.extend_from_slice(bytes);
        let mut items = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&String::from_utf8_lossy(&line), &mut items);
        }
        items
    }

    /// Ends the stream: whatever is buffered becomes the last items.
    pub fn finish(&mut self) -> Vec<SseItem> {
        let mut items = Vec::new();
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let text = String::from_utf8_lossy(&rest);
            self.line(text.trim_end_matches('\r'), &mut items);
        }
        self.dispatch(&mut items);
        items
    }

    fn line(&mut self, line: &str, items: &mut Vec<SseItem>) {
        if line.is_empty() {
            self.dispatch(items);
        } else if line.starts_with(':') {
            // A comment (keep-alive).
        } else if let Some(value) = field(line, "data") {
            self.data.push(value.to_owned());
        } else if field(line, "event").is_some()
            || field(line, "id").is_some()
            || field(line, "retry").is_some()
        {
            // No model API gives them a meaning Convo needs.
        } else {
            self.raw.push(line.to_owned());
        }
    }

    fn dispatch(&mut self, items: &mut Vec<SseItem>) {
        if !self.data.is_empty() {
            items.push(SseItem::Data(self.data.join("\n")));
            self.data.clear();
        }
        if !self.raw.is_empty() {
            items.push(SseItem::Raw(self.raw.join("\n")));
            self.raw.clear();
        }
    }
}

/// The value of `name: value` (or `name:value`), per the SSE spec.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?.strip_prefix(':')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_on_blank_lines_across_chunk_boundaries() {
        let mut p = SseParser::default();
        let mut items = p.push(b"data: {\"a\":1}\r\n\r\nda");
        items.extend(p.push(b"ta: {\"b\":2}\n"));
        items.extend(p.push(b"\n: keep-alive\n\n"));
        items.extend(p.finish());
        assert_eq!(
            items,
            vec![
                SseItem::Data("{\"a\":1}".into()),
                SseItem::Data("{\"b\":2}".into())
            ]
        );
    }

    #[test]
    fn a_bare_json_error_after_the_events_is_handed_back_raw() {
        let mut p = SseParser::default();
        let mut items =
            p.push(b"data: {\"x\":1}\r\n\r\n{\n  \"error\": {\n    \"code\": 503\n  }\n}\n");
        items.extend(p.finish());
        assert_eq!(items[0], SseItem::Data("{\"x\":1}".into()));
        let SseItem::Raw(raw) = &items[1] else {
            panic!("{items:?}")
        };
        let value: serde_json::Value =
            serde_json::from_str(raw).expect("the raw lines are the JSON");
        assert_eq!(value["error"]["code"], 503);
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_still_delivered() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: tail").is_empty());
        assert_eq!(p.finish(), vec![SseItem::Data("tail".into())]);
    }

    #[test]
    fn multi_line_data_is_joined() {
        let mut p = SseParser::default();
        assert_eq!(
            p.push(b"data: a\ndata:b\n\n"),
            vec![SseItem::Data("a\nb".into())]
        );
    }
}
