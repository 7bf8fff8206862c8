//! Projects, agents and sessions, and the cascades that delete them.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

use super::docs::{to_bson, AgentDoc, ProjectDoc, SessionDoc};
use super::error::MapErr;
use super::query::*;
use super::tools::bson_array;
use super::*;
use crate::domain::{
    Agent, AgentId, ChatSession, EndUser, Page, PageRequest, Project, ProjectId, SessionId, UserId,
};
use crate::store::StoreError;

impl MongoStore {
    /// A page of documents matching `filter`, by `_id` (see [`PageRequest`]).
    pub(super) async fn list<D: Doc, K: ToString>(
        &self,
        coll: Collection<D>,
        filter: Document,
        page: &PageRequest<K>,
    ) -> Result<Page<D::Domain>, StoreError> {
        let after = page.after.as_ref().map(|k| Bson::String(k.to_string()));
        let before = page.before.as_ref().map(|k| Bson::String(k.to_string()));
        let (lo, hi) = page.order.ascending_bounds(after, before);
        find_page(coll, filter, "_id", lo, hi, page).await
    }

    /// Tombstones the documents of `collection` matching `filter` and
    /// returns their ids: the first step of a cascade.
    pub(super) async fn tombstone_all(
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
    pub(super) async fn delete_sessions(&self, filter: Document) -> Result<(), StoreError> {
        let ids = self.tombstone_all("sessions", &filter).await?;
        for batch in ids.chunks(CASCADE_BATCH) {
            let in_batch = doc! { "session_id": { "$in": batch } };
            self.messages_coll()
                .delete_many(in_batch.clone())
                .await
                .store()?;
            self.idempotency_coll()
                .delete_many(in_batch)
                .await
                .store()?;
        }
        self.sessions_coll().delete_many(filter).await.store()?;
        Ok(())
    }

    /// Deletes agents (given by filter) with everything under them.
    pub(super) async fn delete_agents(&self, filter: Document) -> Result<(), StoreError> {
        let ids = self.tombstone_all("agents", &filter).await?;
        for batch in ids.chunks(CASCADE_BATCH) {
            self.delete_sessions(doc! { "agent_id": { "$in": batch } })
                .await?;
        }
        self.agents_coll().delete_many(filter).await.store()?;
        Ok(())
    }

    pub(super) async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        self.projects_coll()
            .insert_one(ProjectDoc::from_domain(project))
            .await
            .store()?;
        Ok(())
    }

    pub(super) async fn project(
        &self,
        owner: &UserId,
        id: &ProjectId,
    ) -> Result<Option<Project>, StoreError> {
        find_one(self.projects_coll(), owned(owner, id)).await
    }

    pub(super) async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        let filter = merge(doc! { "owner": owner.to_string() }, live());
        self.list(self.projects_coll(), filter, page).await
    }

    pub(super) async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let set = doc! { "$set": {
            "name": &project.name,
            "description": optional_str(project.description.as_deref()),
            "updated_at": to_bson(project.updated_at),
        }};
        update_live(
            self.projects_coll(),
            owned(&project.owner, &project.id),
            set,
            "project",
        )
        .await
    }

    pub(super) async fn delete_project(
        &self,
        owner: &UserId,
        id: &ProjectId,
    ) -> Result<bool, StoreError> {
        if !tombstone(self.projects_coll(), owned(owner, id)).await? {
            return Ok(false);
        }
        // Keys first: they stop working before anything else goes.
        self.delete_project_keys(id).await?;
        self.delete_agents(doc! { "project_id": id.to_string() })
            .await?;
        self.projects_coll()
            .delete_one(doc! { "_id": id.to_string() })
            .await
            .store()?;
        Ok(true)
    }

    pub(super) async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let parent = owned(&agent.owner, &agent.project_id);
        insert_under(
            self.projects_coll(),
            parent,
            "project",
            self.agents_coll(),
            &AgentDoc::from_domain(agent),
            &agent.id,
        )
        .await
    }

    pub(super) async fn agent(
        &self,
        owner: &UserId,
        id: &AgentId,
    ) -> Result<Option<Agent>, StoreError> {
        find_one(self.agents_coll(), owned(owner, id)).await
    }

    pub(super) async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        let filter = merge(
            doc! { "project_id": project.to_string(), "owner": owner.to_string() },
            live(),
        );
        self.list(self.agents_coll(), filter, page).await
    }

    pub(super) async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
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
            "tools": bson_array(&d.tools)?,
            "max_tool_rounds": d.max_tool_rounds,
            "webhook_secret": optional_str(d.webhook_secret.as_deref()),
            "updated_at": d.updated_at,
        }};
        update_live(
            self.agents_coll(),
            owned(&agent.owner, &agent.id),
            set,
            "agent",
        )
        .await
    }

    pub(super) async fn delete_agent(
        &self,
        owner: &UserId,
        id: &AgentId,
    ) -> Result<bool, StoreError> {
        if !tombstone(self.agents_coll(), owned(owner, id)).await? {
            return Ok(false);
        }
        self.delete_agents(doc! { "_id": id.to_string() }).await?;
        Ok(true)
    }

    pub(super) async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let parent = session_parent(session);
        let doc = SessionDoc::from_domain(session);
        insert_under(
            self.agents_coll(),
            parent,
            "agent",
            self.sessions_coll(),
            &doc,
            &session.id,
        )
        .await
    }

    pub(super) async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        find_one(self.sessions_coll(), owned(owner, id)).await
    }

    pub(super) async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        let mut filter = merge(
            doc! { "agent_id": agent.to_string(), "owner": owner.to_string() },
            live(),
        );
        // Served by the `(agent_id, end_user, _id)` index.
        if let Some(end_user) = end_user {
            filter.insert("end_user", end_user.as_str());
        }
        self.list(self.sessions_coll(), filter, page).await
    }

    pub(super) async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let set = doc! { "$set": {
            "title": optional_str(session.title.as_deref()),
            "updated_at": to_bson(session.updated_at),
        }};
        update_live(
            self.sessions_coll(),
            owned(&session.owner, &session.id),
            set,
            "chat session",
        )
        .await
    }

    pub(super) async fn delete_session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        if !tombstone(self.sessions_coll(), owned(owner, id)).await? {
            return Ok(false);
        }
        self.delete_sessions(doc! { "_id": id.to_string() }).await?;
        Ok(true)
    }
}

/// The filter for a session's agent: the owner's, in the session's project.
pub(super) fn session_parent(session: &ChatSession) -> Document {
    merge(
        owned(&session.owner, &session.agent_id),
        doc! { "project_id": session.project_id.to_string() },
    )
}
