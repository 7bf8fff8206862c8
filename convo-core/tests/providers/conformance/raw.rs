//! A one-shot raw HTTP server for the transport failures wiremock cannot
//! stage: a body that stalls, or a connection cut mid-body.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// What the raw server does once it has sent its first chunk.
pub enum Then {
    /// Keeps the connection open and silent.
    Stall,
    /// Closes the connection mid-body (no terminating chunk).
    HangUp,
}

/// Reads one request (any path), answers 200 with a chunked SSE body holding
/// `first`, then does `then`. Returns the origin, `http://host:port`.
pub fn raw_server(first: String, then: Then) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        read_request(&mut socket);
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let body = format!("{:x}\r\n{first}\r\n", first.len());
        let _ = socket.write_all(head.as_bytes());
        let _ = socket.write_all(body.as_bytes());
        let _ = socket.flush();
        match then {
            Then::Stall => std::thread::sleep(Duration::from_secs(5)),
            Then::HangUp => drop(socket),
        }
    });
    format!("http://{addr}")
}

/// Reads the request head and its `content-length` body.
fn read_request(socket: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length = text[..end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if seen.len() >= end + 4 + length {
            return;
        }
    }
}
