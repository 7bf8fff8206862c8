//! The usage ledger and its aggregation.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use super::docs::to_bson;
use super::error::MapErr;
use super::query::optional_str;
use super::*;
use crate::domain::{
    day_of, EndUser, ProjectId, Timestamp, UsageGroup, UsageGroupBy, UsageRecord, UsageTotals,
    UserId,
};
use crate::store::StoreError;

impl MongoStore {
    pub(super) async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        self.db
            .collection::<Document>("usage")
            .insert_one(usage_entry(record))
            .await
            .store()?;
        Ok(())
    }

    pub(super) async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let key = match group_by {
            UsageGroupBy::Day => Bson::from("$day"),
            UsageGroupBy::Project => Bson::from("$project_id"),
            UsageGroupBy::Agent => Bson::from("$agent_id"),
            // Turns without a key or an end user (null, or stored before
            // keys existed: missing) are grouped under "".
            UsageGroupBy::Key => Bson::Document(doc! { "$ifNull": ["$key_id", ""] }),
            UsageGroupBy::EndUser => Bson::Document(doc! { "$ifNull": ["$end_user", ""] }),
        };
        let pipeline = vec![
            doc! { "$match": {
                "owner": owner.to_string(),
                "at": { "$gte": to_bson(from), "$lt": to_bson(to) },
            }},
            doc! { "$group": {
                "_id": key,
                "prompt_tokens": { "$sum": "$prompt_tokens" },
                "completion_tokens": { "$sum": "$completion_tokens" },
                "thoughts_tokens": { "$sum": "$thoughts_tokens" },
                "cached_tokens": { "$sum": "$cached_tokens" },
                "total_tokens": { "$sum": "$total_tokens" },
                "turns": { "$sum": 1 },
                "failures": { "$sum": "$failed" },
            }},
            doc! { "$sort": { "_id": 1 } },
        ];
        let groups: Vec<Document> = self
            .db
            .collection::<Document>("usage")
            .aggregate(pipeline)
            .await
            .store()?
            .try_collect()
            .await
            .store()?;
        Ok(groups
            .iter()
            .map(|d| UsageGroup {
                key: d.get_str("_id").unwrap_or_default().to_owned(),
                totals: UsageTotals {
                    prompt_tokens: count(d, "prompt_tokens"),
                    completion_tokens: count(d, "completion_tokens"),
                    thoughts_tokens: count(d, "thoughts_tokens"),
                    cached_tokens: count(d, "cached_tokens"),
                    total_tokens: count(d, "total_tokens"),
                    turns: count(d, "turns"),
                    failures: count(d, "failures"),
                },
            })
            .collect())
    }

    pub(super) async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        // Served by the `(owner, project_id, end_user, at)` index; a turn
        // without usage is stored with 0 tokens.
        let pipeline = vec![
            doc! { "$match": {
                "owner": owner.to_string(),
                "project_id": project.to_string(),
                "end_user": end_user.as_str(),
                "at": { "$gte": to_bson(from), "$lt": to_bson(to) },
            }},
            doc! { "$group": { "_id": Bson::Null, "total": { "$sum": "$total_tokens" } } },
        ];
        let sums: Vec<Document> = self
            .db
            .collection::<Document>("usage")
            .aggregate(pipeline)
            .await
            .store()?
            .try_collect()
            .await
            .store()?;
        Ok(sums.first().map_or(0, |d| count(d, "total")))
    }
}

/// A summed number of a group (`$sum` answers 32- or 64-bit integers, or a
/// double on overflow).
fn count(d: &Document, field: &str) -> u64 {
    match d.get(field) {
        Some(Bson::Int64(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Int32(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Double(v)) if *v >= 0.0 => *v as u64,
        _ => 0,
    }
}

/// A ledger entry as stored (without `_id`: the database makes one, unless
/// the caller gives its own).
pub(super) fn usage_entry(record: &UsageRecord) -> Document {
    let u = record.usage.unwrap_or_default();
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    doc! {
        "owner": record.owner.to_string(),
        "project_id": record.project_id.to_string(),
        "agent_id": record.agent_id.to_string(),
        "session_id": record.session_id.to_string(),
        "at": to_bson(record.at),
        "day": day_of(record.at),
        "prompt_tokens": n(u.prompt_tokens),
        "completion_tokens": n(u.completion_tokens),
        "thoughts_tokens": n(u.thoughts_tokens.unwrap_or(0)),
        "cached_tokens": n(u.cached_tokens.unwrap_or(0)),
        "total_tokens": n(u.total_tokens),
        // A number, so the failures are a plain `$sum`.
        "failed": i32::from(record.failed),
        "key_id": optional_str(record.key_id.map(|k| k.to_string()).as_deref()),
        "end_user": optional_str(record.end_user.as_ref().map(EndUser::as_str)),
    }
}
