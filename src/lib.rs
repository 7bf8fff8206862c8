//! Convo: an embeddable multi-tenant chat-agent platform.
//!
//! This umbrella crate re-exports the engine ([`core`], the `convo-core`
//! crate) and the REST server ([`server`], the `convo-server` crate), and owns
//! the workspace's examples and end-to-end tests.

pub use convo_core as core;
pub use convo_server as server;
