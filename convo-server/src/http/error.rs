//! The contract's error envelope, and the one place statuses and codes are chosen.
//!
//! Every non-2xx response is `{"error": {code, message, param, request_id,
//! retryable}}` with an `x-request-id` header: engine errors through
//! [`ApiError::from`], framework errors (bad JSON, wrong content type, missing
//! auth, unknown route, body too large) through [`ApiError::from_poem`], and
//! panics through [`PanicToEnvelope`]. Internal details are logged, never sent.

use std::time::Duration;

use convo_core::{ConvoError, LlmError, StoreError};
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::Object;

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

    /// Maps an error raised by poem itself (or passes through one of ours).
    pub fn from_poem(err: &poem::Error) -> Self {
        use poem::error::{MethodNotAllowedError, NotFoundError, ParsePathError};
        use poem_openapi::error::{
            AuthorizationError, ContentTypeError, ParseParamError, ParseRequestPayloadError,
        };
        let status = err.status();
        if err.is::<ContentTypeError>() || status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            )
        } else if let Some(field) = err
            .downcast_ref::<ParseRequestPayloadError>()
            .and_then(|e| failed_field(&e.reason))
        {
            Self::broken_rule(field, err)
        } else if err.is::<ParseRequestPayloadError>() {
            Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("malformed request body: {}", err_text(err)),
            )
        } else if let Some(e) = err
            .downcast_ref::<ParseParamError>()
            // A rule stated in the document: poem-openapi's validators say
            // "verification failed. …", as do `api::pattern`'s types inside
            // their "failed to parse …".
            .filter(|e| e.reason.contains("verification failed"))
        {
            Self::broken_rule(e.name.to_owned(), err)
        } else if err.is::<ParseParamError>() || err.is::<ParsePathError>() {
            Self::new(StatusCode::BAD_REQUEST, "invalid_request", err_text(err))
        } else if err.is::<AuthorizationError>() || status == StatusCode::UNAUTHORIZED {
            Self::unauthenticated()
        } else if err.is::<NotFoundError>() || status == StatusCode::NOT_FOUND {
            Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
        } else if err.is::<MethodNotAllowedError>() || status == StatusCode::METHOD_NOT_ALLOWED {
            Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        } else if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::LENGTH_REQUIRED {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is over the size limit",
            )
        } else if status == StatusCode::REQUEST_TIMEOUT {
            // A client sent its body too slowly; sent in time, it can succeed.
            Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            )
            .retry(None)
        } else if err.is::<poem::error::CorsError>() {
            Self::new(
                StatusCode::FORBIDDEN,
                "cors_rejected",
                format!("cross-origin request refused: {}", err_text(err)),
            )
        } else if status.is_client_error() {
            Self::new(status, "invalid_request", err_text(err))
        } else {
            Self::internal(err)
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

impl ApiError {
    /// 422 for `field`, which broke a rule stated in the OpenAPI document:
    /// "`name` does not satisfy pattern("\S")", without the parser's
    /// framing ("failed to parse …", "(occurred while parsing …)").
    fn broken_rule(field: String, err: &poem::Error) -> Self {
        let text = err_text(err);
        let rule = text.split_once("verification failed. ").map(|(_, rule)| {
            rule.split(" (occurred while parsing")
                .next()
                .unwrap_or(rule)
        });
        match rule {
            Some(rule) => {
                let message = format!("`{field}` does not satisfy {rule}");
                Self::validation(field, message)
            }
            None => Self::validation(field, text),
        }
    }
}

/// The field named by poem-openapi's "field `x` verification failed" (a body
/// field that broke a rule stated in the OpenAPI document), which the
/// contract answers as 422 with `param`, like the engine's own checks.
pub(crate) fn failed_field(reason: &str) -> Option<String> {
    let rest = reason.split("field `").nth(1)?;
    let (field, tail) = rest.split_once('`')?;
    tail.trim_start()
        .starts_with("verification failed")
        .then(|| field.to_owned())
}

/// An error's text, without poem's debug decorations and bounded in length.
fn err_text(err: &poem::Error) -> String {
    let mut text = err.to_string();
    if text.len() > 500 {
        let cut = (0..=500)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
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

impl From<ConvoError> for ApiError {
    fn from(err: ConvoError) -> Self {
        match err {
            ConvoError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            ConvoError::Invalid { field, reason } => Self {
                // The engine's `idempotency_key` arrives here as a header.
                param: Some(
                    if field == "idempotency_key" {
                        "Idempotency-Key"
                    } else {
                        field
                    }
                    .to_owned(),
                ),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!("invalid {field}: {reason}"),
                )
            },
            ConvoError::EmailTaken => Self::new(
                StatusCode::CONFLICT,
                "email_taken",
                "that email is already registered",
            ),
            ConvoError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid email or password",
            ),
            ConvoError::TurnInProgress => Self::new(
                StatusCode::CONFLICT,
                "turn_in_progress",
                "a reply is already being generated in this chat session",
            )
            .retry(None),
            ConvoError::QuotaExceeded { resets_at } => {
                let wait = (resets_at - convo_core::now())
                    .to_std()
                    .unwrap_or(std::time::Duration::ZERO);
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota_exceeded",
                    format!(
                        "the monthly token budget is spent; it resets at {}",
                        resets_at.to_rfc3339()
                    ),
                )
                .retry(Some(wait))
            }
            ConvoError::RateLimited { retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many turns running at once; try again shortly",
            )
            .retry(Some(retry_after)),
            ConvoError::Store(StoreError::Unavailable(detail)) => {
                tracing::warn!(detail = %detail, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database cannot be reached",
                )
                .retry(None)
            }
            ConvoError::Store(other) => Self::internal(other),
            ConvoError::Llm(e) => Self::from_llm(e),
            ConvoError::Internal(detail) => Self::internal(detail),
        }
    }
}

impl ApiError {
    fn from_llm(err: LlmError) -> Self {
        tracing::warn!(error = %err, "model provider failed");
        match err {
            LlmError::Provider(msg) => Self::new(
                StatusCode::BAD_GATEWAY,
                "llm_error",
                format!("the model provider failed: {msg}"),
            ),
            LlmError::Blocked(reason) => Self::new(
                StatusCode::BAD_GATEWAY,
                "llm_blocked",
                format!("the model provider refused the prompt ({reason})"),
            ),
            LlmError::Unavailable {
                message,
                retry_after,
            } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "llm_unavailable",
                format!("the model provider is unavailable: {message}"),
            )
            .retry(retry_after),
            LlmError::Timeout => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "llm_timeout",
                "the model provider did not answer in time",
            )
            .retry(None),
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

/// Declares a response enum of error statuses for the OpenAPI document, and
/// its conversion from [`ApiError`]. A status the enum does not list becomes
/// its 500 variant (and is logged): that would be a bug in the declaration.
macro_rules! error_responses {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident = $status:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, poem_openapi::ApiResponse)]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                #[oai(status = $status)]
                $variant(
                    poem_openapi::payload::Json<$crate::http::error::ErrorBody>,
                    /// Seconds to wait before retrying (429 and some 503s).
                    #[oai(header = "Retry-After")] Option<u64>,
                ),
            )+
        }

        impl From<$crate::http::error::ApiError> for $name {
            fn from(err: $crate::http::error::ApiError) -> Self {
                let body = poem_openapi::payload::Json(err.body());
                match err.status.as_u16() {
                    $($status => Self::$variant(body, err.retry_after),)+
                    other => {
                        tracing::error!(status = other, code = err.code, "status not declared for this operation");
                        Self::from($crate::http::error::ApiError::internal("undeclared status"))
                    }
                }
            }
        }

        impl From<convo_core::ConvoError> for $name {
            fn from(err: convo_core::ConvoError) -> Self {
                Self::from($crate::http::error::ApiError::from(err))
            }
        }
    };
}

error_responses! {
    /// Errors of reads, lists and deletes.
    ReadError {
        /// `invalid_request`: a malformed query or path value.
        BadRequest = 400,
        /// `unauthenticated`: no, expired, revoked or invalid credentials.
        Unauthorized = 401,
        /// `not_found`: no such object, or not yours.
        NotFound = 404,
        /// `validation_failed`: a well-formed but invalid parameter (`param` names it).
        Validation = 422,
        /// `internal`: a bug.
        Internal = 500,
        /// `store_unavailable`: the database cannot be reached (retryable).
        Unavailable = 503,
    }
}

error_responses! {
    /// Errors of creates and updates.
    WriteError {
        /// `invalid_request`: malformed JSON or a bad path value.
        BadRequest = 400,
        /// `unauthenticated`: no, expired, revoked or invalid credentials.
        Unauthorized = 401,
        /// `not_found`: no such object, or not yours.
        NotFound = 404,
        /// `payload_too_large`: the body is over the size limit.
        PayloadTooLarge = 413,
        /// `unsupported_media_type`: the body is not `application/json`.
        UnsupportedMediaType = 415,
        /// `validation_failed`: a well-formed but invalid field (`param` names it).
        Validation = 422,
        /// `internal`: a bug.
        Internal = 500,
        /// `store_unavailable`: the database cannot be reached (retryable).
        Unavailable = 503,
    }
}

error_responses! {
    /// Errors of sending a message.
    TurnError {
        /// `invalid_request`: malformed JSON or a bad path value.
        BadRequest = 400,
        /// `unauthenticated`: no, expired, revoked or invalid credentials.
        Unauthorized = 401,
        /// `not_found`: no such chat session, or not yours.
        NotFound = 404,
        /// `turn_in_progress`: a reply is already being generated in this session (retryable).
        Conflict = 409,
        /// `payload_too_large`: the body is over the size limit.
        PayloadTooLarge = 413,
        /// `unsupported_media_type`: the body is not `application/json`.
        UnsupportedMediaType = 415,
        /// `validation_failed`: e.g. empty content or a bad `Idempotency-Key` (`param` names it).
        Validation = 422,
        /// `quota_exceeded` (the monthly token budget is spent; `Retry-After` until it resets) or
        /// `rate_limited` (too many turns running at once; `Retry-After` set).
        TooManyRequests = 429,
        /// `internal`: a bug.
        Internal = 500,
        /// `llm_error` (the model provider failed) or `llm_blocked` (it refused the prompt).
        BadGateway = 502,
        /// `llm_unavailable` (provider overloaded; `Retry-After` when known) or `store_unavailable`.
        Unavailable = 503,
        /// `llm_timeout`: the model provider did not answer in time (retryable).
        GatewayTimeout = 504,
    }
}

error_responses! {
    /// Errors of registering, logging in and getting a token.
    AuthError {
        /// `invalid_request`: malformed JSON.
        BadRequest = 400,
        /// `invalid_credentials`: wrong email or password (the same answer for both).
        Unauthorized = 401,
        /// `email_taken`: that email is already registered (case-insensitive).
        Conflict = 409,
        /// `payload_too_large`: the body is over the size limit.
        PayloadTooLarge = 413,
        /// `unsupported_media_type`: the body is not `application/json`.
        UnsupportedMediaType = 415,
        /// `validation_failed`: a bad email, a password outside 8–128 characters, a name over 200.
        Validation = 422,
        /// `rate_limited`: too many failed logins; `Retry-After` says when to try again.
        TooManyRequests = 429,
        /// `internal`: a bug.
        Internal = 500,
        /// `store_unavailable`: the database cannot be reached (retryable).
        Unavailable = 503,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::middleware::PanicHandler;

    #[tokio::test]
    async fn a_panic_becomes_a_500_envelope_that_reveals_nothing() {
        let resp = PanicToEnvelope.get_response(Box::new("secret detail from a bug"));
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = resp.into_body().into_string().await.expect("body");
        assert!(body.contains("\"code\":\"internal\""), "{body}");
        assert!(!body.contains("secret detail"), "{body}");
    }

    #[test]
    fn every_engine_error_maps_to_the_contracts_status_and_code() {
        use std::time::Duration;
        let cases: Vec<(ConvoError, u16, &str, bool)> = vec![
            (ConvoError::NotFound("agent"), 404, "not_found", false),
            (
                ConvoError::Invalid {
                    field: "name",
                    reason: "x".into(),
                },
                422,
                "validation_failed",
                false,
            ),
            (ConvoError::EmailTaken, 409, "email_taken", false),
            (
                ConvoError::InvalidCredentials,
                401,
                "invalid_credentials",
                false,
            ),
            (ConvoError::TurnInProgress, 409, "turn_in_progress", true),
            (
                ConvoError::Store(StoreError::Unavailable("down".into())),
                503,
                "store_unavailable",
                true,
            ),
            (
                ConvoError::Store(StoreError::Internal("bad".into())),
                500,
                "internal",
                false,
            ),
            (
                ConvoError::Llm(LlmError::Provider("x".into())),
                502,
                "llm_error",
                false,
            ),
            (
                ConvoError::Llm(LlmError::Blocked("SAFETY".into())),
                502,
                "llm_blocked",
                false,
            ),
            (
                ConvoError::Llm(LlmError::Unavailable {
                    message: "busy".into(),
                    retry_after: Some(Duration::from_millis(1500)),
                }),
                503,
                "llm_unavailable",
                true,
            ),
            (ConvoError::Llm(LlmError::Timeout), 504, "llm_timeout", true),
            (ConvoError::Internal("oops".into()), 500, "internal", false),
        ];
        for (err, status, code, retryable) in cases {
            let api = ApiError::from(err.clone());
            assert_eq!(
                (api.status.as_u16(), api.code, api.retryable),
                (status, code, retryable),
                "{err:?}"
            );
            assert_eq!(
                api.retryable,
                err.is_retryable(),
                "core and server agree on retryability of {err:?}"
            );
        }
        let unavailable = ApiError::from(ConvoError::Llm(LlmError::Unavailable {
            message: "m".into(),
            retry_after: Some(Duration::from_millis(1500)),
        }));
        assert_eq!(unavailable.retry_after, Some(2), "Retry-After rounds up");
        let invalid = ApiError::from(ConvoError::Invalid {
            field: "temperature",
            reason: "r".into(),
        });
        assert_eq!(invalid.param.as_deref(), Some("temperature"));
    }
}
