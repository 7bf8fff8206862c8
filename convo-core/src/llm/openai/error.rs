//! OpenAI-compatible error bodies → the contract's classes, the same as
//! Gemini's: rate limits and overload are [`LlmError::Unavailable`] (with the
//! wait the server asked for), gateway timeouts [`LlmError::Timeout`], content
//! filters [`LlmError::Blocked`], everything else [`LlmError::Provider`].
//!
//! Servers disagree on the shape: OpenAI writes `{"error": {"message", "type",
//! "param", "code"}}` with a string `code`, vLLM a numeric one, some gateways
//! `{"error": "text"}`. All are read; none is required.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::llm::http::retry_after_header;
use crate::llm::LlmError;

/// The parts of an error object Convo looks at.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ApiError {
    /// `message` (or the whole error, when it is a string).
    pub message: String,
    /// `type`, e.g. `invalid_request_error`, `server_error`.
    pub kind: String,
    /// `code` when it is a string, e.g. `rate_limit_exceeded`.
    pub code: String,
    /// `code` when it is a number (an HTTP status).
    pub status: Option<u16>,
}

impl ApiError {
    /// Reads the value of an `error` field.
    pub fn from_value(value: &Value) -> Self {
        if let Some(text) = value.as_str() {
            return Self {
                message: text.to_owned(),
                ..Self::default()
            };
        }
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let code = value.get("code");
        Self {
            message: text("message"),
            kind: text("type"),
            code: code.and_then(Value::as_str).unwrap_or("").to_owned(),
            status: code
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (100..=599).contains(n)),
        }
    }

    /// The HTTP status an error inside a 200 stream stands for: its numeric
    /// code, else one read from its type or code, else 500 (a server error).
    pub fn implied_status(&self) -> u16 {
        if let Some(status) = self.status {
            return status;
        }
        let words = format!("{} {}", self.kind, self.code).to_ascii_lowercase();
        let has = |w: &str| words.contains(w);
        if has("rate_limit") || has("insufficient_quota") {
            429
        } else if has("invalid_api_key") || has("authentication") {
            401
        } else if has("permission") {
            403
        } else if has("not_found") {
            404
        } else if has("invalid_request") || has("badrequest") || has("content_filter") {
            400
        } else {
            500
        }
    }
}

/// The error for an HTTP error status with (maybe) an error body; the wait a
/// 429 or 5xx asks for comes from `Retry-After`/`retry-after-ms`.
///
/// Messages help an operator (bad key, unknown model) and never contain the key.
pub fn error_for_status(status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").map(ApiError::from_value))
        .unwrap_or_default();
    error_from_api(status, retry_after_header(headers), &parsed)
}

/// The error for the value of an `error` field inside a 200 answer.
pub fn embedded(value: &Value) -> LlmError {
    let err = ApiError::from_value(value);
    error_from_api(err.implied_status(), None, &err)
}

/// The error for `status` and what the body said.
pub fn error_from_api(status: u16, retry_after: Option<Duration>, err: &ApiError) -> LlmError {
    let message: String = err.message.chars().take(300).collect();
    let label = [err.code.as_str(), err.kind.as_str()]
        .into_iter()
        .find(|s| !s.is_empty());
    let detail = match label {
        Some(label) => format!("HTTP {status} {label}"),
        None => format!("HTTP {status}"),
    };
    let text = if message.is_empty() {
        detail
    } else {
        format!("{detail}: {message}")
    };
    let is = |word: &str| err.code == word || err.kind == word;
    if is("content_filter") || is("content_policy_violation") {
        // Azure OpenAI's prompt filter: the provider refused the prompt.
        return LlmError::Blocked(format!("the prompt was filtered ({text})"));
    }
    match status {
        // A spent billing quota will not come back in a few seconds.
        429 if is("insufficient_quota") => LlmError::Provider(format!(
            "the model API's quota is used up: check the account ({text})"
        )),
        429 => LlmError::Unavailable {
            message: format!("the model API is rate-limiting ({text})"),
            retry_after,
        },
        408 | 504 => LlmError::Timeout,
        500..=599 => LlmError::Unavailable {
            message: format!("the model API is unavailable ({text})"),
            retry_after,
        },
        401 | 403 => LlmError::Provider(format!(
            "the model API refused the credentials: check the API key ({text})"
        )),
        404 => LlmError::Provider(format!(
            "the model API does not know this model or path: check the base URL and model ({text})"
        )),
        _ => LlmError::Provider(format!("the model API rejected the request ({text})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Whether an error is the expected one.
    type Check = fn(&LlmError) -> bool;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("retry-after", retry_after.parse().expect("a header value"));
        map
    }

    fn body(value: Value) -> Vec<u8> {
        serde_json::to_vec(&value).expect("json")
    }

    #[test]
    fn error_statuses_map_to_the_contracts_classes() {
        let openai = |kind: &str, code: &str| {
            body(json!({"error": {"message": "nope", "type": kind, "param": null, "code": code}}))
        };
        let rate = error_for_status(
            429,
            &headers("7"),
            &openai("requests", "rate_limit_exceeded"),
        );
        assert_eq!(
            rate,
            LlmError::Unavailable {
                message: "the model API is rate-limiting (HTTP 429 rate_limit_exceeded: nope)"
                    .into(),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        let cases: [(u16, Vec<u8>, Check); 9] = [
            (429, b"{}".to_vec(), |e| {
                matches!(
                    e,
                    LlmError::Unavailable {
                        retry_after: None,
                        ..
                    }
                )
            }),
            (500, b"".to_vec(), |e| {
                matches!(e, LlmError::Unavailable { .. })
            }),
            (503, b"<html>busy</html>".to_vec(), |e| {
                matches!(e, LlmError::Unavailable { .. })
            }),
            (504, b"".to_vec(), |e| *e == LlmError::Timeout),
            (408, b"".to_vec(), |e| *e == LlmError::Timeout),
            (
                401,
                openai("invalid_request_error", "invalid_api_key"),
                |e| matches!(e, LlmError::Provider(m) if m.contains("API key")),
            ),
            (
                404,
                openai("invalid_request_error", "model_not_found"),
                |e| matches!(e, LlmError::Provider(m) if m.contains("model")),
            ),
            (
                429,
                openai("insufficient_quota", "insufficient_quota"),
                |e| matches!(e, LlmError::Provider(m) if m.contains("quota")),
            ),
            (
                400,
                openai("invalid_request_error", "content_filter"),
                |e| matches!(e, LlmError::Blocked(_)),
            ),
        ];
        for (status, body, expected) in cases {
            let err = error_for_status(status, &HeaderMap::new(), &body);
            assert!(
                expected(&err),
                "{status} {}: {err:?}",
                String::from_utf8_lossy(&body)
            );
        }
        for status in [400, 403, 422] {
            assert!(
                matches!(
                    error_for_status(status, &HeaderMap::new(), b"{}"),
                    LlmError::Provider(_)
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn error_bodies_of_every_shape_are_read() {
        let vllm = ApiError::from_value(
            &json!({"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}),
        );
        assert_eq!((vllm.status, vllm.message.as_str()), (Some(400), "bad"));
        let text = ApiError::from_value(&json!("model 'x' not found"));
        assert_eq!(text.message, "model 'x' not found");
        let odd = ApiError::from_value(&json!({"code": 70000, "message": 5}));
        assert_eq!(odd, ApiError::default());
    }

    #[test]
    fn an_error_inside_a_200_stream_takes_its_class_from_its_code_or_type() {
        let cases = [
            (
                json!({"message": "boom", "type": "server_error", "code": null}),
                "unavailable",
            ),
            (
                json!({"message": "slow down", "type": "tokens", "code": "rate_limit_exceeded"}),
                "unavailable",
            ),
            (
                json!({"message": "busy", "type": "overloaded_error"}),
                "unavailable",
            ),
            (
                json!({"message": "too long", "type": "BadRequestError", "code": 400}),
                "provider",
            ),
            (
                json!({"message": "bad", "type": "invalid_request_error"}),
                "provider",
            ),
            (
                json!({"message": "filtered", "code": "content_filter"}),
                "blocked",
            ),
            (json!("something broke"), "unavailable"),
        ];
        for (value, class) in cases {
            let got = match embedded(&value) {
                LlmError::Unavailable { .. } => "unavailable",
                LlmError::Provider(_) => "provider",
                LlmError::Blocked(_) => "blocked",
                LlmError::Timeout => "timeout",
            };
            assert_eq!(got, class, "{value}");
        }
    }
}
