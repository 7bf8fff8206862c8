//! The Convo REST server (skeleton: the API lands with the server issue).

pub use convo_core;
