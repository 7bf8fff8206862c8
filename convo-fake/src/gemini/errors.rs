//! Google's error bodies: the refusals of a request and the errors the
//! status faults answer with, as the real API words them
//! ("Troubleshooting", <https://ai.google.dev/gemini-api/docs/troubleshooting>,
//! read 2026-11-30).

use serde_json::{json, Value};

use super::ModelPath;
use crate::http::{self, Reply};
use crate::knobs::{Fault, Knobs};
use crate::log::Record;

/// A Google error body: `{"error": {code, message, status[, details]}}`.
pub(super) fn google_error(
    code: u16,
    message: Option<&str>,
    details: Option<Value>,
    status: Option<&str>,
) -> Value {
    let (default_status, default_message) = match code {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => ("UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."),
        403 => ("PERMISSION_DENIED", "The caller does not have permission"),
        404 => ("NOT_FOUND", "Requested entity was not found."),
        429 => ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
        500 => ("INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
        503 => ("UNAVAILABLE", "The model is overloaded. Please try again later."),
        504 => ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        _ => ("UNKNOWN", "Unknown error"),
    };
    let mut error = json!({"code": code, "message": message.unwrap_or(default_message), "status": status.unwrap_or(default_status)});
    if let Some(details) = details {
        error["details"] = details;
    }
    json!({ "error": error })
}

/// The refusal of a request, recorded with its outcome.
pub(super) fn reject(record: &Record, outcome: &str, body: Value) -> Reply {
    record.set("outcome", json!(outcome));
    record.set("error", body["error"]["message"].clone());
    let status = body["error"]["code"].as_u64().unwrap_or(400) as u16;
    http::json(status, &body, &[])
}

/// The refusal of a body that is not JSON.
pub(super) fn bad_json(record: &Record, e: &serde_json::Error) -> Reply {
    reject(
        record,
        "bad_json",
        google_error(
            400,
            Some(&format!("Invalid JSON payload received. {e}")),
            None,
            None,
        ),
    )
}

/// The refusal of bad knobs.
pub(super) fn bad_knobs(record: &Record, message: &str) -> Reply {
    reject(
        record,
        "bad_knobs",
        google_error(400, Some(message), None, None),
    )
}

/// The invalid-key 400 (`API_KEY_INVALID`).
pub(super) fn bad_key() -> Value {
    google_error(
        400,
        Some("API key not valid. Please pass a valid API key."),
        Some(
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
        ),
        None,
    )
}

/// The unknown-model 404.
pub(super) fn not_found(path: &ModelPath) -> Value {
    let message = format!(
        "models/{} is not found for API version {}, or is not supported for {}. Call ListModels to see the list of available models and their supported methods.",
        path.model, path.version, path.method
    );
    google_error(404, Some(&message), None, None)
}

/// The 429 details: QuotaFailure, Help and (unless a per-day quota) RetryInfo.
fn quota_details(knobs: &Knobs, retry_info: bool) -> Value {
    let quota_id = if retry_info {
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    } else {
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    };
    let mut details = vec![
        json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": quota_id}]}),
        json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}),
    ];
    if retry_info {
        details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": knobs.text("retry_delay").unwrap_or("1s")}));
    }
    Value::Array(details)
}

/// The HTTP error a fault answers with, if it is one.
pub(super) fn fault_error(fault: Fault, knobs: &Knobs, path: &ModelPath) -> Option<Value> {
    Some(match fault {
        Fault::BadRequest => google_error(400, None, None, None),
        Fault::BadKey => bad_key(),
        Fault::FailedPrecondition => google_error(
            400,
            Some("User location is not supported for the API use."),
            None,
            Some("FAILED_PRECONDITION"),
        ),
        Fault::Unauthenticated => google_error(401, None, None, None),
        Fault::PermissionDenied => google_error(403, None, None, None),
        Fault::NotFound => not_found(path),
        Fault::RateLimited => google_error(429, None, Some(quota_details(knobs, true)), None),
        Fault::RateLimitedNoRetryInfo => {
            google_error(429, None, Some(quota_details(knobs, false)), None)
        }
        Fault::Internal => google_error(500, None, None, None),
        Fault::Unavailable => google_error(503, None, None, None),
        Fault::DeadlineExceeded => google_error(504, None, None, None),
        _ => return None,
    })
}
