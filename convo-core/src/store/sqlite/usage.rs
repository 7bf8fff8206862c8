//! The usage ledger and its sums.

use rusqlite::params;

use super::rows::{int, millis};
use super::SqliteStore;
use crate::domain::{
    day_of, EndUser, ProjectId, Timestamp, UsageGroup, UsageGroupBy, UsageRecord, UsageTotals,
    UserId,
};
use crate::store::StoreError;

impl SqliteStore {
    pub(super) async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        let r = record.clone();
        let u = r.usage.unwrap_or_default();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO usage (owner, project_id, agent_id, session_id, at, day, \
                 prompt_tokens, completion_tokens, thoughts_tokens, cached_tokens, total_tokens, \
                 failed, key_id, end_user) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                r.owner.to_string(),
                r.project_id.to_string(),
                r.agent_id.to_string(),
                r.session_id.to_string(),
                millis(r.at),
                day_of(r.at),
                int(u.prompt_tokens),
                int(u.completion_tokens),
                int(u.thoughts_tokens.unwrap_or(0)),
                int(u.cached_tokens.unwrap_or(0)),
                int(u.total_tokens),
                r.failed,
                r.key_id.map(|k| k.to_string()),
                r.end_user.as_ref().map(EndUser::as_str),
            ])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        // A column name from a closed set, never from input.
        let key = match group_by {
            UsageGroupBy::Day => "day",
            UsageGroupBy::Project => "project_id",
            UsageGroupBy::Agent => "agent_id",
            // Turns without a key or an end user are grouped under "".
            UsageGroupBy::Key => "COALESCE(key_id, '')",
            UsageGroupBy::EndUser => "COALESCE(end_user, '')",
        };
        let owner = owner.to_string();
        self.read_scan(move |c| {
            let sql = format!(
                "SELECT {key}, SUM(prompt_tokens), SUM(completion_tokens), \
                 SUM(thoughts_tokens), SUM(cached_tokens), SUM(total_tokens), COUNT(*), \
                 SUM(failed) FROM usage WHERE owner = ?1 AND at >= ?2 AND at < ?3 \
                 GROUP BY {key} ORDER BY {key}"
            );
            let n = |v: i64| u64::try_from(v).unwrap_or(0);
            let groups = c
                .prepare_cached(&sql)?
                .query_map(params![owner, millis(from), millis(to)], |r| {
                    Ok(UsageGroup {
                        key: r.get(0)?,
                        totals: UsageTotals {
                            prompt_tokens: n(r.get(1)?),
                            completion_tokens: n(r.get(2)?),
                            thoughts_tokens: n(r.get(3)?),
                            cached_tokens: n(r.get(4)?),
                            total_tokens: n(r.get(5)?),
                            turns: n(r.get(6)?),
                            failures: n(r.get(7)?),
                        },
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(groups)
        })
        .await
    }

    pub(super) async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        let (owner, project) = (owner.to_string(), project.to_string());
        let end_user = end_user.as_str().to_owned();
        // Served by `usage_by_end_user (owner, project_id, end_user, at)`.
        // A turn without usage is stored with 0 tokens.
        self.read_scan(move |c| {
            let total: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(total_tokens), 0) FROM usage \
                     WHERE owner = ?1 AND project_id = ?2 AND end_user = ?3 \
                     AND at >= ?4 AND at < ?5",
                )?
                .query_row(
                    params![owner, project, end_user, millis(from), millis(to)],
                    |r| r.get(0),
                )?;
            Ok(u64::try_from(total).unwrap_or(0))
        })
        .await
    }
}
