//! Health and readiness probes.

use poem_openapi::payload::Json;

use crate::http::json::JsonOut;
use poem_openapi::{ApiResponse, OpenApi};

use super::models::Health;
use super::ApiTags;
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use poem::http::StatusCode;

/// Probe operations.
pub struct OpsApi {
    state: AppState,
}

impl OpsApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// Liveness.
#[derive(ApiResponse)]
pub enum Healthz {
    /// The process is up.
    #[oai(status = 200)]
    Ok(JsonOut<Health>),
}

/// Readiness.
#[derive(ApiResponse)]
pub enum Readyz {
    /// The store answers.
    #[oai(status = 200)]
    Ok(JsonOut<Health>),
    /// `store_unavailable`: the store does not answer.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[OpenApi(tag = "ApiTags::Operations")]
impl OpsApi {
    /// Liveness probe
    ///
    /// 200 whenever the process is up.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Healthz {
        Healthz::Ok(JsonOut(Health {
            status: "ok".into(),
        }))
    }

    /// Readiness probe
    ///
    /// 200 when the store answers, 503 when it does not.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> Readyz {
        match self.state.convo.ping_store().await {
            Ok(()) => Readyz::Ok(JsonOut(Health {
                status: "ok".into(),
            })),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                let err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database cannot be reached",
                );
                Readyz::Unavailable(Json(err.retry(None).body()))
            }
        }
    }
}
