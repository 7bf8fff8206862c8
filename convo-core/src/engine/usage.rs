//! The usage ledger and quotas: every turn is recorded per user, project and
//! agent; a per-user monthly token budget and a per-user limit of turns
//! running at once are checked before the model is called.

use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};

use super::Convo;
use crate::domain::{
    now, Agent, Caller, SessionId, Timestamp, Usage, UsageGroup, UsageGroupBy, UsageRecord,
    UsageTotals, UserId,
};
use crate::error::ConvoError;

/// A user's usage over a window, grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    /// How it is grouped.
    pub group_by: UsageGroupBy,
    /// The window's start (inclusive).
    pub from: Timestamp,
    /// The window's end (exclusive).
    pub to: Timestamp,
    /// The groups, in ascending key order.
    pub groups: Vec<UsageGroup>,
    /// The sums over all groups.
    pub totals: UsageTotals,
}

/// The start of `at`'s calendar month (UTC) and of the next one.
pub fn month_of(at: Timestamp) -> (Timestamp, Timestamp) {
    let start = |year: i32, month: u32| {
        Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .single()
            .unwrap_or(at)
    };
    let (next_year, next_month) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    (start(at.year(), at.month()), start(next_year, next_month))
}

/// A turn counted against its user's limit of turns at once; released on drop.
pub(crate) struct TurnSlot {
    engine: Convo,
    user: UserId,
}

impl Drop for TurnSlot {
    fn drop(&mut self) {
        let mut counts = self.engine.turn_counts();
        if let Some(n) = counts.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

impl Convo {
    /// The caller's usage with `from <= at < to` (default: the current
    /// calendar month), summed per day, project or agent. Turns of deleted
    /// projects and agents stay in the ledger.
    pub async fn usage(
        &self,
        owner: &UserId,
        group_by: UsageGroupBy,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<UsageReport, ConvoError> {
        let (month_start, month_end) = month_of(now());
        let (from, to) = (from.unwrap_or(month_start), to.unwrap_or(month_end));
        if from >= to {
            return Err(ConvoError::invalid("from", "must be before `to`"));
        }
        let groups = self.store().usage(owner, from, to, group_by).await?;
        let mut totals = UsageTotals::default();
        for g in &groups {
            totals.merge(&g.totals);
        }
        Ok(UsageReport {
            group_by,
            from,
            to,
            groups,
            totals,
        })
    }

    fn turn_counts(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<UserId, usize>> {
        // Only counters: a panic elsewhere cannot leave them inconsistent.
        self.shared
            .turns_per_user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The quota checks made before a turn calls the model: a slot under
    /// the user's limit of turns at once, budget left this month, and, for
    /// a key with an end-user budget, the end user's budget left.
    pub(crate) async fn admit_call(
        &self,
        caller: &Caller,
        agent: &Agent,
        by: &super::turn::Attribution,
    ) -> Result<Option<TurnSlot>, ConvoError> {
        let owner = &agent.owner;
        let slot = match self.settings().max_concurrent_turns {
            None => None,
            Some(max) => {
                let mut counts = self.turn_counts();
                let running = counts.entry(*owner).or_insert(0);
                if *running >= max {
                    return Err(ConvoError::RateLimited {
                        retry_after: Duration::from_secs(1),
                    });
                }
                *running += 1;
                Some(TurnSlot {
                    engine: self.clone(),
                    user: *owner,
                })
            }
        };
        if let Some(budget) = self.settings().monthly_token_budget {
            let (start, end) = month_of(now());
            let spent: u64 = self
                .store()
                .usage(owner, start, end, UsageGroupBy::Project)
                .await?
                .iter()
                .map(|g| g.totals.total_tokens)
                .sum();
            if spent >= budget {
                return Err(ConvoError::QuotaExceeded { resets_at: end });
            }
        }
        let key_budget = caller
            .api_key()
            .and_then(|k| k.end_user_monthly_token_budget);
        if let (Some(budget), Some(end_user)) = (key_budget, &by.end_user) {
            let (start, end) = month_of(now());
            let spent = self
                .store()
                .end_user_tokens(owner, &agent.project_id, end_user, start, end)
                .await?;
            if spent >= budget {
                return Err(ConvoError::EndUserQuotaExceeded { resets_at: end });
            }
        }
        Ok(slot)
    }

    /// Records a finished turn in the ledger; a failure to record is logged,
    /// not the turn's failure.
    pub(crate) async fn record_turn(
        &self,
        agent: &Agent,
        session: SessionId,
        by: &super::turn::Attribution,
        usage: Option<Usage>,
        failed: bool,
    ) {
        let record = usage_record(agent, session, by, usage, failed);
        if let Err(e) = self.store().record_usage(&record).await {
            tracing::warn!(%session, error = %e, "could not record the turn's usage");
        }
    }
}

/// The ledger entry of a model call of `agent`'s, made now.
pub(crate) fn usage_record(
    agent: &Agent,
    session: SessionId,
    by: &super::turn::Attribution,
    usage: Option<Usage>,
    failed: bool,
) -> UsageRecord {
    UsageRecord {
        owner: agent.owner,
        project_id: agent.project_id,
        agent_id: agent.id,
        session_id: session,
        at: now(),
        usage,
        failed,
        key_id: by.key_id,
        end_user: by.end_user.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_run_from_the_first_to_the_first() {
        let at = |y, m, d| {
            Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
                .single()
                .expect("date")
        };
        let first = |y, m| {
            Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                .single()
                .expect("date")
        };
        assert_eq!(
            month_of(at(2026, 11, 25)),
            (first(2026, 11), first(2026, 12))
        );
        assert_eq!(
            month_of(at(2026, 12, 31)),
            (first(2026, 12), first(2027, 1))
        );
        assert_eq!(month_of(first(2026, 1)), (first(2026, 1), first(2026, 2)));
    }
}
