//! What every HTTP model provider shares (features `gemini`, `openai`).
//!
//! - `retry`: backoff with full jitter under a deadline, `Retry-After`;
//! - `sse`: an incremental server-sent-events parser;
//! - `stream`: SSE bytes → [`ChunkStream`](crate::llm::ChunkStream), with idle
//!   and deadline timeouts, around a provider's own event decoder;
//! - `tls`: the HTTPS configuration (rustls + ring);
//! - `transport`: the pooled client, one attempt with its first-byte timeout,
//!   the retry loop, and transport failures in the contract's classes.
//!
//! A provider keeps only what differs: its URL, headers, JSON and error
//! bodies.

mod retry;
mod sse;
mod stream;
mod tls;
mod transport;

pub use retry::RetryPolicy;
pub use tls::client_config as tls_client_config;

#[cfg(feature = "openai")]
pub(crate) use retry::retry_after_header;
pub(crate) use sse::SseItem;
pub(crate) use stream::{chunk_stream, Decoder, Out};
pub(crate) use transport::Transport;
