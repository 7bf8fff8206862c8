//! `countTokens`: the prompt's tokens, for a bare `contents` or a whole
//! `generateContentRequest` (checked like `generateContent`).

use serde_json::{json, Value};

use super::access::{check_key, resolve};
use super::errors::{bad_json, google_error, reject};
use super::request::{count_text, json_body, prompt_tokens};
use super::{validate, ModelPath};
use crate::http::{self, Reply};
use crate::log::Record;
use crate::server::{App, Inbound};
use crate::text::approx_tokens;

/// `countTokens`: `{"totalTokens": N, "promptTokensDetails": […]}`.
pub(super) fn count_tokens(app: &App, req: &Inbound, path: &ModelPath, record: &Record) -> Reply {
    if let Some(reply) = check_key(app, req, record) {
        return reply;
    }
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return bad_json(record, &e),
    };
    record.set("body", body.clone());
    let spec = match resolve(app, path) {
        Ok((_, spec)) => spec,
        Err((outcome, error)) => return reject(record, outcome, error),
    };
    let inner = validate::field(&body, "generateContentRequest");
    let lenient = app.base_knobs().lenient();
    let tokens = match inner {
        Some(inner) => match validate::request(inner, &spec, lenient, &app.signer, &["model"]) {
            Ok(()) => prompt_tokens(inner),
            Err(message) => {
                return reject(
                    record,
                    "invalid",
                    google_error(400, Some(&message), None, None),
                )
            }
        },
        None => {
            let contents = validate::field(&body, "contents")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            approx_tokens(
                &contents
                    .iter()
                    .map(count_text)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }
    };
    record.set("outcome", json!("ok"));
    http::json(
        200,
        &json!({"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}),
        &[],
    )
}
