//! Project API keys (`api_keys`) and their per-minute request counts
//! (`key_windows`).

use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;
use serde::{Deserialize, Serialize};

use super::docs::{corrupt, from_bson, to_bson};
use super::error::{is_duplicate, MapErr};
use super::query::*;
use super::*;
use crate::domain::{ApiKey, KeyId, KeyScope, ProjectId, Timestamp, UserId};
use crate::store::StoreError;

/// How long a window's count outlives the window's start: past its minute,
/// nobody asks for it again, and the TTL index on `expires_at` drops it.
const WINDOW_KEPT: Duration = Duration::from_secs(120);

/// `api_keys`, unique on `secret_hash`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ApiKeyDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub project_id: String,
    pub owner: String,
    pub name: String,
    pub scope: KeyScope,
    pub prefix: String,
    pub secret_hash: String,
    pub created_at: DateTime,
    pub expires_at: Option<DateTime>,
    pub last_used_at: Option<DateTime>,
    pub rate_limit_per_minute: Option<i64>,
    pub end_user_monthly_token_budget: Option<i64>,
}

impl ApiKeyDoc {
    pub fn from_domain(k: &ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            project_id: k.project_id.to_string(),
            owner: k.owner.to_string(),
            name: k.name.clone(),
            scope: k.scope,
            prefix: k.prefix.clone(),
            secret_hash: k.secret_hash.clone(),
            created_at: to_bson(k.created_at),
            expires_at: k.expires_at.map(to_bson),
            last_used_at: k.last_used_at.map(to_bson),
            rate_limit_per_minute: k.rate_limit_per_minute.map(i64::from),
            end_user_monthly_token_budget: k
                .end_user_monthly_token_budget
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        }
    }

    pub fn into_domain(self) -> Result<ApiKey, StoreError> {
        let out_of_range = || StoreError::Internal("stored key setting out of range".into());
        Ok(ApiKey {
            id: KeyId::parse(&self.id).map_err(corrupt("key"))?,
            project_id: ProjectId::parse(&self.project_id).map_err(corrupt("project"))?,
            owner: UserId::parse(&self.owner).map_err(corrupt("owner"))?,
            name: self.name,
            scope: self.scope,
            prefix: self.prefix,
            secret_hash: self.secret_hash,
            created_at: from_bson(self.created_at),
            expires_at: self.expires_at.map(from_bson),
            last_used_at: self.last_used_at.map(from_bson),
            rate_limit_per_minute: self
                .rate_limit_per_minute
                .map(|v| u32::try_from(v).map_err(|_| out_of_range()))
                .transpose()?,
            end_user_monthly_token_budget: self
                .end_user_monthly_token_budget
                .map(|v| u64::try_from(v).map_err(|_| out_of_range()))
                .transpose()?,
        })
    }
}

impl MongoStore {
    pub(super) fn api_keys_coll(&self) -> Collection<ApiKeyDoc> {
        self.db.collection("api_keys")
    }

    fn key_windows_coll(&self) -> Collection<Document> {
        self.db.collection("key_windows")
    }

    /// Inserts a key under its live project, then re-checks the project
    /// (as `insert_under` does): a project deleted meanwhile takes the new
    /// key with it.
    pub(super) async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let parent = owned(&key.owner, &key.project_id);
        let projects = self.projects_coll().clone_with_type::<Document>();
        let project_live = |filter: Document| {
            let projects = projects.clone();
            async move { Ok::<_, StoreError>(projects.find_one(filter).await.store()?.is_some()) }
        };
        if !project_live(parent.clone()).await? {
            return Err(StoreError::NotFound("project"));
        }
        match self
            .api_keys_coll()
            .insert_one(ApiKeyDoc::from_domain(key))
            .await
        {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                return Err(StoreError::Conflict("api key already stored".into()))
            }
            Err(e) => return Err(error::map(e)),
        }
        if !project_live(parent).await? {
            self.api_keys_coll()
                .delete_one(doc! { "_id": key.id.to_string() })
                .await
                .store()?;
            return Err(StoreError::NotFound("project"));
        }
        Ok(())
    }

    pub(super) async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        // Ids are UUIDv7: `_id` order is creation order, oldest first.
        self.api_keys_coll()
            .find(doc! { "project_id": project.to_string(), "owner": owner.to_string() })
            .sort(doc! { "_id": 1 })
            .await
            .store()?
            .try_collect::<Vec<_>>()
            .await
            .store()?
            .into_iter()
            .map(ApiKeyDoc::into_domain)
            .collect()
    }

    pub(super) async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .api_keys_coll()
            .delete_one(doc! {
                "_id": id.to_string(),
                "owner": owner.to_string(),
                "project_id": project.to_string(),
            })
            .await
            .store()?;
        if deleted.deleted_count == 0 {
            return Ok(false);
        }
        // Not needed for correctness (the TTL index drops them): tidiness.
        self.key_windows_coll()
            .delete_many(doc! { "key_id": id.to_string() })
            .await
            .store()?;
        Ok(true)
    }

    /// Deletes the keys of a project being deleted (its windows expire).
    pub(super) async fn delete_project_keys(&self, project: &ProjectId) -> Result<(), StoreError> {
        self.api_keys_coll()
            .delete_many(doc! { "project_id": project.to_string() })
            .await
            .store()?;
        Ok(())
    }

    pub(super) async fn api_key_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        self.api_keys_coll()
            .find_one(doc! { "secret_hash": secret_hash })
            .await
            .store()?
            .map(ApiKeyDoc::into_domain)
            .transpose()
    }

    pub(super) async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError> {
        let at = to_bson(at);
        // One conditional update: a later touch already stored wins.
        // (`last_used_at: null` matches a missing field too.)
        self.api_keys_coll()
            .update_one(
                doc! {
                    "_id": id.to_string(),
                    "$or": [{ "last_used_at": null }, { "last_used_at": { "$lt": at } }],
                },
                doc! { "$set": { "last_used_at": at } },
            )
            .await
            .store()?;
        Ok(())
    }

    /// One document per key and window (`<key>:<window ms>`), counted with
    /// `$inc` in a `findOneAndUpdate` that returns the new count: atomic on
    /// the server, whichever process asks.
    ///
    /// Not one upsert: two processes' first upserts of a window race to
    /// insert it, and the loser's answer is not to be trusted (MongoDB may
    /// answer a duplicate-key error; the MongoDB-wire test server,
    /// SecantusDB, was seen counting the loser's request and answering no
    /// document, so a retry counted it twice). So the count is a plain
    /// update of an existing document (one round trip, the usual case),
    /// and only when the window's document is missing is it made with
    /// `$setOnInsert` alone (an upsert whose race is harmless: the loser
    /// changes nothing) before counting.
    pub(super) async fn count_key_request(
        &self,
        key: &KeyId,
        window: Timestamp,
    ) -> Result<u64, StoreError> {
        let id = format!("{key}:{}", window.timestamp_millis());
        let count = || async {
            self.key_windows_coll()
                .find_one_and_update(doc! { "_id": &id }, doc! { "$inc": { "count": 1_i64 } })
                .return_document(ReturnDocument::After)
                .await
                .store()
        };
        if let Some(d) = count().await? {
            return Ok(count_of(&d));
        }
        let made = self
            .key_windows_coll()
            .update_one(
                doc! { "_id": &id },
                doc! { "$setOnInsert": {
                    "key_id": key.to_string(),
                    "window": to_bson(window),
                    "expires_at": to_bson(window + WINDOW_KEPT),
                    "count": 0_i64,
                }},
            )
            .upsert(true)
            .await;
        match made {
            Ok(_) => {}
            // Another request made it first: just as good.
            Err(e) if is_duplicate(&e) => {}
            Err(e) => return Err(error::map(e)),
        }
        count().await?.map(|d| count_of(&d)).ok_or_else(|| {
            // Only if the window's document expired in between: it is kept
            // two minutes past its start, so a request this late is lost.
            StoreError::Internal("a request window vanished while counting".into())
        })
    }
}

/// The `count` of a window document (stored as a 64-bit or 32-bit integer).
fn count_of(d: &Document) -> u64 {
    match d.get("count") {
        Some(mongodb::bson::Bson::Int64(v)) => u64::try_from(*v).unwrap_or(0),
        Some(mongodb::bson::Bson::Int32(v)) => u64::try_from(*v).unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{from_document, to_document};

    use super::*;
    use crate::domain::now;

    #[test]
    fn an_api_key_survives_bson_exactly() {
        let at = from_bson(to_bson(now()));
        let key = ApiKey {
            id: KeyId::new(),
            project_id: ProjectId::new(),
            owner: UserId::new(),
            name: "k".into(),
            scope: KeyScope::Chat,
            prefix: "ck_abcdefgh".into(),
            secret_hash: "ab".repeat(32),
            created_at: at,
            expires_at: Some(at),
            last_used_at: None,
            rate_limit_per_minute: Some(60),
            end_user_monthly_token_budget: Some(u64::from(u32::MAX) + 1),
        };
        let stored = to_document(&ApiKeyDoc::from_domain(&key)).expect("serialises");
        assert_eq!(stored.get_str("scope").ok(), Some("chat"));
        let read: ApiKeyDoc = from_document(stored).expect("parses");
        assert_eq!(read.into_domain().expect("reads"), key);
    }

    #[test]
    fn a_session_stored_before_keys_reads_without_an_end_user() {
        let now = DateTime::now();
        let session: super::super::docs::SessionDoc = from_document(doc! {
            "_id": "0196f1ca-3c4d-7e5f-9a6b-7c8d9e0f1a2b", "agent_id": "0196f1c9-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
            "project_id": "0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e", "owner": "0196f1c7-aaaa-7bbb-8ccc-dddddddddddd",
            "title": null, "message_count": 0_i64, "created_at": now, "updated_at": now,
        })
        .expect("an old session document parses");
        assert_eq!(session.into_domain().expect("reads").end_user, None);
    }
}
