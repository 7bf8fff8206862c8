//! Slow clients: a connection must deliver each request's headers within a
//! deadline, or it is closed.
//!
//! poem's `Server` runs hyper without a timer, so hyper's own
//! `header_read_timeout` never fires: a client that sends its headers a byte
//! at a time (slowloris), or opens connections and sends nothing, would hold
//! them for ever. poem exposes neither hyper's builder nor a timer, so the
//! deadline is kept here, under hyper: [`GuardedAcceptor`] wraps each
//! accepted socket in a [`GuardedIo`], whose reads fail once a request head
//! is overdue, and hyper then drops the connection.
//!
//! Only the request middleware knows where one request ends and the next
//! begins, so it reports to the connection's [`ConnectionState`], which it
//! finds by peer address in the shared [`Connections`] table. A connection
//! is in one of these phases:
//!
//! - awaiting a head: since it was accepted, or since the first byte after
//!   the previous request's body; the head must be complete by the deadline;
//! - in a request: the head reached the middleware; the body has its own
//!   timeout there (`middleware::body_limit`), a handler has none;
//! - between requests: the body was read; the next byte starts a new head.
//!   A connection kept alive in silence is left to poem's idle timeout,
//!   which lets a response still being written finish;
//! - exempt: HTTP/2 with prior knowledge, once its first request arrived.
//!   Its streams interleave, so the phases mean nothing; the idle timeout
//!   still applies.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use poem::Addr;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Awaiting an HTTP/1 request head.
const AWAITING_HEAD: u8 = 0;
/// The head reached the middleware; the body may still be arriving.
const IN_REQUEST: u8 = 1;
/// The request was read; no byte of the next one has arrived.
const BETWEEN: u8 = 2;
/// Awaiting the first request of an HTTP/2 connection.
const AWAITING_H2_REQUEST: u8 = 3;
/// HTTP/2 after its first request: no head deadline.
const EXEMPT: u8 = 4;

/// The client preface of HTTP/2 with prior knowledge starts with this.
const H2_PREFACE_START: &[u8; 4] = b"PRI ";

/// Where one connection stands, shared by its socket and its requests.
#[derive(Debug)]
pub struct ConnectionState {
    phase: AtomicU8,
}

impl ConnectionState {
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(AWAITING_HEAD),
        }
    }

    /// A request head reached the server: no head deadline until it is read.
    pub fn request_started(&self) {
        let _ = self
            .phase
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |phase| match phase {
                AWAITING_HEAD | BETWEEN => Some(IN_REQUEST),
                AWAITING_H2_REQUEST => Some(EXEMPT),
                _ => None,
            });
    }

    /// The request's body was read (or will not be): the next byte on the
    /// connection starts a new head.
    pub fn request_read(&self) {
        let _ =
            self.phase
                .compare_exchange(IN_REQUEST, BETWEEN, Ordering::AcqRel, Ordering::Acquire);
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }

    /// Moves `from` to `to`; false when the phase was something else.
    fn advance(&self, from: u8, to: u8) -> bool {
        self.phase
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The open connections, by peer address (unique among open TCP connections
/// to one listening socket).
#[derive(Debug, Clone, Default)]
pub struct Connections(Arc<Mutex<HashMap<SocketAddr, Arc<ConnectionState>>>>);

impl Connections {
    /// The state of the connection from `peer`, if it is open and guarded.
    pub fn get(&self, peer: &SocketAddr) -> Option<Arc<ConnectionState>> {
        self.lock().get(peer).cloned()
    }

    /// How many guarded connections are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no guarded connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, peer: SocketAddr, state: Arc<ConnectionState>) {
        self.lock().insert(peer, state);
    }

    /// Forgets `peer`, unless its entry already belongs to a newer connection.
    fn remove(&self, peer: &SocketAddr, state: &Arc<ConnectionState>) {
        let mut map = self.lock();
        if map.get(peer).is_some_and(|s| Arc::ptr_eq(s, state)) {
            map.remove(peer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<ConnectionState>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A TCP acceptor whose connections must send request heads in time.
pub struct GuardedAcceptor {
    inner: TcpAcceptor,
    connections: Connections,
    head_timeout: Option<Duration>,
}

impl GuardedAcceptor {
    /// Guards `inner`'s connections with `head_timeout` (`None`: no deadline),
    /// registering them in `connections`.
    pub fn new(
        inner: TcpAcceptor,
        connections: Connections,
        head_timeout: Option<Duration>,
    ) -> Self {
        Self {
            inner,
            connections,
            head_timeout,
        }
    }
}

impl Acceptor for GuardedAcceptor {
    type Io = GuardedIo;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(GuardedIo, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (stream, local, remote, scheme) = self.inner.accept().await?;
        let guard = match (self.head_timeout, &remote.0) {
            (Some(timeout), Addr::SocketAddr(peer)) => {
                let state = Arc::new(ConnectionState::new());
                self.connections.insert(*peer, state.clone());
                Some(Guard::new(state, timeout, *peer, self.connections.clone()))
            }
            _ => None,
        };
        Ok((GuardedIo { stream, guard }, local, remote, scheme))
    }
}

/// An accepted socket whose reads fail once a request head is overdue.
pub struct GuardedIo {
    stream: TcpStream,
    guard: Option<Guard>,
}

/// The deadline bookkeeping of one connection.
struct Guard {
    state: Arc<ConnectionState>,
    timeout: Duration,
    /// When the head being awaited must be complete.
    deadline: Instant,
    /// Wakes the connection at `deadline` (reset lazily, only when a read waits).
    timer: Pin<Box<Sleep>>,
    /// The connection's first bytes, until there are enough to tell HTTP/2.
    preface: Vec<u8>,
    sniffed: bool,
    peer: SocketAddr,
    connections: Connections,
}

impl Guard {
    fn new(
        state: Arc<ConnectionState>,
        timeout: Duration,
        peer: SocketAddr,
        connections: Connections,
    ) -> Self {
        let deadline = Instant::now() + timeout;
        Self {
            state,
            timeout,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            preface: Vec::new(),
            sniffed: false,
            peer,
            connections,
        }
    }

    /// Bytes arrived while the connection was in `phase`.
    fn on_bytes(&mut self, bytes: &[u8], phase: u8) {
        if !self.sniffed {
            let want = H2_PREFACE_START.len() - self.preface.len();
            self.preface
                .extend_from_slice(&bytes[..bytes.len().min(want)]);
            if self.preface.len() == H2_PREFACE_START.len() {
                self.sniffed = true;
                if self.preface == H2_PREFACE_START {
                    self.state.advance(AWAITING_HEAD, AWAITING_H2_REQUEST);
                }
                self.preface = Vec::new();
            }
        }
        if phase == BETWEEN && self.state.advance(BETWEEN, AWAITING_HEAD) {
            self.deadline = Instant::now() + self.timeout;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.connections.remove(&self.peer, &self.state);
    }
}

fn awaiting(phase: u8) -> bool {
    phase == AWAITING_HEAD || phase == AWAITING_H2_REQUEST
}

fn head_timed_out(peer: SocketAddr) -> io::Error {
    tracing::debug!(%peer, "closing a connection: the request headers did not arrive in time");
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the request headers did not arrive in time",
    )
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(guard) = this.guard.as_mut() else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        let phase = guard.state.phase();
        if awaiting(phase) && Instant::now() >= guard.deadline {
            return Poll::Ready(Err(head_timed_out(guard.peer)));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let bytes = &buf.filled()[before..];
                if !bytes.is_empty() {
                    guard.on_bytes(bytes, phase);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if awaiting(phase) => {
                if guard.timer.deadline() != guard.deadline {
                    let deadline = guard.deadline;
                    guard.timer.as_mut().reset(deadline);
                }
                match guard.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(head_timed_out(guard.peer))),
                    Poll::Pending => Poll::Pending,
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_moves_a_connection_through_its_phases() {
        let state = ConnectionState::new();
        assert_eq!(state.phase(), AWAITING_HEAD);
        state.request_started();
        assert_eq!(state.phase(), IN_REQUEST);
        state.request_read();
        assert_eq!(state.phase(), BETWEEN);
        state.request_read();
        assert_eq!(state.phase(), BETWEEN, "reading twice changes nothing");
        assert!(state.advance(BETWEEN, AWAITING_HEAD));
        state.request_started();
        assert_eq!(state.phase(), IN_REQUEST);
    }

    #[test]
    fn http2_is_exempt_after_its_first_request() {
        let state = ConnectionState::new();
        assert!(state.advance(AWAITING_HEAD, AWAITING_H2_REQUEST));
        state.request_started();
        assert_eq!(state.phase(), EXEMPT);
        state.request_read();
        state.request_started();
        assert_eq!(state.phase(), EXEMPT, "streams never change it");
    }

    #[test]
    fn a_closed_connection_does_not_forget_a_newer_one_from_the_same_peer() {
        let connections = Connections::default();
        let peer: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let old = Arc::new(ConnectionState::new());
        let new = Arc::new(ConnectionState::new());
        connections.insert(peer, old.clone());
        connections.insert(peer, new.clone());
        connections.remove(&peer, &old);
        assert!(connections
            .get(&peer)
            .is_some_and(|s| Arc::ptr_eq(&s, &new)));
        connections.remove(&peer, &new);
        assert!(connections.is_empty());
    }
}
