//! `convo-fake`: a fake model server for trying and testing Convo with no
//! API key and no network. **A test double: never point production at it.**
//!
//! It speaks Gemini's `generateContent` / `streamGenerateContent` /
//! `countTokens` and OpenAI's Chat Completions, shaped like today's real
//! APIs, and plays faults chosen per request (a 429 with `RetryInfo`, a
//! reset, a stream cut mid-way, …) so one server serves a whole concurrent
//! fault test. It records what it received for tests to read.
//!
//! A crate of its own (not a `convo-server` subcommand) so the server's
//! dependency tree and binary stay free of test machinery, embedders can
//! take it as a dev-dependency, and tests start it in-process on port 0:
//!
//! ```no_run
//! # async fn demo() -> Result<(), convo_fake::StartError> {
//! let fake = convo_fake::FakeModel::start(convo_fake::Options::default()).await?;
//! println!("Gemini / OpenAI base URL: {}", fake.url());
//! # Ok(()) }
//! ```
//!
//! Crate map:
//! - `server`: the listener, the routes, the test endpoints; `conn`:
//!   connections that can end in a reset; `log`: the request log.
//! - `gemini/`: Gemini's API. `mod` routes; `access` (key, model),
//!   `validate/` (the request's checks with the real 400s: `content`,
//!   `generation`, `safety`, `tools`, `history`), `count_tokens`,
//!   `generate`, `request` (what a request says), `plan` (the answer),
//!   `response` (its JSON), `stream` (its chunks and body), `safety` (the
//!   withheld answers), `errors` (Google's error bodies).
//! - `openai/`: Chat Completions. `mod` routes and runs; `request` (key,
//!   checks), `validate` (tools, tool choice, tool histories), `answer`,
//!   `stream`, `errors` (OpenAI's error bodies).
//! - Shared by both formats: `knobs` (what a request may ask for), `asked`
//!   (one request's knobs and its fault), `faults` (the faults played the
//!   same way: status, timeout, reset, a broken body or stream), `http`
//!   (JSON and scripted bodies, stream events), `text` (token counts,
//!   pieces), `models` (today's Gemini ids), `signature` (thought
//!   signatures).

mod asked;
mod conn;
mod faults;
mod gemini;
mod http;
pub mod knobs;
mod log;
mod models;
mod openai;
mod server;
mod signature;
mod text;

pub use server::{FakeModel, Options, StartError};
