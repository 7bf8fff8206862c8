//! The usage ledger and its report.

use super::Inner;
use crate::domain::{
    EndUser, ProjectId, Timestamp, UsageGroup, UsageGroupBy, UsageRecord, UsageTotals, UserId,
};
use crate::store::StoreError;

impl Inner {
    pub(super) fn record_usage(&mut self, record: &UsageRecord) -> Result<(), StoreError> {
        self.usage
            .entry(record.owner)
            .or_default()
            .push(record.clone());
        Ok(())
    }

    pub(super) fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let mut groups: std::collections::BTreeMap<String, UsageTotals> = Default::default();
        for record in self.usage.get(owner).into_iter().flatten() {
            if record.at >= from && record.at < to {
                groups.entry(group_by.key(record)).or_default().add(record);
            }
        }
        Ok(groups
            .into_iter()
            .map(|(key, totals)| UsageGroup { key, totals })
            .collect())
    }

    pub(super) fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> u64 {
        self.usage
            .get(owner)
            .into_iter()
            .flatten()
            .filter(|r| {
                r.project_id == *project
                    && r.end_user.as_ref() == Some(end_user)
                    && r.at >= from
                    && r.at < to
            })
            .filter_map(|r| r.usage.as_ref().map(|u| u.total_tokens))
            .sum()
    }
}
