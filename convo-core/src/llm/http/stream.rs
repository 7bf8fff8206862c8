//! A streamed answer: SSE bytes in, [`LlmChunk`]s out.
//!
//! The shared part is the IO: reading the body under an idle timeout and the
//! turn's deadline, splitting it into SSE items, and turning a broken
//! connection into an item error. What the items mean is the provider's
//! [`Decoder`].

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::time::{timeout, Instant};

use super::sse::{SseItem, SseParser};
use crate::llm::{ChunkStream, LlmChunk, LlmError};

/// Items of a streamed answer, in order.
pub(crate) type Out = VecDeque<Result<LlmChunk, LlmError>>;

/// A provider's reading of its SSE items.
pub(crate) trait Decoder: Send + 'static {
    /// Reads one item, pushing the chunks or the error it means onto `out`.
    /// `Break` when the answer is over (finished or failed): nothing after it
    /// is read.
    fn item(&mut self, item: SseItem, out: &mut Out) -> ControlFlow<()>;

    /// The body ended cleanly before any item said the answer was over.
    /// Pushing nothing leaves a stream without a finish, which the engine
    /// reports as cut short.
    fn end(&mut self, _out: &mut Out) {}
}

/// The chunks of `response`'s SSE body as `decoder` reads them. A silence
/// longer than `idle`, or reaching `deadline`, is a [`LlmError::Timeout`]
/// item; a connection that breaks is an [`LlmError::Unavailable`] item.
/// Dropping the stream closes the connection, which stops generation.
pub(crate) fn chunk_stream<D: Decoder>(
    response: reqwest::Response,
    decoder: D,
    label: &'static str,
    idle: Duration,
    deadline: Instant,
) -> ChunkStream {
    let reader = Reader {
        bytes: response.bytes_stream().boxed(),
        parser: SseParser::default(),
        queue: VecDeque::new(),
        done: false,
        deadline,
        idle,
        label,
        decoder,
    };
    futures::stream::unfold(reader, |mut r| async move {
        r.next().await.map(|item| (item, r))
    })
    .boxed()
}

struct Reader<D> {
    bytes: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
    queue: Out,
    done: bool,
    deadline: Instant,
    idle: Duration,
    label: &'static str,
    decoder: D,
}

impl<D: Decoder> Reader<D> {
    async fn next(&mut self) -> Option<Result<LlmChunk, LlmError>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let limit = self
                .idle
                .min(self.deadline.saturating_duration_since(Instant::now()));
            match timeout(limit, self.bytes.next()).await {
                Err(_) => self.fail(LlmError::Timeout),
                Ok(None) => {
                    let items = self.parser.finish();
                    self.feed(items);
                    if !self.done {
                        self.decoder.end(&mut self.queue);
                        self.done = true;
                    }
                }
                Ok(Some(Err(_))) => self.fail(LlmError::Unavailable {
                    message: format!("the connection to {} broke mid-answer", self.label),
                    retry_after: None,
                }),
                Ok(Some(Ok(bytes))) => {
                    let items = self.parser.push(&bytes);
                    self.feed(items);
                }
            }
        }
    }

    fn feed(&mut self, items: Vec<SseItem>) {
        for item in items {
            if self.done {
                return;
            }
            if self.decoder.item(item, &mut self.queue).is_break() {
                self.done = true;
            }
        }
    }

    fn fail(&mut self, err: LlmError) {
        self.queue.push_back(Err(err));
        self.done = true;
    }
}
