//! Projects and agents, each visible only to its owner.

use super::paging::page_ids;
use super::Inner;
use crate::domain::{Agent, AgentId, Page, PageRequest, Project, ProjectId, UserId};
use crate::store::StoreError;

impl Inner {
    pub(super) fn insert_project(&mut self, project: &Project) -> Result<(), StoreError> {
        self.projects_by_owner
            .entry(project.owner)
            .or_default()
            .insert(project.id);
        self.projects.insert(project.id, project.clone());
        Ok(())
    }

    pub(super) fn project(
        &self,
        owner: &UserId,
        id: &ProjectId,
    ) -> Result<Option<Project>, StoreError> {
        Ok(self.projects.get(id).filter(|p| p.owner == *owner).cloned())
    }

    pub(super) fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        let (ids, has_more) = page_ids(self.projects_by_owner.get(owner), page);
        let data = ids
            .iter()
            .filter_map(|id| self.projects.get(id).cloned())
            .collect();
        Ok(Page { data, has_more })
    }

    pub(super) fn update_project(&mut self, project: &Project) -> Result<(), StoreError> {
        let stored = self
            .projects
            .get_mut(&project.id)
            .filter(|p| p.owner == project.owner)
            .ok_or(StoreError::NotFound("project"))?;
        stored.name.clone_from(&project.name);
        stored.description.clone_from(&project.description);
        stored.updated_at = project.updated_at;
        Ok(())
    }

    pub(super) fn delete_project(
        &mut self,
        owner: &UserId,
        id: &ProjectId,
    ) -> Result<bool, StoreError> {
        if !self.owns_project(owner, id) {
            return Ok(false);
        }
        self.projects.remove(id);
        if let Some(set) = self.projects_by_owner.get_mut(owner) {
            set.remove(id);
        }
        for agent in self.agents_by_project.remove(id).unwrap_or_default() {
            self.remove_agent(&agent);
        }
        for key in self.api_keys_by_project.remove(id).unwrap_or_default() {
            self.remove_api_key(&key);
        }
        Ok(true)
    }

    pub(super) fn insert_agent(&mut self, agent: &Agent) -> Result<(), StoreError> {
        if !self.owns_project(&agent.owner, &agent.project_id) {
            return Err(StoreError::NotFound("project"));
        }
        self.agents_by_project
            .entry(agent.project_id)
            .or_default()
            .insert(agent.id);
        self.agents.insert(agent.id, agent.clone());
        Ok(())
    }

    pub(super) fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        Ok(self.agents.get(id).filter(|a| a.owner == *owner).cloned())
    }

    pub(super) fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        if !self.owns_project(owner, project) {
            return Ok(Page {
                data: Vec::new(),
                has_more: false,
            });
        }
        let (ids, has_more) = page_ids(self.agents_by_project.get(project), page);
        let data = ids
            .iter()
            .filter_map(|id| self.agents.get(id).cloned())
            .collect();
        Ok(Page { data, has_more })
    }

    pub(super) fn update_agent(&mut self, agent: &Agent) -> Result<(), StoreError> {
        let stored = self
            .agents
            .get_mut(&agent.id)
            .filter(|a| a.owner == agent.owner)
            .ok_or(StoreError::NotFound("agent"))?;
        let (id, project_id, owner, created_at) = (
            stored.id,
            stored.project_id,
            stored.owner,
            stored.created_at,
        );
        *stored = Agent {
            id,
            project_id,
            owner,
            created_at,
            ..agent.clone()
        };
        Ok(())
    }

    pub(super) fn delete_agent(
        &mut self,
        owner: &UserId,
        id: &AgentId,
    ) -> Result<bool, StoreError> {
        if !self.owns_agent(owner, id) {
            return Ok(false);
        }
        self.remove_agent(id);
        Ok(true)
    }
}
