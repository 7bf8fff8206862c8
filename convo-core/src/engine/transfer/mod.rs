//! Export and import of a whole project as JSON Lines.
//!
//! # The file format (version 2)
//!
//! One JSON object per line (UTF-8, `\n` or `\r\n` line ends, no blank
//! lines), each tagged by `type` ([`ExportRecord`]), in this order:
//!
//! 1. `{"type":"convo.export","version":2}`: the format line, always first;
//! 2. `{"type":"project","id","name","description","created_at","updated_at"}`;
//! 3. for each agent (oldest first): `{"type":"agent","id","name","system_prompt",
//!    "model","temperature","max_output_tokens","context_messages","context_tokens","reasoning_effort"?,
//!    "tools","max_tool_rounds","created_at","updated_at"}` (each tool as the REST
//!    API shows it: `{"name","description","parameters","execution"}`, `execution`
//!    being `"client"`, `"server"` or `{"type":"webhook","url","timeout_ms"}`), then
//!    for each of its sessions (oldest first)
//!    `{"type":"session","id","agent_id","title","forked_from","created_at","updated_at"}`
//!    followed by its messages in `seq` order: `{"type":"message","session_id","seq",
//!    "role","content","created_at","model"?,"finish_reason"?,"usage"?,"context"?,
//!    "tool_calls"?,"tool_call_id"?,"name"?,"is_error"?}` (`tool_calls`, a list of
//!    `{id, name, arguments}`, on assistant messages that called tools;
//!    `tool_call_id` and `name`, required, and `is_error` on `tool` messages);
//! 4. `{"type":"end","agents":N,"sessions":N,"messages":N}`: the counts, always last,
//!    so a file cut short is refused rather than half imported.
//!
//! Version 1 is version 2 without tools; an import reads both. Agents'
//! webhook secrets and providers' thought signatures are never exported
//! (an import gives each agent a new secret).
//!
//! The ids in a file are the exporting server's; they only tie records
//! together (a session names its agent, a message its session). An importer
//! treats them as opaque strings (at most 100 characters), so hand-written
//! files may use `"a1"`, `"s1"`. Import creates new objects with new ids:
//! projects, agents and sessions get the time of the import as
//! `created_at`/`updated_at`; messages keep their `created_at` (when given).
//! A session's `forked_from` is kept (pointing at the new id) when its source
//! session is earlier in the file, and dropped otherwise. Every record is
//! checked with the engine's usual rules (names, prompts, model ids, content
//! sizes); references must point to earlier records, and a session's `seq`s
//! must run 1, 2, 3… in file order. Integers that are stored (token counts,
//! `context`, a fork's `seq`) must be at most 2^63 − 1, the largest every
//! store keeps exactly, so that a file imports alike into every store.
//!
//! Both directions stream: export pages through the store 100 objects at a
//! time, import creates objects as it reads them, and [`parse_lines`] holds
//! at most one line in memory, so a project of any size costs bounded memory
//! (the import keeps one small entry per agent and session to resolve
//! references).

mod batch;
mod export;
mod format;
mod import;
mod lines;
mod tools;

pub use format::{
    ExportEnd, ExportFormat, ExportRecord, ExportStream, ExportedAgent, ExportedFork,
    ExportedMessage, ExportedProject, ExportedSession, ImportError, EXPORT_FORMAT, EXPORT_VERSION,
};
pub use lines::parse_lines;
pub use tools::{
    ExportedExecution, ExportedTool, ExportedToolCall, ExportedWebhook, NamedExecution,
};
