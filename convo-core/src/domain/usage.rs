//! The usage ledger: one entry per turn, summed per day, project or agent.

use serde::{Deserialize, Serialize};

use super::{AgentId, EndUser, KeyId, ProjectId, SessionId, Timestamp, Usage, UserId};

/// One turn's use of the model, as the provider reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The user who sent the turn.
    pub owner: UserId,
    /// The agent's project.
    pub project_id: ProjectId,
    /// The agent that answered.
    pub agent_id: AgentId,
    /// The chat session.
    pub session_id: SessionId,
    /// When the turn ended.
    pub at: Timestamp,
    /// Tokens, when the provider reported them (a failed turn has none).
    pub usage: Option<Usage>,
    /// Whether the turn failed (the model or the store).
    pub failed: bool,
    /// The project API key that sent the turn (`None`: the owner did).
    #[serde(default)]
    pub key_id: Option<KeyId>,
    /// The end user the turn was for (`None`: none was named).
    #[serde(default)]
    pub end_user: Option<EndUser>,
}

/// Sums over usage records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Thinking tokens (where reported).
    pub thoughts_tokens: u64,
    /// Cached prompt tokens (where reported).
    pub cached_tokens: u64,
    /// Total tokens, as the provider bills them.
    pub total_tokens: u64,
    /// Turns (failed ones included).
    pub turns: u64,
    /// Failed turns.
    pub failures: u64,
}

impl UsageTotals {
    /// Adds another group's sums.
    pub fn merge(&mut self, other: &UsageTotals) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.thoughts_tokens += other.thoughts_tokens;
        self.cached_tokens += other.cached_tokens;
        self.total_tokens += other.total_tokens;
        self.turns += other.turns;
        self.failures += other.failures;
    }

    /// Adds one record.
    pub fn add(&mut self, record: &UsageRecord) {
        self.turns += 1;
        if record.failed {
            self.failures += 1;
        }
        if let Some(u) = &record.usage {
            self.prompt_tokens += u.prompt_tokens;
            self.completion_tokens += u.completion_tokens;
            self.thoughts_tokens += u.thoughts_tokens.unwrap_or(0);
            self.cached_tokens += u.cached_tokens.unwrap_or(0);
            self.total_tokens += u.total_tokens;
        }
    }
}

/// How usage is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsageGroupBy {
    /// By UTC calendar day (`YYYY-MM-DD`).
    Day,
    /// By project id.
    Project,
    /// By agent id.
    Agent,
    /// By the id of the project API key that sent the turn; turns sent
    /// without a key are grouped under the empty key `""`.
    Key,
    /// By end user; turns for no end user are grouped under `""`.
    EndUser,
}

impl UsageGroupBy {
    /// A record's group key.
    pub fn key(self, record: &UsageRecord) -> String {
        match self {
            UsageGroupBy::Day => day_of(record.at),
            UsageGroupBy::Project => record.project_id.to_string(),
            UsageGroupBy::Agent => record.agent_id.to_string(),
            UsageGroupBy::Key => record.key_id.map(|k| k.to_string()).unwrap_or_default(),
            UsageGroupBy::EndUser => record
                .end_user
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// The UTC calendar day of an instant, `YYYY-MM-DD`.
pub fn day_of(at: Timestamp) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// One group's sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageGroup {
    /// The day, project id, agent id, key id or end user (`""`: none).
    pub key: String,
    /// Its sums.
    pub totals: UsageTotals,
}
