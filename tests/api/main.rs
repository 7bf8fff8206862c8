//! End-to-end tests of the REST API: the real server on a free port, a real
//! HTTP client. One test binary; one module per area.

mod attacks;
mod auth;
mod cancel;
mod chat;
mod context;
mod errors;
mod fork;
mod helpers;
mod idempotency;
#[path = "../support/log_capture.rs"]
mod log_capture;
mod metrics;
mod openai_compat;
mod openapi;
mod ownership;
mod pagination;
mod projects_agents;
mod security_headers;
mod streaming;
mod tokens;
mod transfer;
mod usage;
mod validation;
