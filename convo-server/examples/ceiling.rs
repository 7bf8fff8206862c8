//! The framework ceiling for `scripts/bench.sh`: a minimal poem server that
//! answers `GET /` with a fixed 200-byte JSON body, and nothing else.
//!
//! `cargo run --release -p convo-server --example ceiling -- 127.0.0.1:8090`

use poem::listener::TcpListener;
use poem::{get, handler, Route, Server};

/// 200 bytes of JSON, about the size of a small API object.
const BODY: &str = r#"{"id":"0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e","object":"thing","name":"a fixed payload for the framework ceiling","created_at":"2026-11-25T09:30:00.000+00:00","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;

// The same allocator as convo-server, so the ratio compares like with like.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[handler]
fn fixed() -> poem::Response {
    poem::Response::builder()
        .content_type("application/json")
        .body(BODY)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    assert_eq!(BODY.len(), 200, "the ceiling's body is 200 bytes");
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    Server::new(TcpListener::bind(addr))
        .run(Route::new().at("/", get(fixed)))
        .await
}
