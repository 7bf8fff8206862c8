//! Projects.

use chrono::{DateTime, Utc};
use convo_core as core;
use poem_openapi::Object;

use crate::http::pattern::{Matching, NameRule};
use crate::http::text::Text;

/// A project: a user's container of agents.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct Project {
    /// Unique id.
    pub id: String,
    /// Name (1–200 characters).
    pub name: String,
    /// Free-form description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// When it was created.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<core::Project> for Project {
    fn from(p: core::Project) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A new project.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateProject {
    /// Name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Matching<NameRule>,
    /// Description (at most 10,000 characters).
    #[oai(nullable)]
    #[oai(validator(max_length = 10000))]
    pub description: Option<Text>,
}

/// Changes to a project; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UpdateProject {
    /// New name (1–200 characters).
    #[oai(nullable)]
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<Matching<NameRule>>,
    /// New description.
    #[oai(nullable)]
    #[oai(validator(max_length = 10000))]
    pub description: Option<Text>,
}
