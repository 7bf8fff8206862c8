//! `/api/projects`: a user's projects.

use convo_core::{NewProject, ProjectPatch};
use poem_openapi::param::{Path, Query};

use crate::http::body::JsonBody;
use crate::http::json::JsonOut;
use poem_openapi::{ApiResponse, OpenApi};

use super::models::{CreateProject, Project, ProjectList, SortOrder, UpdateProject};
use super::{list_params, ApiTags};
use crate::credentials::Auth;
use crate::http::error::{ReadError, WriteError};
use crate::http::pattern::{CursorRule, Matching};
use crate::state::AppState;

/// Project operations.
pub struct ProjectsApi {
    state: AppState,
}

impl ProjectsApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// A project was created.
#[derive(ApiResponse)]
pub enum ProjectCreated {
    /// The new project.
    #[oai(status = 201)]
    Created(JsonOut<Project>),
}

/// A project.
#[derive(ApiResponse)]
pub enum ProjectFound {
    /// The project.
    #[oai(status = 200)]
    Ok(JsonOut<Project>),
}

/// A page of projects.
#[derive(ApiResponse)]
pub enum ProjectsListed {
    /// The page.
    #[oai(status = 200)]
    Ok(JsonOut<ProjectList>),
}

/// Something was deleted.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted, with everything it contained.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/projects", tag = "ApiTags::Projects")]
impl ProjectsApi {
    /// Create a project
    #[oai(path = "/", method = "post", operation_id = "create_project")]
    async fn create(
        &self,
        auth: Auth,
        body: JsonBody<CreateProject>,
    ) -> Result<ProjectCreated, WriteError> {
        let new = NewProject {
            name: body.0.name.into(),
            description: body.0.description.map(Into::into),
        };
        let project = self
            .state
            .convo
            .create_project(&auth.user("create projects")?.id, new)
            .await?;
        Ok(ProjectCreated::Created(JsonOut(project.into())))
    }

    /// List projects
    ///
    /// The caller's projects, newest first unless `order=asc`.
    #[oai(path = "/", method = "get", operation_id = "list_projects")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `desc` (newest first, the default) or `asc`.
        order: Query<Option<SortOrder>>,
        /// Start after this project id (exclusive).
        after: Query<Option<Matching<CursorRule>>>,
        /// End before this project id (exclusive): the previous page.
        before: Query<Option<Matching<CursorRule>>>,
    ) -> Result<ProjectsListed, ReadError> {
        let params = list_params(limit, order, after, before);
        let page = self
            .state
            .convo
            .list_projects(&auth.user("list projects")?.id, &params)
            .await?;
        Ok(ProjectsListed::Ok(JsonOut(ProjectList::from_page(page))))
    }

    /// Get a project
    #[oai(path = "/:project_id", method = "get", operation_id = "get_project")]
    async fn get(&self, auth: Auth, project_id: Path<String>) -> Result<ProjectFound, ReadError> {
        let project = self
            .state
            .convo
            .project(auth.caller(), &project_id.0)
            .await?;
        Ok(ProjectFound::Ok(JsonOut(project.into())))
    }

    /// Update a project
    ///
    /// Changes the fields present in the body; the others stay as they are.
    #[oai(
        path = "/:project_id",
        method = "patch",
        operation_id = "update_project"
    )]
    async fn update(
        &self,
        auth: Auth,
        project_id: Path<String>,
        body: JsonBody<UpdateProject>,
    ) -> Result<ProjectFound, WriteError> {
        let patch = ProjectPatch {
            name: body.0.name.map(Into::into),
            description: body.0.description.map(Into::into),
        };
        let project = self
            .state
            .convo
            .update_project(auth.caller(), &project_id.0, patch)
            .await?;
        Ok(ProjectFound::Ok(JsonOut(project.into())))
    }

    /// Delete a project
    ///
    /// Deletes the project with its agents, their chat sessions and messages.
    #[oai(
        path = "/:project_id",
        method = "delete",
        operation_id = "delete_project"
    )]
    async fn delete(&self, auth: Auth, project_id: Path<String>) -> Result<Deleted, ReadError> {
        self.state
            .convo
            .delete_project(&auth.user("delete projects")?.id, &project_id.0)
            .await?;
        Ok(Deleted::NoContent)
    }
}
