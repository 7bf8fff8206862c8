//! What every HTTP model provider shares (features `gemini`, `openai`).
//!
//! - `retry`: backoff with full jitter under a deadline, `Retry-After`;
//! - `sse`: an incremental server-sent-events parser;
//! - `stream`: SSE bytes → [`ChunkStream`](crate::llm::ChunkStream), with idle
//!   and deadline timeouts, around a provider's own event decoder;
//! - `tls`: the HTTPS configuration (rustls on the embedder's crypto provider);
//! - `transport`: the pooled client, one attempt with its first-byte timeout,
//!   the retry loop, and transport failures in the contract's classes.
//!
//! A provider keeps only what differs: its URL, headers, JSON and error
//! bodies. The webhook client (feature `webhooks`) uses `tls` alone.

#[cfg(any(feature = "gemini", feature = "openai"))]
mod retry;
#[cfg(any(feature = "gemini", feature = "openai"))]
mod sse;
#[cfg(any(feature = "gemini", feature = "openai"))]
mod stream;
mod tls;
#[cfg(any(feature = "gemini", feature = "openai"))]
mod transport;

#[cfg(any(feature = "gemini", feature = "openai"))]
pub use retry::RetryPolicy;
pub use tls::client_config as tls_client_config;

#[cfg(feature = "openai")]
pub(crate) use retry::retry_after_header;
#[cfg(any(feature = "gemini", feature = "openai"))]
pub(crate) use sse::SseItem;
#[cfg(any(feature = "gemini", feature = "openai"))]
pub(crate) use stream::{chunk_stream, Decoder, Out};
#[cfg(any(feature = "gemini", feature = "openai"))]
pub(crate) use transport::Transport;
