//! A TCP connection that can end in a reset instead of a clean close.
//!
//! The `reset` and `cut_stream_reset` faults must look like a peer that
//! went away abruptly (RST), not one that finished (FIN). hyper owns the
//! socket while it serves, so the service raises a flag and then makes
//! hyper drop the connection (an error from the service or the body); on
//! drop, a raised flag sets SO_LINGER to zero, which makes the close a reset.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Raised by the service to turn the connection's close into a reset.
#[derive(Clone, Default)]
pub struct ResetFlag(Arc<AtomicBool>);

impl ResetFlag {
    /// The connection will be reset when it closes.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A `TcpStream` that resets instead of closing when its flag is raised.
pub struct Resettable {
    stream: TcpStream,
    flag: ResetFlag,
}

impl Resettable {
    /// Wraps `stream`; raising `flag` makes its close a reset.
    pub fn new(stream: TcpStream, flag: ResetFlag) -> Self {
        Self { stream, flag }
    }
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.flag.raised() {
            // Failing leaves a clean close: the client still sees the
            // connection end without an answer.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.flag.raised() {
            // No FIN before the reset.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
