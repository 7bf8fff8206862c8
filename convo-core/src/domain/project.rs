//! Projects: a user's top-level container of agents.

use serde::{Deserialize, Serialize};

use super::{ProjectId, Timestamp, UserId};

/// A project, owned by one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Unique id.
    pub id: ProjectId,
    /// The owning user.
    pub owner: UserId,
    /// Display name (1–200 characters).
    pub name: String,
    /// Free-form description.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// The fields a caller may set when creating a project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewProject {
    /// Display name (1–200 characters).
    pub name: String,
    /// Free-form description (at most 10,000 characters).
    pub description: Option<String>,
}

/// A partial update of a project: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}
