//! End-to-end tests of the REST API: the real server on a free port, a real
//! HTTP client. One test binary; one module per area.

mod helpers;
mod openapi;
