//! Who may call what: the API key of a request and the model of its path
//! (today's, retired, or unknown, with the real API's 403 / 400 / 404).

use serde_json::{json, Value};

use super::errors::{bad_key, google_error, not_found, reject};
use super::ModelPath;
use crate::http::Reply;
use crate::log::Record;
use crate::models::{self, Resolved, Spec};
use crate::server::{App, Inbound};

/// Checks the API key: `x-goog-api-key`, else `?key=`; `Some` is the refusal.
pub(super) fn check_key(app: &App, req: &Inbound, record: &Record) -> Option<Reply> {
    let header = req.header("x-goog-api-key").filter(|k| !k.is_empty());
    let query = req
        .query
        .get("key")
        .map(String::as_str)
        .filter(|k| !k.is_empty());
    let key = header.or(query);
    record.set("key", key.map_or(Value::Null, |k| json!(k)));
    let source = if header.is_some() {
        json!("header")
    } else if query.is_some() {
        json!("query")
    } else {
        Value::Null
    };
    record.set("key_source", source);
    let Some(key) = key else {
        return Some(reject(record, "no_key", google_error(403, Some("Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."), None, None)));
    };
    if app.api_key.as_deref().is_some_and(|k| k != key) {
        return Some(reject(record, "bad_key", bad_key()));
    }
    None
}

/// The model of the path, or the 404 the real API gives.
pub(super) fn resolve(
    app: &App,
    path: &ModelPath,
) -> Result<(String, Spec), (&'static str, Value)> {
    if path.tuned {
        return Ok((path.model.clone(), models_spec_any(&path.model)));
    }
    match models::resolve(&path.model, &app.extra_models) {
        Resolved::Served { version, spec } => Ok((version, spec)),
        Resolved::Retired { new_users } => {
            let m = &path.model;
            let message = if new_users {
                format!("This model models/{m} is no longer available to new users. Please update your code to use a newer model for the latest features and improvements.")
            } else {
                format!("This model models/{m} is no longer available. Please update your code to use a newer model for the latest features and improvements.")
            };
            Err((
                "model_retired",
                google_error(404, Some(&message), None, None),
            ))
        }
        Resolved::Unknown => Err(("model_not_found", not_found(path))),
    }
}

/// The spec of a tuned model: what its id looks like (any id is served
/// as `*` serves it), else the plainest.
fn models_spec_any(model: &str) -> Spec {
    match models::resolve(model, &["*".to_owned()]) {
        Resolved::Served { spec, .. } => spec,
        _ => Spec {
            gemini3: false,
            pro: false,
            levels: &[],
            default_level: "",
            strict: false,
        },
    }
}
