#![cfg(any(feature = "gemini", feature = "openai"))]
//! The HTTP model providers against wiremock (and, for transport failures
//! wiremock cannot stage, a one-shot raw TCP server).
//!
//! - `conformance`: what every provider must do (retries, timeouts, error
//!   mapping, streams that break), written once against a `WireFormat` and
//!   expanded into one test per behaviour for each provider;
//! - `gemini`, `openai`: each provider's wire format for the suite, and the
//!   tests of what only that wire has (the exact request, its own response
//!   shapes).
//!
//! A new provider implements `WireFormat` in its own module and invokes
//! `conformance_tests!` once.

mod conformance;
#[cfg(feature = "gemini")]
mod gemini;
#[cfg(feature = "openai")]
mod openai;
