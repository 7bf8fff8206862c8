//! The records of an export file, and what can go wrong reading one.

use futures::stream::BoxStream;

use serde::{Deserialize, Serialize};

use crate::domain::{ContextRef, FinishReason, Role, Timestamp, Usage};
use crate::error::ConvoError;

use super::tools::{ExportedTool, ExportedToolCall};

/// The `type` of the format line that starts every export.
pub const EXPORT_FORMAT: &str = "convo.export";
/// The format version this engine writes. It reads every version from 1
/// (files without tools) to this one.
pub const EXPORT_VERSION: u32 = 2;
/// The oldest format version an import reads: version 1 had no tools, and
/// its files read as agents without tools and messages without tool fields.
pub(super) const OLDEST_IMPORTED_VERSION: u32 = 1;
/// Objects read from the store per page while exporting.
pub(super) const PAGE_SIZE: usize = 100;
/// Longest id (of the exporting server) an import accepts, in characters.
pub(super) const MAX_FILE_ID_CHARS: usize = 100;

/// One line of an export file; see the [module docs](super) for the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ExportRecord {
    /// The format line: `{"type":"convo.export","version":1}`.
    #[serde(rename = "convo.export")]
    Format(ExportFormat),
    /// The project.
    #[serde(rename = "project")]
    Project(ExportedProject),
    /// An agent of the project.
    #[serde(rename = "agent")]
    Agent(ExportedAgent),
    /// A chat session of an earlier agent.
    #[serde(rename = "session")]
    Session(ExportedSession),
    /// A message of an earlier session.
    #[serde(rename = "message")]
    Message(ExportedMessage),
    /// The last line: how many records of each kind came before it.
    #[serde(rename = "end")]
    End(ExportEnd),
}

impl ExportRecord {
    /// The record as one line of JSON, `\n` included.
    pub fn to_line(&self) -> Result<Vec<u8>, ConvoError> {
        let mut line = serde_json::to_vec(self)
            .map_err(|e| ConvoError::Internal(format!("export serialisation failed: {e}")))?;
        line.push(b'\n');
        Ok(line)
    }
}

/// The format line. Unknown fields are allowed here (only here), so a file of
/// another version is refused for its version, not for its shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFormat {
    /// [`EXPORT_VERSION`] in files this engine writes.
    pub version: u32,
}

/// A project in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedProject {
    /// Its id on the exporting server.
    pub id: String,
    /// Name (1–200 characters).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// An agent in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedAgent {
    /// Its id on the exporting server.
    pub id: String,
    /// Name.
    pub name: String,
    /// System prompt.
    pub system_prompt: String,
    /// Model id (the engine's default when absent).
    #[serde(default)]
    pub model: Option<String>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Output cap.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Context window in messages (the engine's default when absent).
    #[serde(default)]
    pub context_messages: Option<u32>,
    /// Context window as a token budget.
    #[serde(default)]
    pub context_tokens: Option<u32>,
    /// Reasoning effort (the engine's default for the model when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<crate::domain::ReasoningEffort>,
    /// Its tools (none when absent, as in version 1). The webhook secret
    /// is not exported: an import gives the agent a new one.
    #[serde(default)]
    pub tools: Vec<ExportedTool>,
    /// Rounds of tool calls per turn (the default, 8, when absent).
    #[serde(default)]
    pub max_tool_rounds: Option<u32>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// A chat session in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedSession {
    /// Its id on the exporting server.
    pub id: String,
    /// The `id` of its agent, an earlier line.
    pub agent_id: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Where it was forked from: kept on import when that session is earlier in the file.
    #[serde(default)]
    pub forked_from: Option<ExportedFork>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Informational; an import stamps its own.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// The end user a project API key started it for (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user: Option<crate::domain::EndUser>,
}

/// A fork origin in an export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedFork {
    /// The source session's `id` in the file.
    pub session_id: String,
    /// The last message copied.
    pub seq: u64,
}

/// A message in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedMessage {
    /// The `id` of its session, an earlier line.
    pub session_id: String,
    /// Its position: 1, 2, 3… per session, in file order.
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// When it was written; kept on import (the time of the import when absent).
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Model that wrote it (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why generation stopped (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token usage (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The context window the reply was generated from (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextRef>,
    /// The tools the model asked to call (assistant messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ExportedToolCall>,
    /// The call a tool message answers (tool messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The tool that answered (tool messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the tool failed (tool messages).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

/// The last line of an export file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEnd {
    /// Agent lines in the file.
    pub agents: u64,
    /// Session lines in the file.
    pub sessions: u64,
    /// Message lines in the file.
    pub messages: u64,
}

impl ExportEnd {
    pub(super) fn count(&mut self, record: &ExportRecord) {
        match record {
            ExportRecord::Agent(_) => self.agents += 1,
            ExportRecord::Session(_) => self.sessions += 1,
            ExportRecord::Message(_) => self.messages += 1,
            _ => {}
        }
    }
}

/// Why an import failed. Nothing of the file is left in the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImportError {
    /// A line is malformed or breaks a rule (line 1 also for a foreign version).
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong, for a person to read.
        message: String,
    },
    /// The file is larger than the reader's limit.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file could not be read (e.g. the upload broke off).
    #[error("the file could not be read: {0}")]
    Read(String),
    /// The engine or its store failed: not the file's fault.
    #[error(transparent)]
    Convo(#[from] ConvoError),
}

impl ImportError {
    pub(super) fn line(line: u64, message: impl Into<String>) -> Self {
        ImportError::Line {
            line,
            message: message.into(),
        }
    }
}

/// The records of an export, ending with an `Err` if the store fails half-way.
pub type ExportStream = BoxStream<'static, Result<ExportRecord, ConvoError>>;

/// The format line this engine writes, as text.
pub(super) fn format_line() -> String {
    format!("{{\"type\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION}}}")
}
