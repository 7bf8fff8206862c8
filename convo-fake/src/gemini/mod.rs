//! Gemini's REST API (`v1beta`): `generateContent`, `streamGenerateContent`
//! and `countTokens`, with today's validation, thinking and signatures.
//!
//! Wire shapes from "Generating content", <https://ai.google.dev/api/generate-content>
//! (read 2026-11-30): `GenerateContentResponse {candidates[], promptFeedback,
//! usageMetadata, modelVersion, responseId}`, SSE with `alt=sse` as
//! `data: {chunk}` events, each chunk carrying `usageMetadata`; errors as
//! `{"error": {code, message, status, details}}` ("Troubleshooting",
//! <https://ai.google.dev/gemini-api/docs/troubleshooting>, read 2026-11-30).
//!
//! This module routes; `access` checks the key and the model, `validate`
//! the request, `count_tokens` and `generate` answer, `request` reads what
//! a request says, `plan` decides the answer, `response` shapes its JSON,
//! `stream` its chunks and body, `safety` the withheld answers, `errors`
//! Google's error bodies.

use std::sync::Arc;

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::http::{self, Abort, Reply};
use crate::server::{App, Inbound};
use errors::google_error;

mod access;
mod count_tokens;
mod errors;
mod generate;
mod plan;
mod request;
mod response;
mod safety;
mod stream;
mod validate;

/// The path of a model method: `/{version}/{models|tunedModels}/{id}:{method}`.
struct ModelPath {
    version: String,
    tuned: bool,
    model: String,
    method: String,
}

/// The model path of `path`, if it is one.
fn parse_path(path: &str) -> Option<ModelPath> {
    let rest = path.strip_prefix('/')?;
    let (version, rest) = rest.split_once('/')?;
    if !matches!(version, "v1beta" | "v1" | "v1alpha") {
        return None;
    }
    let (collection, rest) = rest.split_once('/')?;
    let (model, method) = rest.split_once(':')?;
    let ok = matches!(collection, "models" | "tunedModels")
        && !model.is_empty()
        && !model.contains('/')
        && !method.is_empty()
        && method.chars().all(|c| c.is_ascii_alphabetic());
    ok.then(|| ModelPath {
        version: version.to_owned(),
        tuned: collection == "tunedModels",
        model: model.to_owned(),
        method: method.to_owned(),
    })
}

/// Routes a Gemini model request (or answers 404 for any other path).
pub async fn route(app: &Arc<App>, req: Inbound) -> Result<Reply, Abort> {
    let Some(path) = parse_path(&req.path) else {
        let message = format!("convo-fake: no route for {} {}", req.method, req.path);
        return Ok(http::json(
            404,
            &google_error(404, Some(&message), None, None),
            &[],
        ));
    };
    if req.method != Method::POST {
        return Ok(crate::server::not_allowed());
    }
    let query: Map<String, Value> = req
        .query
        .iter()
        .filter(|(k, _)| k.as_str() != "key")
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let header = |name: &str| req.header(name).map_or(Value::Null, |v| json!(v));
    let entry = json!({
        "time": chrono_now(),
        "method": req.method.as_str(),
        "path": req.path,
        "query": query,
        "api_version": path.version,
        "model": path.model,
        "rpc": path.method,
        "headers": {
            "content-type": header("content-type"),
            "user-agent": header("user-agent"),
            "x-goog-api-client": header("x-goog-api-client"),
            "x-fake-gemini": header("x-fake-gemini"),
            "x-server-timeout": header("x-server-timeout"),
        },
    });
    let Value::Object(entry) = entry else {
        return Err(Abort);
    };
    let record = app.log.record(entry);
    let busy = app.log.in_flight();
    match path.method.as_str() {
        "generateContent" | "streamGenerateContent" => {
            generate::generate(app, &req, &path, record, busy).await
        }
        "countTokens" => Ok(count_tokens::count_tokens(app, &req, &path, &record)),
        other => {
            record.set("outcome", json!("not_found"));
            let message = format!("convo-fake: unsupported method {other}");
            Ok(http::json(
                404,
                &google_error(404, Some(&message), None, None),
                &[],
            ))
        }
    }
}

/// Seconds since the epoch, as the log's `time` (no clock crate for one field).
fn chrono_now() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    json!(now)
}
