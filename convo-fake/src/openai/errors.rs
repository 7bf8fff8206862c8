//! OpenAI's error bodies, `{"error": {message, type, param, code}}`
//! ("Error codes", <https://platform.openai.com/docs/guides/error-codes>):
//! the refusals of a request and the errors the status faults answer with.

use serde_json::json;

use crate::http::{self, Reply};
use crate::knobs::{Fault, Knobs};

/// An error reply: `status` with OpenAI's error body.
pub(super) fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Reply {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    http::json(status, &body, &[])
}

/// A 400 `invalid_request_error` about `param` (a request the API refuses).
pub(super) fn invalid(message: &str, param: &str) -> Reply {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}});
    http::json(400, &body, &[])
}

/// A 400 `invalid_request_error` (bad knobs).
pub(super) fn bad_request(message: &str) -> Reply {
    error(400, message, "invalid_request_error", None)
}

/// The error reply of a status fault, if `fault` is one.
pub(super) fn status_fault(fault: Fault, model: &str, knobs: &Knobs) -> Option<Reply> {
    Some(match fault {
        Fault::BadRequest => error(400, "Invalid request.", "invalid_request_error", None),
        Fault::Unauthenticated | Fault::BadKey => error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        Fault::PermissionDenied | Fault::FailedPrecondition => error(
            403,
            "Country, region, or territory not supported.",
            "request_forbidden",
            Some("unsupported_country_region_territory"),
        ),
        Fault::NotFound => error(
            404,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
        ),
        Fault::RateLimited => {
            // Retry-After is whole seconds (RFC 9110, section 10.2.3).
            let seconds = knobs
                .text("retry_delay")
                .unwrap_or("1s")
                .trim_end_matches('s')
                .parse::<f64>()
                .map_or(1, |s| s.ceil() as u64)
                .to_string();
            let mut r = error(
                429,
                "Rate limit reached for requests. Please try again later.",
                "requests",
                Some("rate_limit_exceeded"),
            );
            if let Ok(v) = hyper::header::HeaderValue::from_str(&seconds) {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        Fault::RateLimitedNoRetryInfo => error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Fault::Internal => error(
            500,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        Fault::Unavailable => error(
            503,
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        Fault::DeadlineExceeded => error(504, "Gateway timeout.", "server_error", None),
        _ => return None,
    })
}
