//! [`MongoStore`]: MongoDB through the official driver (feature `mongodb`).
//!
//! - `seq` comes from `$inc` on the session document, then the message is
//!   inserted (unique on `(session_id, seq)`); where the deployment supports
//!   transactions (a replica set or sharded cluster) both happen in one, so a
//!   crash between them cannot leave a gap.
//! - The turn lock is a lease on the session document, taken by one
//!   conditional update (free, expired, or already ours → ours until now + lease).
//! - Cascades set a tombstone (`deleted: true`) on the parent first, then
//!   delete children, then the parent; inserts re-check their parent after
//!   writing and undo themselves if it was tombstoned meanwhile, so nothing
//!   new stays attached to a deleted parent.
//! - Revocations and idempotency records expire through TTL indexes.
//!
//! Read/write concerns and retryable writes come from the connection URI.

mod docs;
mod error;

use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};

use self::docs::{to_bson, AgentDoc, IdempotencyDoc, MessageDoc, ProjectDoc, SessionDoc, UserDoc};
use self::error::{is_duplicate, MapErr};
use super::{IdempotencyRecord, Store, StoreError};
use crate::domain::{
    now, Agent, AgentId, ChatSession, Email, Message, MessageDraft, MessageId, Page, PageRequest,
    Project, ProjectId, SessionId, Timestamp, User, UserId,
};

/// A [`Store`] on MongoDB.
#[derive(Debug, Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    transactions: bool,
}

/// Ids of children deleted per `$in` batch in a cascade.
const CASCADE_BATCH: usize = 500;

/// Filter on "not tombstoned".
fn live() -> Document {
    doc! { "deleted": { "$ne": true } }
}

fn merge(mut a: Document, b: Document) -> Document {
    a.extend(b);
    a
}

/// One page of `coll` ordered by `field`, between the cursors' values
/// `after` and `before` (exclusive), per [`PageRequest`]'s rules.
async fn find_page<T, K>(
    coll: Collection<T>,
    mut filter: Document,
    field: &str,
    after: Option<Bson>,
    before: Option<Bson>,
    page: &PageRequest<K>,
) -> Result<(Vec<T>, bool), StoreError>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    // Bounds in ascending order: in a descending list `after` is the upper one.
    let (lo, hi) = match page.order {
        crate::domain::Order::Asc => (after, before),
        crate::domain::Order::Desc => (before, after),
    };
    let mut range = Document::new();
    if let Some(lo) = lo {
        range.insert("$gt", lo);
    }
    if let Some(hi) = hi {
        range.insert("$lt", hi);
    }
    if !range.is_empty() {
        filter.insert(field, range);
    }
    let direction = if page.walks_ascending() { 1 } else { -1 };
    let items: Vec<T> = coll
        .find(filter)
        .sort(doc! { field: direction })
        .limit(i64::try_from(page.limit).unwrap_or(i64::MAX) + 1)
        .await
        .store()?
        .try_collect()
        .await
        .store()?;
    Ok(page.finish(items))
}

impl MongoStore {
    /// Connects with `uri` to database `db_name` and creates the indexes.
    ///
    /// Without explicit timeouts in the URI, server selection and connecting
    /// give up after 5 s, so an outage answers `Unavailable` quickly.
    pub async fn connect(uri: &str, db_name: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Internal(format!("bad MongoDB URI: {e}")))?;
        if !uri.contains("serverSelectionTimeoutMS") {
            options.server_selection_timeout = Some(Duration::from_secs(5));
        }
        if !uri.contains("connectTimeoutMS") {
            options.connect_timeout = Some(Duration::from_secs(5));
        }
        options.app_name.get_or_insert_with(|| "convo".to_owned());
        let client = Client::with_options(options).store()?;
        let db = client.database(db_name);
        let hello = db.run_command(doc! { "hello": 1 }).await.store()?;
        // Transactions need a replica set member or a mongos.
        let transactions =
            hello.contains_key("setName") || hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
        let store = Self {
            client,
            db,
            transactions,
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// The database name from a URI's path (`mongodb://host/<db>`), if it names one.
    pub fn database_in_uri(uri: &str) -> Option<String> {
        let rest = uri.split_once("://")?.1;
        let path = rest.split_once('/')?.1;
        let name = path.split(['?', '/']).next()?;
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// Whether writes that must go together use a transaction.
    pub fn uses_transactions(&self) -> bool {
        self.transactions
    }

    fn users(&self) -> Collection<UserDoc> {
        self.db.collection("users")
    }
    fn projects(&self) -> Collection<ProjectDoc> {
        self.db.collection("projects")
    }
    fn agents(&self) -> Collection<AgentDoc> {
        self.db.collection("agents")
    }
    fn sessions(&self) -> Collection<SessionDoc> {
        self.db.collection("sessions")
    }
    fn messages(&self) -> Collection<MessageDoc> {
        self.db.collection("messages")
    }
    fn idempotency(&self) -> Collection<IdempotencyDoc> {
        self.db.collection("idempotency")
    }
    fn revoked(&self) -> Collection<Document> {
        self.db.collection("revoked_tokens")
    }

    /// Creates every index the queries use (idempotent).
    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let index = |keys: Document, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().unique(unique).build())
                .build()
        };
        let ttl = |field: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
                .build()
        };
        self.users()
            .create_index(index(doc! { "email": 1 }, true))
            .await
            .store()?;
        self.projects()
            .create_index(index(doc! { "owner": 1, "_id": 1 }, false))
            .await
            .store()?;
        self.agents()
            .create_index(index(doc! { "project_id": 1, "_id": 1 }, false))
            .await
            .store()?;
        self.sessions()
            .create_index(index(doc! { "agent_id": 1, "_id": 1 }, false))
            .await
            .store()?;
        self.sessions()
            .create_index(index(doc! { "project_id": 1 }, false))
            .await
            .store()?;
        self.messages()
            .create_index(index(doc! { "session_id": 1, "seq": 1 }, true))
            .await
            .store()?;
        self.idempotency()
            .create_index(index(doc! { "session_id": 1 }, false))
            .await
            .store()?;
        self.idempotency()
            .create_index(ttl("expires_at"))
            .await
            .store()?;
        self.revoked()
            .create_index(ttl("expires_at"))
            .await
            .store()?;
        Ok(())
    }

    /// A page of documents matching `filter`, by `_id` (see [`PageRequest`]).
    async fn page_by_id<T, K>(
        &self,
        coll: Collection<T>,
        filter: Document,
        page: &PageRequest<K>,
    ) -> Result<(Vec<T>, bool), StoreError>
    where
        T: serde::de::DeserializeOwned + Send + Sync,
        K: ToString,
    {
        let after = page.after.as_ref().map(|k| Bson::String(k.to_string()));
        let before = page.before.as_ref().map(|k| Bson::String(k.to_string()));
        find_page(coll, filter, "_id", after, before, page).await
    }

    /// Deletes sessions (given by filter) with their messages and idempotency records.
    async fn delete_sessions(&self, filter: Document) -> Result<(), StoreError> {
        self.sessions()
            .update_many(filter.clone(), doc! { "$set": { "deleted": true } })
            .await
            .store()?;
        let ids: Vec<String> = self
            .db
            .collection::<Document>("sessions")
            .find(filter.clone())
            .projection(doc! { "_id": 1 })
            .await
            .store()?
            .try_filter_map(|d| async move { Ok(d.get_str("_id").ok().map(str::to_owned)) })
            .try_collect()
            .await
            .store()?;
        for batch in ids.chunks(CASCADE_BATCH) {
            let in_batch = doc! { "session_id": { "$in": batch } };
            self.messages()
                .delete_many(in_batch.clone())
                .await
                .store()?;
            self.idempotency().delete_many(in_batch).await.store()?;
        }
        self.sessions().delete_many(filter).await.store()?;
        Ok(())
    }

    /// Deletes agents (given by filter) with everything under them.
    async fn delete_agents(&self, filter: Document) -> Result<(), StoreError> {
        self.agents()
            .update_many(filter.clone(), doc! { "$set": { "deleted": true } })
            .await
            .store()?;
        let ids: Vec<String> = self
            .db
            .collection::<Document>("agents")
            .find(filter.clone())
            .projection(doc! { "_id": 1 })
            .await
            .store()?
            .try_filter_map(|d| async move { Ok(d.get_str("_id").ok().map(str::to_owned)) })
            .try_collect()
            .await
            .store()?;
        for batch in ids.chunks(CASCADE_BATCH) {
            self.delete_sessions(doc! { "agent_id": { "$in": batch } })
                .await?;
        }
        self.agents().delete_many(filter).await.store()?;
        Ok(())
    }

    /// The seq of a message of `session`, for cursors.
    async fn seq_of(&self, session: &SessionId, id: &MessageId) -> Result<i64, StoreError> {
        let found = self
            .messages()
            .find_one(doc! { "_id": id.to_string(), "session_id": session.to_string() })
            .await
            .store()?;
        found.map(|m| m.seq).ok_or(StoreError::NotFound("message"))
    }

    /// `$inc` then insert, in a transaction where available.
    async fn append_plain(
        &self,
        session: &SessionId,
        draft: &MessageDraft,
    ) -> Result<Message, StoreError> {
        let bumped = self
            .sessions()
            .find_one_and_update(
                merge(doc! { "_id": session.to_string() }, live()),
                doc! { "$inc": { "message_count": 1 }, "$max": { "updated_at": to_bson(draft.created_at) } },
            )
            .return_document(ReturnDocument::After)
            .await
            .store()?
            .ok_or(StoreError::NotFound("chat session"))?;
        let message = draft
            .clone()
            .into_message(*session, u64::try_from(bumped.message_count).unwrap_or(0));
        self.messages()
            .insert_one(MessageDoc::from_domain(&message))
            .await
            .store()?;
        Ok(message)
    }

    async fn append_in_transaction(
        &self,
        session: &SessionId,
        draft: &MessageDraft,
    ) -> Result<Message, StoreError> {
        let mut txn = self.client.start_session().await.store()?;
        let sessions = self.sessions();
        let messages = self.messages();
        let filter = merge(doc! { "_id": session.to_string() }, live());
        let update = doc! { "$inc": { "message_count": 1 }, "$max": { "updated_at": to_bson(draft.created_at) } };
        // Owned copies: the closure may run more than once, and borrowed
        // captures trip the compiler's Send inference (rust-lang/rust#96865).
        let (session, draft) = (*session, draft.clone());
        let result = txn
            .start_transaction()
            .and_run2(async move |s| {
                let bumped = sessions
                    .find_one_and_update(filter.clone(), update.clone())
                    .return_document(ReturnDocument::After)
                    .session(&mut *s)
                    .await?;
                let Some(bumped) = bumped else {
                    return Ok(None);
                };
                let message = draft
                    .clone()
                    .into_message(session, u64::try_from(bumped.message_count).unwrap_or(0));
                messages
                    .insert_one(MessageDoc::from_domain(&message))
                    .session(&mut *s)
                    .await?;
                Ok(Some(message))
            })
            .await
            .store()?;
        result.ok_or(StoreError::NotFound("chat session"))
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .store()
            .map(|_| ())
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        match self.users().insert_one(UserDoc::from_domain(user)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate(&e) => {
                Err(StoreError::Conflict("email already registered".into()))
            }
            Err(e) => Err(error::map(e)),
        }
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.users()
            .find_one(doc! { "_id": id.to_string() })
            .await
            .store()?
            .map(UserDoc::into_domain)
            .transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.users()
            .find_one(doc! { "email": email.as_str() })
            .await
            .store()?
            .map(UserDoc::into_domain)
            .transpose()
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        self.revoked()
            .update_one(
                doc! { "_id": jti },
                doc! { "$set": { "expires_at": to_bson(expires_at) } },
            )
            .upsert(true)
            .await
            .store()?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self
            .revoked()
            .find_one(doc! { "_id": jti })
            .await
            .store()?
            .is_some())
    }

    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        self.projects()
            .insert_one(ProjectDoc::from_domain(project))
            .await
            .store()?;
        Ok(())
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        let filter = merge(
            doc! { "_id": id.to_string(), "owner": owner.to_string() },
            live(),
        );
        self.projects()
            .find_one(filter)
            .await
            .store()?
            .map(ProjectDoc::into_domain)
            .transpose()
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        let filter = merge(doc! { "owner": owner.to_string() }, live());
        let (docs, has_more) = self.page_by_id(self.projects(), filter, page).await?;
        Ok(Page {
            data: docs
                .into_iter()
                .map(ProjectDoc::into_domain)
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let filter = merge(
            doc! { "_id": project.id.to_string(), "owner": project.owner.to_string() },
            live(),
        );
        let set = doc! { "$set": {
            "name": &project.name,
            "description": project.description.as_deref().map_or(Bson::Null, |d| Bson::String(d.to_owned())),
            "updated_at": to_bson(project.updated_at),
        }};
        let result = self.projects().update_one(filter, set).await.store()?;
        if result.matched_count == 0 {
            return Err(StoreError::NotFound("project"));
        }
        Ok(())
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        let filter = merge(
            doc! { "_id": id.to_string(), "owner": owner.to_string() },
            live(),
        );
        let marked = self
            .projects()
            .update_one(filter, doc! { "$set": { "deleted": true } })
            .await
            .store()?;
        if marked.matched_count == 0 {
            return Ok(false);
        }
        self.delete_agents(doc! { "project_id": id.to_string() })
            .await?;
        self.projects()
            .delete_one(doc! { "_id": id.to_string() })
            .await
            .store()?;
        Ok(true)
    }

    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let parent = merge(
            doc! { "_id": agent.project_id.to_string(), "owner": agent.owner.to_string() },
            live(),
        );
        if self
            .projects()
            .find_one(parent.clone())
            .await
            .store()?
            .is_none()
        {
            return Err(StoreError::NotFound("project"));
        }
        self.agents()
            .insert_one(AgentDoc::from_domain(agent))
            .await
            .store()?;
        // A cascade may have tombstoned the project meanwhile: then undo.
        if self.projects().find_one(parent).await.store()?.is_none() {
            self.agents()
                .delete_one(doc! { "_id": agent.id.to_string() })
                .await
                .store()?;
            return Err(StoreError::NotFound("project"));
        }
        Ok(())
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        let filter = merge(
            doc! { "_id": id.to_string(), "owner": owner.to_string() },
            live(),
        );
        self.agents()
            .find_one(filter)
            .await
            .store()?
            .map(AgentDoc::into_domain)
            .transpose()
    }

    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        let filter = merge(
            doc! { "project_id": project.to_string(), "owner": owner.to_string() },
            live(),
        );
        let (docs, has_more) = self.page_by_id(self.agents(), filter, page).await?;
        Ok(Page {
            data: docs
                .into_iter()
                .map(AgentDoc::into_domain)
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let filter = merge(
            doc! { "_id": agent.id.to_string(), "owner": agent.owner.to_string() },
            live(),
        );
        let d = AgentDoc::from_domain(agent);
        let set = doc! { "$set": {
            "name": d.name,
            "system_prompt": d.system_prompt,
            "model": d.model,
            "temperature": d.temperature.map_or(Bson::Null, Bson::Double),
            "max_output_tokens": d.max_output_tokens.map_or(Bson::Null, Bson::Int64),
            "context_messages": d.context_messages,
            "updated_at": d.updated_at,
        }};
        let result = self.agents().update_one(filter, set).await.store()?;
        if result.matched_count == 0 {
            return Err(StoreError::NotFound("agent"));
        }
        Ok(())
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        let filter = merge(
            doc! { "_id": id.to_string(), "owner": owner.to_string() },
            live(),
        );
        let marked = self
            .agents()
            .update_one(filter, doc! { "$set": { "deleted": true } })
            .await
            .store()?;
        if marked.matched_count == 0 {
            return Ok(false);
        }
        self.delete_agents(doc! { "_id": id.to_string() }).await?;
        Ok(true)
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let parent = merge(
            doc! { "_id": session.agent_id.to_string(), "owner": session.owner.to_string() },
            live(),
        );
        if self
            .agents()
            .find_one(parent.clone())
            .await
            .store()?
            .is_none()
        {
            return Err(StoreError::NotFound("agent"));
        }
        self.sessions()
            .insert_one(SessionDoc::from_domain(session))
            .await
            .store()?;
        if self.agents().find_one(parent).await.store()?.is_none() {
            self.sessions()
                .delete_one(doc! { "_id": session.id.to_string() })
                .await
                .store()?;
            return Err(StoreError::NotFound("agent"));
        }
        Ok(())
    }

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        let filter = merge(
            doc! { "_id": id.to_string(), "owner": owner.to_string() },
            live(),
        );
        self.sessions()
            .find_one(filter)
            .await
            .store()?
            .map(SessionDoc::into_domain)
            .transpose()
    }

    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        let filter = merge(
            doc! { "agent_id": agent.to_string(), "owner": owner.to_string() },
            live(),
        );
        let (docs, has_more) = self.page_by_id(self.sessions(), filter, page).await?;
        Ok(Page {
            data: docs
                .into_iter()
                .map(SessionDoc::into_domain)
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let filter = merge(
            doc! { "_id": session.id.to_string(), "owner": session.owner.to_string() },
            live(),
        );
        let title = session
            .title
            .as_deref()
            .map_or(Bson::Null, |t| Bson::String(t.to_owned()));
        let set = doc! { "$set": { "title": title, "updated_at": to_bson(session.updated_at) } };
        let result = self.sessions().update_one(filter, set).await.store()?;
        if result.matched_count == 0 {
            return Err(StoreError::NotFound("chat session"));
        }
        Ok(())
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        let filter = merge(
            doc! { "_id": id.to_string(), "owner": owner.to_string() },
            live(),
        );
        let marked = self
            .sessions()
            .update_one(filter, doc! { "$set": { "deleted": true } })
            .await
            .store()?;
        if marked.matched_count == 0 {
            return Ok(false);
        }
        self.delete_sessions(doc! { "_id": id.to_string() }).await?;
        Ok(true)
    }

    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        let message = if self.transactions {
            self.append_in_transaction(session, &draft).await?
        } else {
            self.append_plain(session, &draft).await?
        };
        // A cascade may have tombstoned the session meanwhile: then undo.
        let still_live = merge(doc! { "_id": session.to_string() }, live());
        if self
            .sessions()
            .find_one(still_live)
            .await
            .store()?
            .is_none()
        {
            self.messages()
                .delete_one(doc! { "_id": message.id.to_string() })
                .await
                .store()?;
            return Err(StoreError::NotFound("chat session"));
        }
        Ok(message)
    }

    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        // A bounded `seq` range, read upwards, rather than "sort descending,
        // limit n": the range is an index range on (session_id, seq) in every
        // engine, while some planners answer the descending sort by sorting
        // the whole session (measured: 22 ms at 10,000 messages, vs ~1 ms).
        let count = self
            .db
            .collection::<Document>("sessions")
            .find_one(doc! { "_id": session.to_string() })
            .projection(doc! { "message_count": 1 })
            .await
            .store()?
            .and_then(|d| match d.get("message_count") {
                Some(Bson::Int64(v)) => Some(*v),
                Some(Bson::Int32(v)) => Some(i64::from(*v)),
                _ => None,
            })
            .unwrap_or(0);
        let first = count.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX));
        let docs: Vec<MessageDoc> = self
            .messages()
            .find(doc! { "session_id": session.to_string(), "seq": { "$gt": first } })
            .sort(doc! { "seq": 1 })
            .limit(i64::try_from(n).unwrap_or(i64::MAX))
            .await
            .store()?
            .try_collect()
            .await
            .store()?;
        docs.into_iter().map(MessageDoc::into_domain).collect()
    }

    async fn messages(
        &self,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        let after = match &page.after {
            Some(id) => Some(self.seq_of(session, id).await?),
            None => None,
        };
        let before = match &page.before {
            Some(id) => Some(self.seq_of(session, id).await?),
            None => None,
        };
        let filter = doc! { "session_id": session.to_string() };
        let (docs, has_more) = find_page(
            self.messages(),
            filter,
            "seq",
            after.map(Bson::Int64),
            before.map(Bson::Int64),
            page,
        )
        .await?;
        Ok(Page {
            data: docs
                .into_iter()
                .map(MessageDoc::into_domain)
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }

    async fn try_lock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        let filter = merge(
            doc! {
                "_id": session.to_string(),
                "$or": [
                    { "lock_holder": Bson::Null },
                    { "lock_until": { "$lte": to_bson(now) } },
                    { "lock_holder": holder },
                ],
            },
            live(),
        );
        let update = doc! { "$set": { "lock_holder": holder, "lock_until": to_bson(until) } };
        let result = self.sessions().update_one(filter, update).await.store()?;
        if result.matched_count == 1 {
            return Ok(true);
        }
        let exists = self
            .sessions()
            .find_one(merge(doc! { "_id": session.to_string() }, live()))
            .await
            .store()?;
        match exists {
            Some(_) => Ok(false),
            None => Err(StoreError::NotFound("chat session")),
        }
    }

    async fn unlock_turn(&self, session: &SessionId, holder: &str) -> Result<(), StoreError> {
        self.sessions()
            .update_one(
                doc! { "_id": session.to_string(), "lock_holder": holder },
                doc! { "$set": { "lock_holder": Bson::Null, "lock_until": Bson::Null } },
            )
            .await
            .store()?;
        Ok(())
    }

    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        // The TTL monitor runs about once a minute: filter expired ones out too.
        let filter = doc! { "_id": IdempotencyDoc::key(session, key), "expires_at": { "$gt": to_bson(now()) } };
        self.idempotency()
            .find_one(filter)
            .await
            .store()?
            .map(IdempotencyDoc::into_domain)
            .transpose()
    }

    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let doc = IdempotencyDoc::from_domain(session, key, record);
        self.idempotency()
            .replace_one(doc! { "_id": &doc.id }, &doc)
            .upsert(true)
            .await
            .store()?;
        Ok(())
    }
}
