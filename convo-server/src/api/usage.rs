//! `GET /api/usage`: the caller's usage ledger, summed.

use chrono::{DateTime, Utc};
use convo_core::{UsageGroupBy, UsageReport, UsageTotals};
use poem_openapi::param::Query;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::ApiTags;
use crate::credentials::Auth;
use crate::http::error::ReadError;
use crate::http::json::JsonOut;
use crate::state::AppState;

/// Usage operations.
pub struct UsageApi {
    state: AppState,
}

impl UsageApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// How usage is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum GroupBy {
    /// By UTC calendar day (`YYYY-MM-DD`).
    Day,
    /// By project id.
    Project,
    /// By agent id.
    Agent,
    /// By the id of the project API key that sent the turn (`null`: sent without a key).
    Key,
    /// By end user (`null`: for no end user).
    #[oai(rename = "end_user")]
    EndUser,
}

impl From<GroupBy> for UsageGroupBy {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::Day => UsageGroupBy::Day,
            GroupBy::Project => UsageGroupBy::Project,
            GroupBy::Agent => UsageGroupBy::Agent,
            GroupBy::Key => UsageGroupBy::Key,
            GroupBy::EndUser => UsageGroupBy::EndUser,
        }
    }
}

/// Sums over turns.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename = "UsageSums")]
pub struct UsageSums {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Thinking tokens (where the model reports them).
    pub thoughts_tokens: u64,
    /// Prompt tokens served from the provider's cache (where reported).
    pub cached_tokens: u64,
    /// Total tokens, as the provider bills them.
    pub total_tokens: u64,
    /// Turns, failed ones included.
    pub turns: u64,
    /// Failed turns.
    pub failures: u64,
}

impl From<UsageTotals> for UsageSums {
    fn from(t: UsageTotals) -> Self {
        Self {
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            thoughts_tokens: t.thoughts_tokens,
            cached_tokens: t.cached_tokens,
            total_tokens: t.total_tokens,
            turns: t.turns,
            failures: t.failures,
        }
    }
}

/// One group's sums.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename = "UsageReportGroup")]
pub struct UsageGroup {
    /// The day (`YYYY-MM-DD`), project id, agent id, key id or end user; `null` for turns
    /// sent without a key (`group_by=key`) or for no end user (`group_by=end_user`).
    pub key: Option<String>,
    /// Its sums.
    #[serde(flatten)]
    #[oai(flatten)]
    pub sums: UsageSums,
}

/// The caller's usage over a window.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename = "UsageReport")]
pub struct Usage {
    /// Always `usage`.
    pub object: String,
    /// `day`, `project`, `agent`, `key` or `end_user`.
    pub group_by: String,
    /// The window's start (inclusive).
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub from: DateTime<Utc>,
    /// The window's end (exclusive).
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub to: DateTime<Utc>,
    /// The groups, in ascending key order.
    pub data: Vec<UsageGroup>,
    /// The sums over the whole window.
    pub total: UsageSums,
}

impl From<UsageReport> for Usage {
    fn from(r: UsageReport) -> Self {
        Self {
            object: "usage".into(),
            group_by: match r.group_by {
                UsageGroupBy::Day => "day",
                UsageGroupBy::Project => "project",
                UsageGroupBy::Agent => "agent",
                UsageGroupBy::Key => "key",
                UsageGroupBy::EndUser => "end_user",
            }
            .into(),
            from: r.from,
            to: r.to,
            data: r
                .groups
                .into_iter()
                .map(|g| UsageGroup {
                    // The ledger's group of "none" is the empty key.
                    key: Some(g.key).filter(|k| !k.is_empty()),
                    sums: g.totals.into(),
                })
                .collect(),
            total: r.totals.into(),
        }
    }
}

/// Usage sums.
#[derive(ApiResponse)]
pub enum UsageShown {
    /// The sums.
    #[oai(status = 200)]
    Ok(JsonOut<Usage>),
}

#[OpenApi(prefix_path = "/api/usage", tag = "ApiTags::Usage")]
impl UsageApi {
    /// Get usage
    ///
    /// The caller's turns with their token counts as the model provider reported them, summed
    /// per UTC day, project or agent, over `from <= time < to` (default: the current calendar
    /// month). Failed turns count as turns and as failures. Turns of deleted projects and
    /// agents stay in the ledger. The server may set a monthly token budget per user, checked
    /// against these sums before each turn (`429 quota_exceeded` when spent).
    #[oai(path = "/", method = "get", operation_id = "get_usage")]
    async fn usage(
        &self,
        auth: Auth,
        /// `day` (the default), `project`, `agent`, `key` (project API keys) or `end_user`.
        group_by: Query<Option<GroupBy>>,
        /// Start of the window (RFC 3339, inclusive); the start of this month by default.
        from: Query<Option<DateTime<Utc>>>,
        /// End of the window (RFC 3339, exclusive); the start of next month by default.
        to: Query<Option<DateTime<Utc>>>,
    ) -> Result<UsageShown, ReadError> {
        let report = self
            .state
            .convo
            .usage(
                &auth.user("read the usage report")?.id,
                group_by.0.unwrap_or(GroupBy::Day).into(),
                from.0,
                to.0,
            )
            .await?;
        Ok(UsageShown::Ok(JsonOut(report.into())))
    }
}
