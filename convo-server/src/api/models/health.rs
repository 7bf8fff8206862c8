//! Health and readiness.

use poem_openapi::Object;

/// Health and readiness.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
}
