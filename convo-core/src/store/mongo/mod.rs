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
    day_of, now, Agent, AgentId, ChatSession, Email, Message, MessageDraft, MessageId, Page,
    PageRequest, Project, ProjectId, SessionId, Timestamp, UsageGroup, UsageGroupBy, UsageRecord,
    UsageTotals, User, UserId,
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
/// Messages copied per `insert_many` when forking a session.
const FORK_BATCH: usize = 1000;

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
async fn find_page<D: Doc, K>(
    coll: Collection<D>,
    mut filter: Document,
    field: &str,
    after: Option<Bson>,
    before: Option<Bson>,
    page: &PageRequest<K>,
) -> Result<Page<D::Domain>, StoreError> {
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
    let items: Vec<D> = coll
        .find(filter)
        .sort(doc! { field: direction })
        .limit(i64::try_from(page.limit).unwrap_or(i64::MAX) + 1)
        .await
        .store()?
        .try_collect()
        .await
        .store()?;
    let (docs, has_more) = page.finish(items);
    Ok(Page {
        data: docs
            .into_iter()
            .map(D::into_domain)
            .collect::<Result<_, _>>()?,
        has_more,
    })
}

/// A stored document that reads back as a domain value.
trait Doc: serde::de::DeserializeOwned + Send + Sync {
    /// The domain type.
    type Domain;
    /// The conversion (fails on corrupt data).
    fn into_domain(self) -> Result<Self::Domain, StoreError>;
}

macro_rules! impl_doc {
    ($($doc:ty => $domain:ty),+) => {
        $(impl Doc for $doc {
            type Domain = $domain;
            fn into_domain(self) -> Result<$domain, StoreError> {
                <$doc>::into_domain(self)
            }
        })+
    };
}
impl_doc!(UserDoc => User, ProjectDoc => Project, AgentDoc => Agent, SessionDoc => ChatSession, MessageDoc => Message);

/// The live (not tombstoned) object `id` of `owner`.
fn owned(owner: &UserId, id: &impl ToString) -> Document {
    merge(
        doc! { "_id": id.to_string(), "owner": owner.to_string() },
        live(),
    )
}

/// A string field, or `null`.
fn optional_str(value: Option<&str>) -> Bson {
    value.map_or(Bson::Null, |v| Bson::String(v.to_owned()))
}

/// The one document matching `filter`, as a domain value.
async fn find_one<D: Doc>(
    coll: Collection<D>,
    filter: Document,
) -> Result<Option<D::Domain>, StoreError> {
    coll.find_one(filter)
        .await
        .store()?
        .map(D::into_domain)
        .transpose()
}

/// Applies `update` to the document matching `filter`; [`StoreError::NotFound`] naming `what` if none.
async fn update_live<D: Send + Sync>(
    coll: Collection<D>,
    filter: Document,
    update: Document,
    what: &'static str,
) -> Result<(), StoreError> {
    if coll.update_one(filter, update).await.store()?.matched_count == 0 {
        return Err(StoreError::NotFound(what));
    }
    Ok(())
}

/// Marks the document matching `filter` deleted (the first step of a cascade); `false` if none.
async fn tombstone<D: Send + Sync>(
    coll: Collection<D>,
    filter: Document,
) -> Result<bool, StoreError> {
    let marked = coll
        .update_one(filter, doc! { "$set": { "deleted": true } })
        .await
        .store()?;
    Ok(marked.matched_count > 0)
}

/// Inserts `child` if its live parent exists, then re-checks the parent: a
/// cascade that tombstoned it meanwhile would miss the new child, so the
/// child undoes itself and the insert is [`StoreError::NotFound`] too.
async fn insert_under<P: Send + Sync, C: serde::Serialize + Send + Sync>(
    parents: Collection<P>,
    parent: Document,
    what: &'static str,
    children: Collection<C>,
    child: &C,
    child_id: &impl ToString,
) -> Result<(), StoreError> {
    let parent_exists = |filter: Document| {
        let parents = parents.clone_with_type::<Document>();
        async move { Ok::<_, StoreError>(parents.find_one(filter).await.store()?.is_some()) }
    };
    if !parent_exists(parent.clone()).await? {
        return Err(StoreError::NotFound(what));
    }
    children.insert_one(child).await.store()?;
    if !parent_exists(parent).await? {
        children
            .delete_one(doc! { "_id": child_id.to_string() })
            .await
            .store()?;
        return Err(StoreError::NotFound(what));
    }
    Ok(())
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
        let indexes = [
            ("users", index(doc! { "email": 1 }, true)),
            ("projects", index(doc! { "owner": 1, "_id": 1 }, false)),
            ("agents", index(doc! { "project_id": 1, "_id": 1 }, false)),
            ("sessions", index(doc! { "agent_id": 1, "_id": 1 }, false)),
            ("sessions", index(doc! { "project_id": 1 }, false)),
            ("messages", index(doc! { "session_id": 1, "seq": 1 }, true)),
            ("idempotency", index(doc! { "session_id": 1 }, false)),
            ("idempotency", ttl("expires_at")),
            ("revoked_tokens", ttl("expires_at")),
            ("usage", index(doc! { "owner": 1, "at": 1 }, false)),
        ];
        for (collection, model) in indexes {
            self.db
                .collection::<Document>(collection)
                .create_index(model)
                .await
                .store()?;
        }
        Ok(())
    }

    /// A page of documents matching `filter`, by `_id` (see [`PageRequest`]).
    async fn list<D: Doc, K: ToString>(
        &self,
        coll: Collection<D>,
        filter: Document,
        page: &PageRequest<K>,
    ) -> Result<Page<D::Domain>, StoreError> {
        let after = page.after.as_ref().map(|k| Bson::String(k.to_string()));
        let before = page.before.as_ref().map(|k| Bson::String(k.to_string()));
        find_page(coll, filter, "_id", after, before, page).await
    }

    /// Tombstones the documents of `collection` matching `filter` and
    /// returns their ids: the first step of a cascade.
    async fn tombstone_all(
        &self,
        collection: &str,
        filter: &Document,
    ) -> Result<Vec<String>, StoreError> {
        let coll = self.db.collection::<Document>(collection);
        coll.update_many(filter.clone(), doc! { "$set": { "deleted": true } })
            .await
            .store()?;
        coll.find(filter.clone())
            .projection(doc! { "_id": 1 })
            .await
            .store()?
            .try_filter_map(|d| async move { Ok(d.get_str("_id").ok().map(str::to_owned)) })
            .try_collect()
            .await
            .store()
    }

    /// Deletes sessions (given by filter) with their messages and idempotency records.
    async fn delete_sessions(&self, filter: Document) -> Result<(), StoreError> {
        let ids = self.tombstone_all("sessions", &filter).await?;
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
        let ids = self.tombstone_all("agents", &filter).await?;
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

    /// The answer to a conditional lock update that matched nothing: `false`
    /// when the session is there (the condition did not hold), not found
    /// when it is not.
    async fn unmatched_lock_update(&self, session: &SessionId) -> Result<bool, StoreError> {
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

    /// Our message as stored, by its id, in its session: the outcome of an
    /// append whose answer was lost.
    async fn stored_message(
        &self,
        session: &SessionId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError> {
        self.messages()
            .find_one(doc! { "_id": id.to_string(), "session_id": session.to_string() })
            .await
            .store()?
            .map(MessageDoc::into_domain)
            .transpose()
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
        find_one(self.users(), doc! { "_id": id.to_string() }).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        find_one(self.users(), doc! { "email": email.as_str() }).await
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
        find_one(self.projects(), owned(owner, id)).await
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        let filter = merge(doc! { "owner": owner.to_string() }, live());
        self.list(self.projects(), filter, page).await
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let set = doc! { "$set": {
            "name": &project.name,
            "description": optional_str(project.description.as_deref()),
            "updated_at": to_bson(project.updated_at),
        }};
        update_live(
            self.projects(),
            owned(&project.owner, &project.id),
            set,
            "project",
        )
        .await
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        if !tombstone(self.projects(), owned(owner, id)).await? {
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
        let parent = owned(&agent.owner, &agent.project_id);
        insert_under(
            self.projects(),
            parent,
            "project",
            self.agents(),
            &AgentDoc::from_domain(agent),
            &agent.id,
        )
        .await
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        find_one(self.agents(), owned(owner, id)).await
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
        self.list(self.agents(), filter, page).await
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let d = AgentDoc::from_domain(agent);
        let set = doc! { "$set": {
            "name": d.name,
            "system_prompt": d.system_prompt,
            "model": d.model,
            "temperature": d.temperature.map_or(Bson::Null, Bson::Double),
            "max_output_tokens": d.max_output_tokens.map_or(Bson::Null, Bson::Int64),
            "context_messages": d.context_messages,
            "context_tokens": d.context_tokens.map_or(Bson::Null, Bson::Int64),
            "reasoning_effort": d.reasoning_effort.map_or(Bson::Null, |e| Bson::String(e.as_str().to_owned())),
            "updated_at": d.updated_at,
        }};
        update_live(self.agents(), owned(&agent.owner, &agent.id), set, "agent").await
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        if !tombstone(self.agents(), owned(owner, id)).await? {
            return Ok(false);
        }
        self.delete_agents(doc! { "_id": id.to_string() }).await?;
        Ok(true)
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let parent = owned(&session.owner, &session.agent_id);
        let doc = SessionDoc::from_domain(session);
        insert_under(
            self.agents(),
            parent,
            "agent",
            self.sessions(),
            &doc,
            &session.id,
        )
        .await
    }

    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        let up_to = i64::try_from(up_to_seq).unwrap_or(i64::MAX);
        let copied = doc! { "session_id": from.to_string(), "seq": { "$lte": up_to } };
        if self
            .messages()
            .count_documents(copied.clone())
            .await
            .store()?
            != up_to_seq
        {
            return Err(StoreError::NotFound("message"));
        }
        // Inserted as a tombstone, so no one sees it (and a cascade deletes
        // it) until every message is in; then brought to life.
        let mut doc = SessionDoc::from_domain(session);
        doc.message_count = up_to;
        doc.deleted = true;
        let parent = owned(&session.owner, &session.agent_id);
        insert_under(
            self.agents(),
            parent,
            "agent",
            self.sessions(),
            &doc,
            &session.id,
        )
        .await?;
        let copy = async {
            let mut cursor = self
                .messages()
                .find(copied)
                .sort(doc! { "seq": 1 })
                .await
                .store()?;
            let mut batch = Vec::with_capacity(FORK_BATCH);
            while let Some(original) = cursor.try_next().await.store()? {
                batch.push(MessageDoc {
                    id: MessageId::new().to_string(),
                    session_id: session.id.to_string(),
                    ..original
                });
                if batch.len() == FORK_BATCH {
                    self.messages()
                        .insert_many(std::mem::take(&mut batch))
                        .await
                        .store()?;
                }
            }
            if !batch.is_empty() {
                self.messages().insert_many(batch).await.store()?;
            }
            let live_again = self
                .sessions()
                .update_one(
                    doc! { "_id": session.id.to_string(), "deleted": true },
                    doc! { "$set": { "deleted": false } },
                )
                .await
                .store()?;
            if live_again.matched_count == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound("agent"))
            }
        };
        let result: Result<(), StoreError> = copy.await;
        if result.is_err() {
            // Best effort: what was copied is invisible either way.
            let _ = self
                .delete_sessions(doc! { "_id": session.id.to_string() })
                .await;
        }
        result
    }

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        find_one(self.sessions(), owned(owner, id)).await
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
        self.list(self.sessions(), filter, page).await
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let set = doc! { "$set": {
            "title": optional_str(session.title.as_deref()),
            "updated_at": to_bson(session.updated_at),
        }};
        update_live(
            self.sessions(),
            owned(&session.owner, &session.id),
            set,
            "chat session",
        )
        .await
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        if !tombstone(self.sessions(), owned(owner, id)).await? {
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
        let appended = if self.transactions {
            self.append_in_transaction(session, &draft).await
        } else {
            self.append_plain(session, &draft).await
        };
        let message = match appended {
            Ok(message) => message,
            // A connection cut after the write landed: the driver's retry
            // (or the transaction's) then collides with our own message.
            // If it is there, the append succeeded (found by the
            // database-outage test under load).
            Err(e) => match self.stored_message(session, &draft.id).await {
                Ok(Some(stored)) => stored,
                _ => return Err(e),
            },
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
        find_page(
            self.messages(),
            filter,
            "seq",
            after.map(Bson::Int64),
            before.map(Bson::Int64),
            page,
        )
        .await
    }

    async fn try_lock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        // Take a free or expired lock (with no cancel request), or renew
        // our own (keeping one).
        let free = merge(
            doc! {
                "_id": session.to_string(),
                "$or": [
                    { "lock_holder": Bson::Null },
                    { "lock_until": { "$lte": to_bson(now) } },
                ],
            },
            live(),
        );
        let take = doc! { "$set": { "lock_holder": holder, "lock_until": to_bson(until), "lock_cancel": false } };
        if self
            .sessions()
            .update_one(free, take)
            .await
            .store()?
            .matched_count
            == 1
        {
            return Ok(true);
        }
        let ours = merge(
            doc! { "_id": session.to_string(), "lock_holder": holder },
            live(),
        );
        let renew = doc! { "$set": { "lock_until": to_bson(until) } };
        if self
            .sessions()
            .update_one(ours, renew)
            .await
            .store()?
            .matched_count
            == 1
        {
            return Ok(true);
        }
        self.unmatched_lock_update(session).await
    }

    async fn unlock_turn(&self, session: &SessionId, holder: &str) -> Result<(), StoreError> {
        self.sessions()
            .update_one(
                doc! { "_id": session.to_string(), "lock_holder": holder },
                doc! { "$set": { "lock_holder": Bson::Null, "lock_until": Bson::Null, "lock_cancel": false } },
            )
            .await
            .store()?;
        Ok(())
    }

    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        let filter = merge(
            doc! {
                "_id": session.to_string(),
                "lock_holder": { "$ne": Bson::Null },
                "lock_until": { "$gt": to_bson(now()) },
            },
            live(),
        );
        let result = self
            .sessions()
            .update_one(filter, doc! { "$set": { "lock_cancel": true } })
            .await
            .store()?;
        if result.matched_count == 1 {
            return Ok(true);
        }
        self.unmatched_lock_update(session).await
    }

    async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let filter =
            doc! { "_id": session.to_string(), "lock_holder": holder, "lock_cancel": true };
        Ok(self.sessions().find_one(filter).await.store()?.is_some())
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        let u = record.usage.unwrap_or_default();
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let entry = doc! {
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
        };
        self.db
            .collection::<Document>("usage")
            .insert_one(entry)
            .await
            .store()?;
        Ok(())
    }

    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let key = match group_by {
            UsageGroupBy::Day => "$day",
            UsageGroupBy::Project => "$project_id",
            UsageGroupBy::Agent => "$agent_id",
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
        let count = |d: &Document, field: &str| -> u64 {
            match d.get(field) {
                Some(Bson::Int64(v)) => u64::try_from(*v).unwrap_or(0),
                Some(Bson::Int32(v)) => u64::try_from(*v).unwrap_or(0),
                Some(Bson::Double(v)) if *v >= 0.0 => *v as u64,
                _ => 0,
            }
        };
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
