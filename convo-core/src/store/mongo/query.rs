//! Query helpers shared by the collections: pages, ownership filters,
//! tombstones and inserts under a live parent.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

use super::docs::{AgentDoc, MessageDoc, OwnedMessageDoc, ProjectDoc, SessionDoc, UserDoc};
use super::error::MapErr;
use crate::domain::{Agent, ChatSession, Message, Page, PageRequest, Project, User, UserId};
use crate::store::StoreError;

/// Filter on "not tombstoned".
pub(super) fn live() -> Document {
    doc! { "deleted": { "$ne": true } }
}

pub(super) fn merge(mut a: Document, b: Document) -> Document {
    a.extend(b);
    a
}

/// One page of `coll` ordered by `field`, with `field` strictly between
/// `lo` and `hi` (bounds in ascending order, see
/// [`Order::ascending_bounds`](crate::domain::Order::ascending_bounds)),
/// per [`PageRequest`]'s rules.
pub(super) async fn find_page<D: Doc, K>(
    coll: Collection<D>,
    mut filter: Document,
    field: &str,
    lo: Option<Bson>,
    hi: Option<Bson>,
    page: &PageRequest<K>,
) -> Result<Page<D::Domain>, StoreError> {
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
pub(super) trait Doc: serde::de::DeserializeOwned + Send + Sync {
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
impl_doc!(OwnedMessageDoc => (Option<String>, Message));

/// The live (not tombstoned) object `id` of `owner`.
pub(super) fn owned(owner: &UserId, id: &impl ToString) -> Document {
    merge(
        doc! { "_id": id.to_string(), "owner": owner.to_string() },
        live(),
    )
}

/// A string field, or `null`.
pub(super) fn optional_str(value: Option<&str>) -> Bson {
    value.map_or(Bson::Null, |v| Bson::String(v.to_owned()))
}

/// The one document matching `filter`, as a domain value.
pub(super) async fn find_one<D: Doc>(
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
pub(super) async fn update_live<D: Send + Sync>(
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
pub(super) async fn tombstone<D: Send + Sync>(
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
pub(super) async fn insert_under<P: Send + Sync, C: serde::Serialize + Send + Sync>(
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
