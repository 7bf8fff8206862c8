//! End-to-end tests of the REST API: the real server on a free port, a real
//! HTTP client. One test binary; one module per area.

mod helpers;
mod openapi;
mod auth;
mod projects_agents;
mod chat;
mod streaming;
mod ownership;
mod errors;
mod pagination;
mod tokens;
mod idempotency;
mod validation;
