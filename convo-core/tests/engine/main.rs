//! The engine's behaviour through its public API, on MemoryStore + MockProvider,
//! one module per area.

mod accounting;
mod client_tools;
mod control;
mod keys;
mod reasoning;
mod resources;
mod streaming;
mod support;
mod tool_loop;
mod tools;
mod transfer;
mod turns;
mod users;
