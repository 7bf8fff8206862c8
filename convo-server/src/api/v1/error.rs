//! [`OpenAiError`]: failures in OpenAI's error shape,
//! `{"error": {"message", "type", "param", "code"}}`, so OpenAI's SDKs raise
//! their usual exceptions (`BadRequestError`, `AuthenticationError`,
//! `NotFoundError`, `RateLimitError`, …).
//!
//! Statuses are the contract's, with one exception: a well-formed but
//! invalid field (our `422 validation_failed`) is `400`, as OpenAI answers
//! it. `type` follows the status; `code` is the contract's code (e.g.
//! `turn_in_progress`, `llm_timeout`), except OpenAI's own `model_not_found`
//! for an agent that is absent or someone else's and `invalid_api_key` for
//! a bad token.

use convo_core::ConvoError;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde::Serialize;

use super::params::Refusal;
use super::tools::ToolsError;
use crate::http::error::ApiError;

/// An error on its way to becoming an OpenAI-shaped response.
#[derive(Debug, Clone)]
pub struct OpenAiError {
    status: StatusCode,
    body: ErrorObject,
    retry_after: Option<u64>,
}

/// `{"error": …}`.
#[derive(Debug, Clone, Serialize)]
struct Envelope<'a> {
    error: &'a ErrorObject,
}

/// The `error` object.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject {
    /// For people.
    pub message: String,
    /// OpenAI's class: `invalid_request_error`, `authentication_error`,
    /// `rate_limit_error`, `server_error`, `api_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request field at fault.
    pub param: Option<String>,
    /// A machine-readable code.
    pub code: Option<String>,
}

impl OpenAiError {
    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: Option<&str>, message: impl Into<String>) -> Self {
        Self::from_api(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            message,
        ))
        .with_param(param)
    }

    /// 400 `invalid_request_error` for a field Convo refuses: code
    /// `unsupported_parameter` (OpenAI's code for a parameter a model does
    /// not support) or `unknown_parameter` (a field outside OpenAI's API).
    pub fn refused(refusal: &Refusal) -> Self {
        let code = match refusal {
            Refusal::Unsupported { .. } => "unsupported_parameter",
            Refusal::Unrecognized { .. } => "unknown_parameter",
        };
        Self::from_api(ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            refusal.message(),
        ))
        .with_param(Some(refusal.param()))
    }

    /// 400 `unsupported_parameter` about `param`, with its own message.
    pub fn unsupported(param: &str, message: impl Into<String>) -> Self {
        Self::from_api(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_parameter",
            message,
        ))
        .with_param(Some(param))
    }

    /// A request's tools that cannot be used.
    pub fn from_tools(err: ToolsError) -> Self {
        match err {
            ToolsError::Unsupported(param, message) => Self::unsupported(&param, message),
            ToolsError::Invalid(param, message) => Self::invalid(Some(&param), message),
        }
    }

    /// 401 `authentication_error`.
    pub fn unauthenticated() -> Self {
        Self::from_api(ApiError::unauthenticated())
    }

    /// 404 `model_not_found` for `model`.
    pub fn model_not_found(model: &str) -> Self {
        let shown: String = model.chars().take(100).collect();
        let mut err = Self::from_api(ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("The model `{shown}` does not exist or you do not have access to it."),
        ));
        err.body.param = Some("model".into());
        err
    }

    /// An engine error for a request about `model`.
    pub fn from_convo(err: ConvoError, model: &str) -> Self {
        match err {
            ConvoError::NotFound("agent") => Self::model_not_found(model),
            other => Self::from_api(ApiError::from(other)),
        }
    }

    /// One of the contract's errors, reshaped.
    pub fn from_api(err: ApiError) -> Self {
        let mut status = err.status;
        let (kind, code) = match status.as_u16() {
            401 => ("authentication_error", "invalid_api_key"),
            429 => ("rate_limit_error", err.code),
            // OpenAI answers invalid fields with 400.
            422 => {
                status = StatusCode::BAD_REQUEST;
                ("invalid_request_error", err.code)
            }
            500 => ("server_error", err.code),
            s if s >= 500 => ("api_error", err.code),
            _ => ("invalid_request_error", err.code),
        };
        // Our engine names the output cap `max_output_tokens`; OpenAI's
        // field is `max_tokens`. A request tool's fields are under `function`.
        let param = err.param.map(|p| {
            if p == "max_output_tokens" {
                "max_tokens".to_owned()
            } else if let Some((tool, field)) =
                p.split_once("].").filter(|(t, _)| t.starts_with("tools["))
            {
                format!("{tool}].function.{field}")
            } else {
                p
            }
        });
        let message = err.message.replace("max_output_tokens", "max_tokens");
        Self {
            status,
            body: ErrorObject {
                message,
                kind,
                param,
                code: Some(code.to_owned()),
            },
            retry_after: err.retry_after,
        }
    }

    /// A framework error (unknown route, wrong method, unreadable body).
    pub fn from_poem(err: &poem::Error) -> Self {
        Self::from_api(ApiError::from_poem(err))
    }

    fn with_param(mut self, param: Option<&str>) -> Self {
        self.body.param = param.map(str::to_owned);
        self
    }

    /// The `data:` of an error event in a stream that has already started.
    pub fn event_data(&self) -> String {
        serde_json::to_string(&Envelope { error: &self.body })
            .unwrap_or_else(|_| r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":"internal"}}"#.to_owned())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut resp = Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8")
            .body(self.event_data());
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert("retry-after", secs.into());
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convo_core::LlmError;

    #[test]
    fn engine_errors_become_openai_types_with_our_statuses() {
        let cases: Vec<(ConvoError, u16, &str, &str)> = vec![
            (
                ConvoError::NotFound("agent"),
                404,
                "invalid_request_error",
                "model_not_found",
            ),
            (
                ConvoError::NotFound("chat session"),
                404,
                "invalid_request_error",
                "not_found",
            ),
            (
                ConvoError::Invalid {
                    field: "max_output_tokens",
                    reason: "r".into(),
                },
                400,
                "invalid_request_error",
                "validation_failed",
            ),
            (
                ConvoError::TurnInProgress,
                409,
                "invalid_request_error",
                "turn_in_progress",
            ),
            (
                ConvoError::Llm(LlmError::Timeout),
                504,
                "api_error",
                "llm_timeout",
            ),
            (
                ConvoError::Internal("x".into()),
                500,
                "server_error",
                "internal",
            ),
        ];
        for (err, status, kind, code) in cases {
            let e = OpenAiError::from_convo(err.clone(), "agent-id");
            assert_eq!(
                (e.status.as_u16(), e.body.kind, e.body.code.as_deref()),
                (status, kind, Some(code)),
                "{err:?}"
            );
        }
        let e = OpenAiError::from_convo(
            ConvoError::Invalid {
                field: "max_output_tokens",
                reason: "r".into(),
            },
            "m",
        );
        assert_eq!(e.body.param.as_deref(), Some("max_tokens"));
        let e = OpenAiError::unauthenticated();
        assert_eq!(
            (e.status.as_u16(), e.body.kind),
            (401, "authentication_error")
        );
    }
}
