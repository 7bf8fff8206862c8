//! End-to-end tests of the Gemini path: the real server, in-process on a
//! free port with Gemini as its model, against the project's fake model
//! server (`convo-fake`, in-process on a free port of its own, one fake per
//! test). Faults are injected per message with the fake's
//! `[[fake-gemini:{…}]]` directive, tool calls scripted the same way.

mod failures;
mod fake;
mod helpers;
mod load_faults;
mod openai;
mod requests;
mod streaming;
mod successes;
mod today;
mod tools;

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
