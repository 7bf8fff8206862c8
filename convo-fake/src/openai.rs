//! OpenAI's Chat Completions (`POST /v1/chat/completions`) and `GET /v1/models`.
//!
//! Shapes from "Create chat completion",
//! <https://platform.openai.com/docs/api-reference/chat/create> and "The chat
//! completion chunk object",
//! <https://platform.openai.com/docs/api-reference/chat-streaming> (read
//! 2026-11-30): a stream is `data: {chunk}` events ending in `data: [DONE]`;
//! with `stream_options.include_usage` a last chunk has `choices: []` and the
//! `usage`, and every other chunk `"usage": null`; tool calls stream as an
//! `index`ed entry with `id`, `type` and the function `name` first, then
//! `arguments` in pieces. Errors are `{"error": {message, type, param,
//! code}}` ("Error codes", <https://platform.openai.com/docs/guides/error-codes>);
//! a 429 carries `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::asked::Asked;
use crate::faults::{self, Broken};
use crate::http::{self, Abort, Reply, Step};
use crate::knobs::{self, Fault, Knobs};
use crate::server::{App, Inbound};
use crate::text::{approx_tokens, pieces};

/// The models `GET /v1/models` lists (any id is answered).
const MODELS: &[&str] = &["gpt-5.1", "gpt-5.1-mini", "gpt-5.1-nano"];

/// `GET /v1/models`.
pub fn models() -> Reply {
    let data: Vec<Value> = MODELS.iter().map(|id| json!({"id": id, "object": "model", "created": 1_764_460_800, "owned_by": "convo-fake"})).collect();
    http::json(200, &json!({"object": "list", "data": data}), &[])
}

fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Reply {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    http::json(status, &body, &[])
}

/// A 400 `invalid_request_error` (bad knobs).
fn bad_request(message: &str) -> Reply {
    error(400, message, "invalid_request_error", None)
}

/// The error reply of a status fault, if `fault` is one.
fn status_fault(fault: Fault, model: &str, knobs: &Knobs) -> Option<Reply> {
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

/// The text of a message's `content` (a string or a list of text parts).
fn content_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat(app: &Arc<App>, req: Inbound) -> Result<Reply, Abort> {
    if req.method != Method::POST {
        return Ok(crate::server::not_allowed());
    }
    let record = app.log.record(serde_json::Map::new());
    let busy = app.log.in_flight();
    record.set("path", json!(req.path));
    record.set("rpc", json!("chat.completions"));
    let key = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    record.set("key", key.map_or(Value::Null, |k| json!(k)));
    record.set("key_source", json!(key.map(|_| "header")));
    let Some(key) = key else {
        record.set("outcome", json!("no_key"));
        return Ok(error(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error", None));
    };
    if app.api_key.as_deref().is_some_and(|k| k != key) {
        record.set("outcome", json!("bad_key"));
        return Ok(error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ));
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            record.set("outcome", json!("bad_json"));
            return Ok(error(
                400,
                &format!("We could not parse the JSON body of your request. ({e})"),
                "invalid_request_error",
                None,
            ));
        }
    };
    record.set("body", body.clone());
    let model = body["model"].as_str().unwrap_or("").to_owned();
    record.set("model", json!(model));
    let stream = body["stream"] == true;
    record.set("stream", json!(stream));
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        record.set("outcome", json!("invalid"));
        return Ok(error(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            Some("missing_required_parameter"),
        ));
    };
    if model.is_empty() {
        record.set("outcome", json!("invalid"));
        return Ok(error(
            400,
            "Missing required parameter: 'model'.",
            "invalid_request_error",
            Some("missing_required_parameter"),
        ));
    }
    const ROLES: &[&str] = &[
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
        "function",
    ];
    let bad_role = messages
        .iter()
        .position(|m| !m["role"].as_str().is_some_and(|r| ROLES.contains(&r)));
    if let Some(i) = bad_role {
        record.set("outcome", json!("invalid"));
        let message = format!("Invalid value: '{}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", messages[i]["role"].as_str().unwrap_or(""));
        return Ok(error(
            400,
            &message,
            "invalid_request_error",
            Some("invalid_value"),
        ));
    }
    record.set("messages", json!(messages));

    // Knobs as for Gemini: server-wide < header < directive in the last user message.
    let mut asked = Asked::new(app);
    if let Err(e) = asked.header(&req) {
        return Ok(bad_request(&format!("convo-fake: bad knobs header: {e}")));
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(content_text)
        .unwrap_or_default();
    if let Err(e) = asked.directive(&last_user) {
        return Ok(bad_request(&format!("convo-fake: bad directive: {e}")));
    }
    let fault = asked.fault(&app.log, &record);
    let knobs = asked.knobs;
    if let Some(delay) = knobs.int("delay_ms").filter(|d| *d > 0) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = |f: Fault| status_fault(f, &model, &knobs);
    if let Some(reply) = faults::instead_of_answer(fault, stream, status, &record, &req.flag).await
    {
        return reply;
    }

    // The answer: scripted tool calls when tools are declared, else the echo.
    let tools_declared =
        body["tools"].as_array().is_some_and(|t| !t.is_empty()) && body["tool_choice"] != "none";
    let steps_done = messages
        .iter()
        .rev()
        .take_while(|m| m["role"] != "user")
        .filter(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .count();
    let calls: Option<Vec<Value>> = if tools_declared {
        knobs
            .function_calls()
            .and_then(|s| s.get(steps_done))
            .and_then(Value::as_array)
            .cloned()
    } else {
        None
    };
    let tool_results: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| m["role"] == "tool")
        .map(content_text)
        .collect();
    let text = if let Some(reply) = knobs.text("reply") {
        reply.to_owned()
    } else if !tool_results.is_empty() {
        format!(
            "tool results: {} [messages={}]",
            tool_results
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("; "),
            messages.len()
        )
    } else {
        format!(
            "echo: {} [messages={}]",
            knobs::strip_directive(&last_user).trim(),
            messages.len()
        )
    };
    let max = body["max_completion_tokens"]
        .as_u64()
        .or_else(|| body["max_tokens"].as_u64());
    let (text, truncated) = match max {
        Some(m) if approx_tokens(&text) > m => {
            (text.chars().take(m as usize * 4).collect::<String>(), true)
        }
        _ => (text, false),
    };
    // A blocked prompt or a safety stop: OpenAI's content filter, no text.
    let filtered = matches!(fault, Some(Fault::Blocked | Fault::SafetyStop));
    let text = if filtered { String::new() } else { text };
    let tool_calls: Option<Vec<Value>> = calls.map(|calls| {
        calls
            .iter()
            .map(|c| json!({"id": c.get("id").cloned().unwrap_or_else(|| json!(format!("call_{}", uuid::Uuid::new_v4().simple()))), "type": "function", "function": {"name": c["name"], "arguments": c["args"].to_string()}}))
            .collect()
    });
    let finish = knobs
        .text("finish_reason")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            if filtered {
                "content_filter"
            } else if tool_calls.is_some() {
                "tool_calls"
            } else if truncated {
                "length"
            } else {
                "stop"
            }
            .to_owned()
        });
    let prompt: String = messages
        .iter()
        .map(content_text)
        .collect::<Vec<_>>()
        .join("\n");
    let prompt_tokens = approx_tokens(&prompt).max(1);
    let out = match &tool_calls {
        Some(calls) => Value::Array(calls.clone()).to_string(),
        None => text.clone(),
    };
    let completion_tokens = approx_tokens(&out);
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens});
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    if !stream {
        let message = match &tool_calls {
            Some(calls) => {
                json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null})
            }
            None => json!({"role": "assistant", "content": text, "refusal": null}),
        };
        let whole = json!({"id": id, "object": "chat.completion", "created": created, "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}], "usage": usage});
        if let Some(reply) = faults::unary_body(fault, &whole.to_string(), &record, &req.flag, busy)
        {
            return Ok(reply);
        }
        record.set(
            "outcome",
            json!(fault.filter(|_| filtered).map_or("ok", Fault::name)),
        );
        record.set("reply", json!(text));
        return Ok(http::json(200, &whole, &[]));
    }

    // Streamed: a role chunk, content pieces (or tool call deltas), the
    // finish chunk, [usage chunk], [DONE].
    // With include_usage, every other chunk carries `"usage": null`.
    let with_usage = body["stream_options"]["include_usage"] == true;
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]});
        if with_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    )];
    match &tool_calls {
        Some(calls) => {
            for (i, call) in calls.iter().enumerate() {
                chunks.push(chunk(json!({"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}]}), None));
                let args = call["function"]["arguments"].as_str().unwrap_or("{}");
                for piece in pieces(args, 3) {
                    chunks.push(chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                        None,
                    ));
                }
            }
        }
        None => {
            let n = knobs.int("chunks").filter(|n| *n > 0).unwrap_or(4) as usize;
            for piece in pieces(&text, n) {
                chunks.push(chunk(json!({"content": piece}), None));
            }
        }
    }
    chunks.push(chunk(json!({}), Some(&finish)));
    if with_usage {
        chunks.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usage}));
    }
    let pause = Duration::from_millis(knobs.int("chunk_delay_ms").unwrap_or(0));
    let broken = Broken::of(fault);
    let n = chunks.len();
    match (fault, broken) {
        (Some(f), Some(_)) => record.set("outcome", json!(f.name())),
        _ => {
            record.set(
                "outcome",
                json!(fault.filter(|_| filtered).map_or("ok", Fault::name)),
            );
            record.set("reply", json!(text));
        }
    }
    let sent = broken.map_or(n, |b| b.sent(n));
    let broken_chunk = broken.and_then(|b| b.broken_chunk(n));
    let mut steps = http::events(&chunks[..sent], pause, broken_chunk, |_, data| {
        format!("data: {data}\n\n")
    });
    match broken {
        Some(Broken::Cut) => {}
        Some(Broken::Reset) => steps.extend(http::reset_end()),
        Some(Broken::Error) => {
            let e = json!({"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}});
            steps.push(Step::Send(Bytes::from(format!("data: {e}\n\n"))));
        }
        _ => steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n"))),
    }
    Ok(http::scripted(
        "text/event-stream; charset=utf-8",
        steps,
        None,
        req.flag.clone(),
        busy,
    ))
}
