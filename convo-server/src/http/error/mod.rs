//! The contract's error envelope, and the one place statuses and codes are chosen.
//!
//! Every non-2xx response is `{"error": {code, message, param, request_id,
//! retryable}}` with an `x-request-id` header: engine errors through
//! [`ApiError::from`], framework errors (bad JSON, wrong content type, missing
//! auth, unknown route, body too large) through [`ApiError::from_poem`], and
//! panics through [`PanicToEnvelope`]. Internal details are logged, never sent.
//!
//! Here: the envelope and [`ApiError`]; `from_engine` and `from_poem` map the
//! two sources of errors; `responses` declares each operation kind's statuses.

use std::time::Duration;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::Object;

mod from_engine;
mod from_poem;
mod responses;
#[cfg(test)]
mod tests;

pub(crate) use from_poem::failed_field;
pub use responses::{AuthError, ReadError, TurnError, WriteError};

tokio::task_local! {
    /// The id of the request being served (set by the request middleware).
    pub static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// The body of every error response.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorObject,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Clone, Object)]
pub struct ErrorObject {
    /// Stable machine-readable code, e.g. `not_found`, `validation_failed`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault, for `validation_failed`; null otherwise.
    #[oai(nullable)]
    pub param: Option<String>,
    /// The `x-request-id` of the failed request, for support.
    pub request_id: String,
    /// Whether repeating the same request later can succeed.
    pub retryable: bool,
}

/// An error on its way to becoming a response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Contract code.
    pub code: &'static str,
    /// Message for the client (never internal details).
    pub message: String,
    /// Offending field.
    pub param: Option<String>,
    /// Whether a retry can succeed.
    pub retryable: bool,
    /// Seconds for the `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A non-retryable error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            param: None,
            retryable: false,
            retry_after: None,
        }
    }

    /// Marks it retryable, optionally after a delay.
    pub fn retry(mut self, after: Option<Duration>) -> Self {
        self.retryable = true;
        self.retry_after = after.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        self
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "missing, expired, revoked or invalid credentials",
        )
    }

    /// 503 `identity_provider_unavailable` (retryable): a single sign-on
    /// token could not be checked, as its issuer's keys could not be had.
    pub fn identity_provider_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "identity_provider_unavailable",
            "the identity provider cannot be reached to check this token; try again shortly",
        )
        .retry(None)
    }

    /// 500 `internal`; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// The envelope, stamped with the current request id.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                code: self.code.to_owned(),
                message: self.message.clone(),
                param: self.param.clone(),
                request_id: current_request_id(),
                retryable: self.retryable,
            },
        }
    }
}

impl ApiError {
    /// 422 `validation_failed` naming `param`.
    pub fn validation(param: String, message: String) -> Self {
        Self {
            param: Some(param),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
        }
    }
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            error: ErrorObject {
                code: "not_found".into(),
                message: "chat session not found".into(),
                param: None,
                request_id: "0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e".into(),
                retryable: false,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = Json(self.body()).with_status(self.status).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert("retry-after", secs.into());
        }
        resp
    }
}

/// Answers a panic in a handler with a plain 500 envelope.
#[derive(Debug, Clone, Copy)]
pub struct PanicToEnvelope;

impl poem::middleware::PanicHandler for PanicToEnvelope {
    type Response = Response;

    fn get_response(&self, err: Box<dyn std::any::Any + Send + 'static>) -> Response {
        let detail = err
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| err.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-text panic".to_owned());
        ApiError::internal(format!("handler panicked: {detail}")).into_response()
    }
}
