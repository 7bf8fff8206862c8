//! Engine errors ([`ConvoError`], including the model provider's
//! [`LlmError`]s) mapped to the contract's statuses and codes.

use convo_core::{ConvoError, LlmError, StoreError};
use poem::http::StatusCode;

use super::ApiError;

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
            ConvoError::ToolOutputsRequired => Self::new(
                StatusCode::CONFLICT,
                "tool_outputs_required",
                "the turn waits for the outputs of its pending tool calls: post them to \
                 `POST /api/chat/{id}/tool_outputs`, or cancel the turn",
            ),
            ConvoError::NoPendingToolCalls => Self::new(
                StatusCode::CONFLICT,
                "no_pending_tool_calls",
                "the chat session has no pending tool calls",
            ),
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
            ConvoError::InsufficientScope(what) => Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this API key's scope does not allow {what}"),
            ),
            ConvoError::KeyRateLimited { limit, retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("this API key's limit of {limit} requests per minute is reached"),
            )
            .retry(Some(retry_after)),
            ConvoError::EndUserQuotaExceeded { resets_at } => {
                let wait = (resets_at - convo_core::now())
                    .to_std()
                    .unwrap_or(std::time::Duration::ZERO);
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota_exceeded",
                    format!(
                        "the end user's monthly token budget is spent; it resets at {}",
                        resets_at.to_rfc3339()
                    ),
                )
                .retry(Some(wait))
            }
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
