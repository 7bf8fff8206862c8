//! End-to-end tests of the REST API: the real server on a free port, a real
//! HTTP client. One test binary; one module per area.

mod attacks;
mod auth;
mod cancel;
mod chat;
mod client_tools;
mod context;
mod errors;
mod fork;
mod helpers;
mod idempotency;
mod keys;
mod metrics;
mod openai_compat;
mod openai_tools;
mod openapi;
mod ownership;
mod pagination;
mod projects_agents;
mod security_headers;
mod sso;
mod streaming;
mod tokens;
mod tools;
mod transfer;
mod usage;
mod validation;

// Shared with the other test binaries (through `#[path]`); `helpers`
// re-exports what the tests use of them.
#[path = "../support/client.rs"]
mod client;
#[path = "../support/fixture.rs"]
mod fixture;
#[path = "../support/log_capture.rs"]
mod log_capture;
#[path = "../support/server.rs"]
mod server;
#[path = "../support/sse.rs"]
mod sse;
