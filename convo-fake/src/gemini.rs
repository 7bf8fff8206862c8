//! Gemini's REST API (`v1beta`): `generateContent`, `streamGenerateContent`
//! and `countTokens`, with today's validation, thinking and signatures.
//!
//! Wire shapes from "Generating content", <https://ai.google.dev/api/generate-content>
//! (read 2026-11-30): `GenerateContentResponse {candidates[], promptFeedback,
//! usageMetadata, modelVersion, responseId}`, SSE with `alt=sse` as
//! `data: {chunk}` events, each chunk carrying `usageMetadata`; errors as
//! `{"error": {code, message, status, details}}` ("Troubleshooting",
//! <https://ai.google.dev/gemini-api/docs/troubleshooting>, read 2026-11-30).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::asked::Asked;
use crate::faults::{self, Broken};
use crate::http::{self, Abort, Reply, Step};
use crate::knobs::{self, Fault, Knobs};
use crate::log::Record;
use crate::models::{self, Resolved, Spec};
use crate::server::{App, Inbound};
use crate::text::{approx_tokens, pieces};

mod validate;

/// A Google error body: `{"error": {code, message, status[, details]}}`.
pub fn google_error(
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

/// The path of a model method: `/{version}/{models|tunedModels}/{id}:{method}`.
struct ModelPath {
    version: String,
    tuned: bool,
    model: String,
    method: String,
}

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
            generate(app, &req, &path, record, busy).await
        }
        "countTokens" => Ok(count_tokens(app, &req, &path, &record)),
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

/// The refusal of a request, recorded with its outcome.
fn reject(record: &Record, outcome: &str, body: Value) -> Reply {
    record.set("outcome", json!(outcome));
    record.set("error", body["error"]["message"].clone());
    let status = body["error"]["code"].as_u64().unwrap_or(400) as u16;
    http::json(status, &body, &[])
}

/// Checks the API key: `x-goog-api-key`, else `?key=`; `Some` is the refusal.
fn check_key(app: &App, req: &Inbound, record: &Record) -> Option<Reply> {
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

fn bad_key() -> Value {
    google_error(
        400,
        Some("API key not valid. Please pass a valid API key."),
        Some(
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
        ),
        None,
    )
}

/// The model of the path, or the 404 the real API gives.
fn resolve(app: &App, path: &ModelPath) -> Result<(String, Spec), (&'static str, Value)> {
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

/// The unknown-model 404.
fn not_found(path: &ModelPath) -> Value {
    let message = format!(
        "models/{} is not found for API version {}, or is not supported for {}. Call ListModels to see the list of available models and their supported methods.",
        path.model, path.version, path.method
    );
    google_error(404, Some(&message), None, None)
}

/// `countTokens`: `{"totalTokens": N, "promptTokensDetails": […]}`.
fn count_tokens(app: &App, req: &Inbound, path: &ModelPath, record: &Record) -> Reply {
    if let Some(reply) = check_key(app, req, record) {
        return reply;
    }
    let body: Value = match serde_json::from_slice(if req.body.is_empty() {
        b"{}"
    } else {
        &req.body
    }) {
        Ok(v) => v,
        Err(e) => {
            return reject(
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

/// The text of a content's parts.
fn parts_text(content: &Value) -> String {
    content["parts"]
        .as_array()
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default()
}

/// What a content costs: its text, function calls and responses as JSON.
fn count_text(content: &Value) -> String {
    content["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .map(|p| {
                    if let Some(t) = p["text"].as_str() {
                        t.to_owned()
                    } else if let Some(fc) =
                        validate::field(p, "functionCall").filter(|v| v.is_object())
                    {
                        fc.to_string()
                    } else if let Some(fr) =
                        validate::field(p, "functionResponse").filter(|v| v.is_object())
                    {
                        fr.to_string()
                    } else {
                        String::new()
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn declarations(body: &Value) -> Vec<Value> {
    validate::field(body, "tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    validate::field(t, "functionDeclarations").and_then(Value::as_array)
                })
                .flatten()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Prompt tokens of a request: contents, system instruction, declarations.
fn prompt_tokens(body: &Value) -> u64 {
    let contents = validate::field(body, "contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = contents
        .iter()
        .map(count_text)
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(system) = validate::field(body, "systemInstruction") {
        text.push_str(&parts_text(system));
    }
    let decls = declarations(body);
    if !decls.is_empty() {
        text.push_str(&Value::Array(decls).to_string());
    }
    approx_tokens(&text).max(1)
}

fn is_user(content: &Value) -> bool {
    matches!(content["role"].as_str(), None | Some("") | Some("user"))
}

fn function_calls_of(content: &Value) -> usize {
    content["parts"].as_array().map_or(0, |p| {
        p.iter()
            .filter(|p| validate::field(p, "functionCall").is_some_and(Value::is_object))
            .count()
    })
}

/// What the request says, as generation needs it.
struct Info {
    last_user_text: String,
    turn_text: String,
    function_responses: Vec<Value>,
    steps: usize,
    has_system: bool,
    contents_count: usize,
    prompt_tokens: u64,
    service_tier: Option<String>,
}

fn analyse(body: &Value, spec: &Spec) -> Info {
    let contents = validate::field(body, "contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let last = contents.iter().rev().find(|c| is_user(c));
    let start = validate::turn_start(&contents);
    let steps = start.map_or(0, |s| {
        contents[s + 1..]
            .iter()
            .filter(|c| c["role"] == "model" && function_calls_of(c) > 0)
            .count()
    });
    let function_responses = last
        .and_then(|c| c["parts"].as_array())
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| validate::field(p, "functionResponse"))
                .filter(|v| v.is_object())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let tier = validate::field(body, "serviceTier")
        .and_then(Value::as_str)
        .filter(|t| *t != "unspecified")
        .unwrap_or("standard");
    Info {
        last_user_text: last.map(parts_text).unwrap_or_default(),
        turn_text: start.map(|s| parts_text(&contents[s])).unwrap_or_default(),
        function_responses,
        steps,
        has_system: validate::field(body, "systemInstruction").is_some(),
        contents_count: contents.len(),
        prompt_tokens: prompt_tokens(body),
        service_tier: spec.gemini3.then(|| tier.to_owned()),
    }
}

/// What the model "generates" for one request.
struct Plan {
    level: Option<String>,
    thought_text: Option<String>,
    thoughts: u64,
    text: String,
    calls: Option<Vec<Value>>,
    call_parts: Vec<Value>,
    /// What the candidates' token count is taken from.
    out_text: String,
    finish_reason: String,
    text_signature: Option<String>,
}

fn reply_text(info: &Info, knobs: &Knobs) -> String {
    let tail = format!(
        "[contents={}; system={}]",
        info.contents_count,
        if info.has_system { "yes" } else { "no" }
    );
    let mut text = if let Some(reply) = knobs.text("reply") {
        reply.to_owned()
    } else if !info.function_responses.is_empty() {
        let results: Vec<String> = info
            .function_responses
            .iter()
            .map(|fr| {
                let response = match &fr["response"] {
                    Value::Null => json!({}),
                    other => other.clone(),
                };
                format!("{}={}", fr["name"].as_str().unwrap_or(""), response)
            })
            .collect();
        format!("function results: {} {tail}", results.join("; "))
    } else {
        format!(
            "echo: {} {tail}",
            knobs::strip_directive(&info.last_user_text).trim()
        )
    };
    if let Some(pad) = knobs.int("pad_to").map(|n| n as usize) {
        const WORDS: &str = " lorem ipsum dolor sit amet consectetur adipiscing elit";
        if text.chars().count() < pad {
            while text.chars().count() < pad {
                text.push_str(WORDS);
            }
            text = text.chars().take(pad).collect();
        }
    }
    text
}

fn thought_summary(info: &Info) -> String {
    let said = knobs::strip_directive(&info.turn_text).trim().to_owned();
    let short = if said.chars().count() > 60 {
        format!("{}...", said.chars().take(60).collect::<String>())
    } else {
        said
    };
    format!("**Considering the request**\n\nThe user wrote \"{short}\". I will answer by echoing it back.")
}

fn plan(app: &App, info: &Info, knobs: &Knobs, body: &Value, spec: &Spec) -> Plan {
    let config = validate::field(body, "generationConfig")
        .cloned()
        .unwrap_or(json!({}));
    let thinking = validate::field(&config, "thinkingConfig")
        .cloned()
        .unwrap_or(json!({}));
    let budget = validate::field(&thinking, "thinkingBudget").and_then(Value::as_i64);
    let include =
        validate::field(&thinking, "includeThoughts").and_then(Value::as_bool) == Some(true);
    let off = budget == Some(0) && !spec.pro;
    let (level, thoughts, thought_text) = if spec.gemini3 {
        // "Gemini thinking", https://ai.google.dev/gemini-api/docs/thinking
        // (read 2026-11-30): Gemini 3 thinks by default at its default level.
        let level = validate::field(&thinking, "thinkingLevel")
            .and_then(Value::as_str)
            .map(str::to_uppercase)
            .filter(|l| l != "THINKING_LEVEL_UNSPECIFIED")
            .unwrap_or_else(|| spec.default_level.to_owned());
        let mut thoughts = knobs
            .int("thoughts_tokens")
            .unwrap_or_else(|| models::level_thoughts(&level));
        if off {
            thoughts = 0;
        } else if let Some(b) = budget.filter(|b| *b > 0) {
            thoughts = thoughts.min(b as u64);
        }
        let text = (include && thoughts > 0).then(|| thought_summary(info));
        (Some(level), thoughts, text)
    } else {
        let text = (include && !off).then(|| thought_summary(info));
        let mut thoughts = if off {
            0
        } else {
            knobs
                .int("thoughts_tokens")
                .filter(|n| *n > 0)
                .unwrap_or_else(|| text.as_deref().map_or(0, approx_tokens))
        };
        if let Some(b) = budget.filter(|b| *b > 0) {
            thoughts = thoughts.min(b as u64);
        }
        (None, thoughts, text)
    };
    // Thinking tokens are billed against maxOutputTokens.
    let cap = validate::field(&config, "maxOutputTokens")
        .and_then(Value::as_i64)
        .filter(|n| *n >= 1);
    let left = cap.map(|c| c - thoughts as i64);

    if let Some(calls) = planned_calls(info, knobs, body) {
        let truncated = left.is_some_and(|l| l <= 0);
        let signed = spec.gemini3 || thoughts > 0;
        let call_parts = if truncated {
            Vec::new()
        } else {
            calls
                .iter()
                .enumerate()
                .map(|(i, fc)| {
                    if i == 0 && signed {
                        json!({"functionCall": fc, "thoughtSignature": app.signer.issue()})
                    } else {
                        json!({"functionCall": fc})
                    }
                })
                .collect()
        };
        let finish = knobs
            .text("finish_reason")
            .map(str::to_owned)
            .unwrap_or_else(|| if truncated { "MAX_TOKENS" } else { "STOP" }.to_owned());
        let out_text = if truncated {
            String::new()
        } else {
            Value::Array(calls.clone()).to_string()
        };
        return Plan {
            level,
            thought_text,
            thoughts,
            text: String::new(),
            calls: (!truncated).then_some(calls),
            call_parts,
            out_text,
            finish_reason: finish,
            text_signature: None,
        };
    }

    let mut text = reply_text(info, knobs);
    if let Some(stops) = validate::field(&config, "stopSequences").and_then(Value::as_array) {
        let cut = stops
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s))
            .min();
        if let Some(at) = cut {
            text.truncate(at);
        }
    }
    let mut truncated = false;
    if let Some(left) = left {
        if left <= 0 {
            truncated = true;
            text.clear();
        } else if approx_tokens(&text) > left as u64 {
            truncated = true;
            text = text.chars().take(left as usize * 4).collect();
        }
    }
    let finish = knobs
        .text("finish_reason")
        .map(str::to_owned)
        .unwrap_or_else(|| if truncated { "MAX_TOKENS" } else { "STOP" }.to_owned());
    // "Thought Signatures" (read 2026-11-30): Gemini 3 signs every answer;
    // a text answer on its last part.
    let text_signature = (spec.gemini3 && !text.is_empty()).then(|| app.signer.issue());
    Plan {
        level,
        thought_text,
        thoughts,
        out_text: text.clone(),
        text,
        calls: None,
        call_parts: Vec::new(),
        finish_reason: finish,
        text_signature,
    }
}

/// The calls of this answer, or `None` for text: they need declared
/// functions and a mode other than NONE; mode ANY always calls.
fn planned_calls(info: &Info, knobs: &Knobs, body: &Value) -> Option<Vec<Value>> {
    let decls = declarations(body);
    let fcc = validate::field(body, "toolConfig")
        .and_then(|t| validate::field(t, "functionCallingConfig"))
        .cloned()
        .unwrap_or(json!({}));
    let mode = fcc["mode"]
        .as_str()
        .filter(|m| *m != "MODE_UNSPECIFIED")
        .unwrap_or("AUTO");
    if decls.is_empty() || mode == "NONE" {
        return None;
    }
    if let Some(step) = knobs
        .function_calls()
        .and_then(|steps| steps.get(info.steps))
    {
        return step.as_array().cloned();
    }
    if mode == "ANY" {
        let allowed = validate::field(&fcc, "allowedFunctionNames")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned);
        let name = allowed
            .or_else(|| {
                decls
                    .first()
                    .and_then(|d| d["name"].as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        return Some(vec![json!({"name": name, "args": {}})]);
    }
    None
}

fn usage(info: &Info, text: &str, thoughts: u64) -> Value {
    let candidates = approx_tokens(text);
    let mut u = Map::new();
    u.insert("promptTokenCount".into(), json!(info.prompt_tokens));
    // Absent when nothing was generated, as in the real API.
    if candidates > 0 {
        u.insert("candidatesTokenCount".into(), json!(candidates));
    }
    u.insert(
        "totalTokenCount".into(),
        json!(info.prompt_tokens + candidates + thoughts),
    );
    u.insert(
        "promptTokensDetails".into(),
        json!([{"modality": "TEXT", "tokenCount": info.prompt_tokens}]),
    );
    if thoughts > 0 {
        u.insert("thoughtsTokenCount".into(), json!(thoughts));
    }
    if let Some(tier) = &info.service_tier {
        u.insert("serviceTier".into(), json!(tier));
    }
    Value::Object(u)
}

fn text_parts(text: &str, n: Option<u64>) -> Vec<Value> {
    if text.is_empty() {
        return Vec::new();
    }
    pieces(text, n.unwrap_or(1) as usize)
        .into_iter()
        .map(|t| json!({"text": t}))
        .collect()
}

/// A candidate: `parts` `None` = content with no parts; `content` false = none at all.
fn candidate(
    parts: Option<Vec<Value>>,
    content: bool,
    finish: Option<&str>,
    extra: Option<(&str, Value)>,
) -> Value {
    let mut c = Map::new();
    if content {
        c.insert(
            "content".into(),
            match parts {
                Some(p) if !p.is_empty() => json!({"parts": p, "role": "model"}),
                _ => json!({"role": "model"}),
            },
        );
    }
    if let Some(f) = finish {
        c.insert("finishReason".into(), json!(f));
    }
    c.insert("index".into(), json!(0));
    if let Some((k, v)) = extra {
        c.insert(k.into(), v);
    }
    Value::Object(c)
}

fn safety_ratings(blocked: Option<&str>) -> Value {
    let categories = [
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    ];
    Value::Array(
        categories
            .iter()
            .map(|c| {
                if Some(*c) == blocked {
                    json!({"category": c, "probability": "HIGH", "blocked": true})
                } else {
                    json!({"category": c, "probability": "NEGLIGIBLE"})
                }
            })
            .collect(),
    )
}

struct Meta {
    model_version: String,
    response_id: String,
}

fn wrap(candidate: Value, usage: Value, meta: &Meta) -> Value {
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": meta.model_version, "responseId": meta.response_id})
}

/// Stream chunks: [thought chunk] + text chunks + a final chunk with the
/// finish reason and an empty text part (holding the signature on Gemini 3).
/// `chunks` counts the answer's events; calls come whole in one chunk.
fn stream_chunks(
    info: &Info,
    p: &Plan,
    knobs: &Knobs,
    meta: &Meta,
    empty_final_forced: bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(t) = &p.thought_text {
        out.push(wrap(
            candidate(
                Some(vec![json!({"text": t, "thought": true})]),
                true,
                None,
                None,
            ),
            usage(info, "", p.thoughts),
            meta,
        ));
    }
    if p.calls.is_some() {
        out.push(wrap(
            candidate(
                Some(p.call_parts.clone()),
                true,
                Some(&p.finish_reason),
                None,
            ),
            usage(info, &p.out_text, p.thoughts),
            meta,
        ));
        return out;
    }
    let n = knobs.int("chunks").filter(|n| *n > 0).unwrap_or(4) as usize;
    let empty_final =
        (empty_final_forced || knobs.text("final_chunk").unwrap_or("empty") == "empty") && n > 1;
    let pieces = if p.text.is_empty() {
        Vec::new()
    } else {
        pieces(&p.text, if empty_final { n - 1 } else { n })
    };
    let mut so_far = String::new();
    let count = pieces.len();
    for (i, piece) in pieces.iter().enumerate() {
        so_far.push_str(piece);
        let finish = (!empty_final && i + 1 == count).then_some(p.finish_reason.as_str());
        let mut parts = text_parts(piece, knobs.int("parts"));
        if let (Some(_), Some(sig), Some(last)) = (finish, &p.text_signature, parts.last_mut()) {
            last["thoughtSignature"] = json!(sig);
        }
        out.push(wrap(
            candidate(Some(parts), true, finish, None),
            usage(info, &so_far, p.thoughts),
            meta,
        ));
    }
    if empty_final || pieces.is_empty() {
        let last = match &p.text_signature {
            Some(sig) => json!({"text": "", "thoughtSignature": sig}),
            None => json!({"text": ""}),
        };
        let parts = (!pieces.is_empty()).then(|| vec![last]);
        out.push(wrap(
            candidate(parts, true, Some(&p.finish_reason), None),
            usage(info, &p.text, p.thoughts),
            meta,
        ));
    }
    out
}

/// The parts of a whole (unary) answer.
fn response_parts(p: &Plan, knobs: &Knobs) -> Vec<Value> {
    let mut parts: Vec<Value> = p
        .thought_text
        .iter()
        .map(|t| json!({"text": t, "thought": true}))
        .collect();
    if p.calls.is_some() {
        parts.extend(p.call_parts.iter().cloned());
        return parts;
    }
    let mut text = text_parts(&p.text, knobs.int("parts"));
    if let (Some(sig), Some(last)) = (&p.text_signature, text.last_mut()) {
        last["thoughtSignature"] = json!(sig);
    }
    parts.extend(text);
    parts
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
fn fault_error(fault: Fault, knobs: &Knobs, path: &ModelPath) -> Option<Value> {
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

async fn generate(
    app: &Arc<App>,
    req: &Inbound,
    path: &ModelPath,
    record: Record,
    busy: crate::log::InFlight,
) -> Result<Reply, Abort> {
    let stream = path.method == "streamGenerateContent";
    let alt = req.query.get("alt").cloned();
    let sse = alt.as_deref() == Some("sse");
    record.set("stream", json!(stream));
    record.set("alt", alt.map_or(Value::Null, |a| json!(a)));
    if let Some(reply) = check_key(app, req, &record) {
        return Ok(reply);
    }
    let body: Value = match serde_json::from_slice(if req.body.is_empty() {
        b"{}"
    } else {
        &req.body
    }) {
        Ok(v) => v,
        Err(e) => {
            record.set(
                "raw_body",
                json!(String::from_utf8_lossy(&req.body)
                    .chars()
                    .take(4096)
                    .collect::<String>()),
            );
            return Ok(reject(
                &record,
                "bad_json",
                google_error(
                    400,
                    Some(&format!("Invalid JSON payload received. {e}")),
                    None,
                    None,
                ),
            ));
        }
    };
    record.set("body", body.clone());
    for (name, key) in [
        ("contents", "contents"),
        ("systemInstruction", "systemInstruction"),
        ("generationConfig", "generationConfig"),
        ("tools", "tools"),
        ("toolConfig", "toolConfig"),
    ] {
        if let Some(v) = validate::field(&body, key) {
            record.set(name, v.clone());
        }
    }

    // Knobs: server-wide < header < the directive of the turn's user message.
    let mut asked = Asked::new(app);
    if let Err(e) = asked.header(req) {
        return Ok(bad_knobs(
            &record,
            &format!("convo-fake: bad x-fake-gemini header: {e}"),
        ));
    }

    let (model_version, spec) = match resolve(app, path) {
        Ok(r) => r,
        Err((outcome, error)) => return Ok(reject(&record, outcome, error)),
    };
    record.set("model_version", json!(model_version));
    let lenient = asked.knobs.lenient();
    if let Err(message) = validate::request(&body, &spec, lenient, &app.signer, &[]) {
        return Ok(reject(
            &record,
            "invalid",
            google_error(400, Some(&message), None, None),
        ));
    }
    let info = analyse(&body, &spec);
    const MAX_INPUT_TOKENS: u64 = 1_048_576;
    if info.prompt_tokens > MAX_INPUT_TOKENS {
        let message = format!("The input token count ({}) exceeds the maximum number of tokens allowed ({MAX_INPUT_TOKENS}).", info.prompt_tokens);
        return Ok(reject(
            &record,
            "too_many_tokens",
            google_error(400, Some(&message), None, None),
        ));
    }
    // Read from the message that started the turn, so it stays in force
    // while function responses come back.
    if let Err(e) = asked.directive(&info.turn_text) {
        return Ok(bad_knobs(
            &record,
            &format!("convo-fake: bad [[fake-gemini:…]] directive: {e}"),
        ));
    }
    let fault = asked.fault(&app.log, &record);
    let knobs = asked.knobs;

    let mut delay = knobs.int("delay_ms").unwrap_or(0);
    if let Some(jitter) = knobs.int("delay_jitter_ms").filter(|j| *j > 0) {
        delay += u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * (jitter + 1) / 256;
    }
    // X-Server-Timeout (sent by the official SDKs): a wait that would outlast it ends in a 504.
    let deadline = req
        .header("x-server-timeout")
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(|s| (s * 1000.0).round() as u64);
    if let Some(deadline) = deadline.filter(|d| fault == Some(Fault::Timeout) || delay > *d) {
        tokio::time::sleep(Duration::from_millis(deadline)).await;
        record.set("outcome", json!("deadline_exceeded"));
        return Ok(http::json(504, &google_error(504, None, None, None), &[]));
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    let status = |f: Fault| {
        fault_error(f, &knobs, path).map(|error| {
            let code = error["error"]["code"].as_u64().unwrap_or(500) as u16;
            http::json(code, &error, &[])
        })
    };
    if let Some(reply) = faults::instead_of_answer(fault, stream, status, &record, &req.flag).await
    {
        return reply;
    }

    let meta = Meta {
        model_version,
        response_id: response_id(),
    };
    let p = plan(app, &info, &knobs, &body, &spec);
    if let Some(level) = &p.level {
        record.set("thinking_level", json!(level));
    }
    let chunk_delay = Duration::from_millis(knobs.int("chunk_delay_ms").unwrap_or(0));
    let content_type = if sse { "text/event-stream" } else { http::JSON };
    let data_framed = knobs.text("error_framing") == Some("data");
    let play = |chunks: Vec<Value>, broken: Option<Broken>| {
        http::scripted(
            content_type,
            stream_steps(sse, &chunks, chunk_delay, broken, data_framed),
            None,
            req.flag.clone(),
            app.log.in_flight(),
        )
    };

    if fault == Some(Fault::Blocked) {
        let reason = knobs.text("block_reason").unwrap_or("SAFETY").to_owned();
        let mut feedback = json!({"blockReason": reason});
        if reason == "SAFETY" {
            feedback["safetyRatings"] = safety_ratings(Some("HARM_CATEGORY_DANGEROUS_CONTENT"));
        }
        let tokens = info.prompt_tokens;
        let blocked = json!({"promptFeedback": feedback, "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}, "modelVersion": meta.model_version, "responseId": meta.response_id});
        record.set("outcome", json!("blocked"));
        drop(busy);
        return Ok(if stream {
            play(vec![blocked], None)
        } else {
            http::json(200, &blocked, &[])
        });
    }

    if fault == Some(Fault::SafetyStop) {
        // The output is withheld: the stopping candidate has no content; a
        // stream has sent the first half of the answer already.
        let reason = knobs
            .text("finish_reason")
            .filter(|r| !matches!(*r, "STOP" | "MAX_TOKENS"))
            .unwrap_or("SAFETY")
            .to_owned();
        let ratings =
            safety_ratings((reason == "SAFETY").then_some("HARM_CATEGORY_DANGEROUS_CONTENT"));
        record.set("outcome", json!("safety_stop"));
        drop(busy);
        if !stream {
            let parts = p
                .thought_text
                .as_ref()
                .map(|t| vec![json!({"text": t, "thought": true})]);
            let has_content = parts.is_some();
            let c = candidate(
                parts,
                has_content,
                Some(&reason),
                Some(("safetyRatings", ratings)),
            );
            return Ok(http::json(
                200,
                &wrap(c, usage(&info, "", p.thoughts), &meta),
                &[],
            ));
        }
        let mut all = stream_chunks(&info, &p, &knobs, &meta, true);
        all.pop();
        let keep = if p.thought_text.is_some() {
            1 + all.len().saturating_sub(1) / 2
        } else {
            all.len() / 2
        };
        all.truncate(keep);
        let sent: String = all
            .iter()
            .flat_map(|c| {
                c["candidates"][0]["content"]["parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|p| p["thought"] != true)
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect();
        all.push(wrap(
            candidate(None, false, Some(&reason), Some(("safetyRatings", ratings))),
            usage(&info, &sent, p.thoughts),
            &meta,
        ));
        return Ok(play(all, None));
    }

    if !stream {
        let full = wrap(
            candidate(
                Some(response_parts(&p, &knobs)),
                true,
                Some(&p.finish_reason),
                None,
            ),
            usage(&info, &p.out_text, p.thoughts),
            &meta,
        );
        if let Some(reply) = faults::unary_body(fault, &full.to_string(), &record, &req.flag, busy)
        {
            return Ok(reply);
        }
        record.set("outcome", json!("ok"));
        record.set("reply", json!(p.text));
        if let Some(calls) = &p.calls {
            record.set("function_calls", json!(calls));
        }
        return Ok(http::json(200, &full, &[]));
    }

    let chunks = stream_chunks(&info, &p, &knobs, &meta, false);
    drop(busy);
    match (fault, Broken::of(fault)) {
        (Some(f), Some(broken)) => {
            record.set("outcome", json!(f.name()));
            let mut sent = chunks;
            if broken != Broken::Malformed {
                // Half the chunks (at least one), none with a finish reason.
                sent.truncate(broken.sent(sent.len()));
                for c in &mut sent {
                    if let Some(cand) = c["candidates"][0].as_object_mut() {
                        cand.remove("finishReason");
                    }
                }
            }
            Ok(play(sent, Some(broken)))
        }
        _ => {
            record.set("outcome", json!("ok"));
            record.set("reply", json!(p.text));
            if let Some(calls) = &p.calls {
                record.set("function_calls", json!(calls));
            }
            Ok(play(chunks, None))
        }
    }
}

/// The refusal of bad knobs.
fn bad_knobs(record: &Record, message: &str) -> Reply {
    reject(
        record,
        "bad_knobs",
        google_error(400, Some(message), None, None),
    )
}

/// The body of a stream: SSE events `data: {json}\r\n\r\n`, or without
/// `alt=sse` one JSON array written as it goes; `broken` ends it as its
/// fault asks (a stream error as bare pretty JSON, as seen from the real
/// API inside a 200 stream, or framed as `data:` when `data_framed`).
fn stream_steps(
    sse: bool,
    chunks: &[Value],
    pause: Duration,
    broken: Option<Broken>,
    data_framed: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if !sse {
        steps.push(Step::Send(Bytes::from_static(b"[")));
    }
    let broken_chunk = broken.and_then(|b| b.broken_chunk(chunks.len()));
    steps.extend(http::events(chunks, pause, broken_chunk, |i, text| {
        if sse {
            format!("data: {text}\r\n\r\n")
        } else if i > 0 {
            format!(",\r\n{text}")
        } else {
            text
        }
    }));
    match broken {
        Some(Broken::Reset) => {
            steps.extend(http::reset_end());
            return steps;
        }
        Some(Broken::Error) => {
            if !pause.is_zero() {
                steps.push(Step::Sleep(pause));
            }
            let error = google_error(503, None, None, None);
            let tail = if !sse {
                format!(
                    "{}{}",
                    if chunks.is_empty() { "" } else { ",\r\n" },
                    serde_json::to_string_pretty(&error).unwrap_or_default()
                )
            } else if data_framed {
                format!("data: {error}\r\n\r\n")
            } else {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&error).unwrap_or_default()
                )
            };
            steps.push(Step::Send(Bytes::from(tail)));
        }
        _ => {}
    }
    if !sse && broken != Some(Broken::Cut) {
        steps.push(Step::Send(Bytes::from_static(b"]")));
    }
    steps
}

/// A response id like the real ones (base64url of 12 random bytes).
fn response_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&uuid::Uuid::new_v4().as_bytes()[..12])
}
