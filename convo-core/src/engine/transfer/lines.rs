//! The line reader: a byte stream into records, one bounded line at a time.

use futures::stream::{self};
use futures::{Stream, StreamExt};

use super::format::*;

/// Splits a byte stream into lines and parses each as an [`ExportRecord`]:
/// the reader for [`Convo::import_project`](crate::Convo::import_project). It holds at most one line
/// (`max_line_bytes`) and one chunk in memory, refuses more than
/// `max_total_bytes` in all ([`ImportError::TooLarge`]), and ends after the
/// first error. Blank lines are errors, so record *n* is line *n*.
pub fn parse_lines<S, B, E>(
    chunks: S,
    max_total_bytes: u64,
    max_line_bytes: usize,
) -> impl Stream<Item = Result<ExportRecord, ImportError>> + Send
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display,
{
    let reader = LineReader {
        chunks: Box::pin(chunks),
        chunk: None,
        line: Vec::new(),
        line_no: 0,
        total: 0,
        max_total_bytes,
        max_line_bytes,
        finished: false,
    };
    stream::unfold(reader, |mut reader| async move {
        let item = reader.next_record().await?;
        if item.is_err() {
            reader.finished = true;
        }
        Some((item, reader))
    })
}

struct LineReader<S, B> {
    chunks: std::pin::Pin<Box<S>>,
    /// The chunk being split and how far it has been read.
    chunk: Option<(B, usize)>,
    line: Vec<u8>,
    line_no: u64,
    total: u64,
    max_total_bytes: u64,
    max_line_bytes: usize,
    finished: bool,
}

impl<S, B, E> LineReader<S, B>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    async fn next_record(&mut self) -> Option<Result<ExportRecord, ImportError>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some((chunk, pos)) = &mut self.chunk {
                let rest = &chunk.as_ref()[*pos..];
                let newline = rest.iter().position(|&b| b == b'\n');
                let take = newline.unwrap_or(rest.len());
                if self.line.len() + take > self.max_line_bytes {
                    return Some(Err(ImportError::line(
                        self.line_no + 1,
                        format!("the line is longer than {} bytes", self.max_line_bytes),
                    )));
                }
                self.line.extend_from_slice(&rest[..take]);
                match newline {
                    Some(i) => {
                        *pos += i + 1;
                        if *pos == chunk.as_ref().len() {
                            self.chunk = None;
                        }
                        return Some(self.parse_line());
                    }
                    None => self.chunk = None,
                }
                continue;
            }
            match self.chunks.next().await {
                Some(Ok(chunk)) => {
                    self.total += chunk.as_ref().len() as u64;
                    if self.total > self.max_total_bytes {
                        return Some(Err(ImportError::TooLarge {
                            limit: self.max_total_bytes,
                        }));
                    }
                    self.chunk = Some((chunk, 0));
                }
                Some(Err(e)) => return Some(Err(ImportError::Read(e.to_string()))),
                None => {
                    self.finished = true;
                    // A last line without a final newline still counts.
                    return (!self.line.is_empty()).then(|| self.parse_line());
                }
            }
        }
    }

    fn parse_line(&mut self) -> Result<ExportRecord, ImportError> {
        self.line_no += 1;
        let line = self.line_no;
        let mut text = std::mem::take(&mut self.line);
        if text.last() == Some(&b'\r') {
            text.pop();
        }
        let parsed = parse_record(line, &text);
        // Keep the allocation for the next line.
        text.clear();
        self.line = text;
        parsed
    }
}

/// Parses one line (without its line end).
fn parse_record(line: u64, text: &[u8]) -> Result<ExportRecord, ImportError> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::line(line, "the line is empty"));
    }
    serde_json::from_slice(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let reason = full.strip_suffix(&suffix).unwrap_or(&full);
        ImportError::line(line, format!("{reason} (column {})", e.column()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: Vec<&'static str>) -> Vec<Result<ExportRecord, ImportError>> {
        let chunks = stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        futures::executor::block_on(parse_lines(chunks, 1_000, 200).collect())
    }

    #[test]
    fn lines_split_across_chunks_parse_as_records() {
        let got = lines(vec![
            "{\"type\":\"convo.exp",
            "ort\",\"version\":1}\r\n{\"type\":\"end\",\"agents\":0,",
            "\"sessions\":0,\"messages\":0}",
        ]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(&got[0], Ok(ExportRecord::Format(f)) if f.version == 1));
        assert!(matches!(&got[1], Ok(ExportRecord::End(_))));
    }

    #[test]
    fn a_bad_line_is_named_and_ends_the_stream() {
        let got = lines(vec!["{\"type\":\"convo.export\",\"version\":1}\n\n{}\n"]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            matches!(&got[1], Err(ImportError::Line { line: 2, message }) if message.contains("empty")),
            "{got:?}"
        );
        let got = lines(vec!["{\"type\":\"agent\",\"id\":1}\n"]);
        match &got[0] {
            Err(ImportError::Line { line: 1, message }) => {
                assert!(!message.contains("at line"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_are_enforced() {
        let long = lines(vec![Box::leak("x".repeat(300).into_boxed_str())]);
        assert!(
            matches!(&long[0], Err(ImportError::Line { line: 1, .. })),
            "{long:?}"
        );
        let big: Vec<&'static str> = (0..40)
            .map(|_| "{\"type\":\"convo.export\",\"version\":1}\n")
            .collect();
        let got = lines(big);
        assert!(
            matches!(
                got.last(),
                Some(Err(ImportError::TooLarge { limit: 1_000 }))
            ),
            "{got:?}"
        );
        assert_eq!(got.len(), 28, "27 lines of 36 bytes fit in 1,000: {got:?}");
    }

    #[test]
    fn records_round_trip_through_their_line_form() {
        let record = ExportRecord::Session(ExportedSession {
            id: "s1".into(),
            agent_id: "a1".into(),
            title: Some("t".into()),
            forked_from: None,
            created_at: None,
            updated_at: None,
            end_user: Some(crate::domain::EndUser::parse("cust-42").expect("end user")),
        });
        let line = record.to_line().expect("serialises");
        assert!(line.ends_with(b"\n"));
        assert!(line.starts_with(b"{\"type\":\"session\""));
        let back: ExportRecord = serde_json::from_slice(&line).expect("parses");
        assert_eq!(back, record);
    }
}
