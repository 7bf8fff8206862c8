//! Chat sessions: one conversation with an agent.

use serde::{Deserialize, Serialize};

use super::{AgentId, EndUser, ProjectId, SessionId, Timestamp, ToolCall, UserId};

/// A chat session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatSession {
    /// Unique id.
    pub id: SessionId,
    /// The agent that answers in it.
    pub agent_id: AgentId,
    /// The agent's project.
    pub project_id: ProjectId,
    /// The owning user.
    pub owner: UserId,
    /// Optional title (at most 200 characters).
    pub title: Option<String>,
    /// How many messages it holds; also the `seq` of the newest one.
    pub message_count: u64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed (a message added counts).
    pub updated_at: Timestamp,
    /// The session and message it was forked from, if it is a fork.
    pub forked_from: Option<ForkOrigin>,
    /// Calls of client tools the paused turn waits for (empty when no turn
    /// waits). Set by the engine through [`crate::Store::set_pending_tool_calls`];
    /// sessions stored before tools existed read as waiting for none.
    #[serde(default)]
    pub pending_tool_calls: Vec<ToolCall>,
    /// The end user a project API key started it for (`None`: started by
    /// the owner, or by an admin key naming no end user). Only that end
    /// user's chat keys see it.
    #[serde(default)]
    pub end_user: Option<EndUser>,
}

/// Where a forked session came from: it began as a copy of `session_id`'s
/// messages 1..=`seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkOrigin {
    /// The session it was copied from.
    pub session_id: SessionId,
    /// The last message copied.
    pub seq: u64,
}
