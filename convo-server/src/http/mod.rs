//! HTTP plumbing shared by every route: the error envelope, the middleware
//! chain (request ids, access log, body limit and deadlines, metrics), the
//! connection guard against slow clients, CORS, security headers, and the
//! JSON, text and pattern types the operations use.

pub mod body;
pub mod connection;
pub mod cors;
pub mod error;
pub mod headers;
pub mod json;
pub mod metrics;
pub mod middleware;
pub mod pattern;
pub mod routes;
pub mod text;
