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

//!
//! This module routes and runs a request; `request` checks it, `validate`
//! checks its tools and their history, `answer` makes the answer, `stream`
//! streams it, `errors` words OpenAI's errors.

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::asked::Asked;
use crate::faults::{self, Broken};
use crate::http::{self, Abort, Reply};
use crate::knobs::Fault;
use crate::server::{App, Inbound};
use answer::Answer;
use errors::{bad_request, status_fault};

mod answer;
mod errors;
mod request;
mod stream;
mod validate;

/// The models `GET /v1/models` lists (any id is answered).
const MODELS: &[&str] = &["gpt-5.1", "gpt-5.1-mini", "gpt-5.1-nano"];

/// `GET /v1/models`.
pub fn models() -> Reply {
    let data: Vec<Value> = MODELS.iter().map(|id| json!({"id": id, "object": "model", "created": 1_764_460_800, "owned_by": "convo-fake"})).collect();
    http::json(200, &json!({"object": "list", "data": data}), &[])
}

/// `POST /v1/chat/completions`.
pub async fn chat(app: &Arc<App>, req: Inbound) -> Result<Reply, Abort> {
    if req.method != Method::POST {
        return Ok(crate::server::not_allowed());
    }
    let record = app.log.record(Map::new());
    let busy = app.log.in_flight();
    record.set("path", json!(req.path));
    record.set("rpc", json!("chat.completions"));
    let chat = match request::admit(app, &req, &record) {
        Ok(chat) => chat,
        Err(refusal) => return Ok(*refusal),
    };

    // Knobs as for Gemini: server-wide < header < directive in the last user message.
    let mut asked = Asked::new(app);
    if let Err(e) = asked.header(&req) {
        return Ok(bad_request(&format!("convo-fake: bad knobs header: {e}")));
    }
    if let Err(e) = asked.directive(&chat.last_user_text()) {
        return Ok(bad_request(&format!("convo-fake: bad directive: {e}")));
    }
    if !asked.knobs.lenient() {
        let checked = validate::tools(&chat.body).and_then(|()| validate::history(chat.messages()));
        if let Err((message, param)) = checked {
            record.set("outcome", json!("invalid"));
            record.set("error", json!(message));
            return Ok(errors::invalid(&message, param));
        }
    }
    let fault = asked.fault(&app.log, &record);
    let knobs = asked.knobs;
    if let Some(delay) = knobs.int("delay_ms").filter(|d| *d > 0) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = |f: Fault| status_fault(f, &chat.model, &knobs);
    if let Some(reply) =
        faults::instead_of_answer(fault, chat.stream, status, &record, &req.flag).await
    {
        return reply;
    }

    let answer = Answer::new(&chat, &knobs, fault);
    if !chat.stream {
        let whole = answer.whole(&chat.model);
        if let Some(reply) = faults::unary_body(fault, &whole.to_string(), &record, &req.flag, busy)
        {
            return Ok(reply);
        }
        answer.delivered(&record, fault);
        return Ok(http::json(200, &whole, &[]));
    }

    let with_usage = chat.body["stream_options"]["include_usage"] == true;
    let chunks = stream::chunks(&answer, &chat.model, &knobs, with_usage);
    let broken = Broken::of(fault);
    match (fault, broken) {
        (Some(f), Some(_)) => record.set("outcome", json!(f.name())),
        _ => answer.delivered(&record, fault),
    }
    let pause = Duration::from_millis(knobs.int("chunk_delay_ms").unwrap_or(0));
    Ok(http::scripted(
        "text/event-stream; charset=utf-8",
        stream::steps(&chunks, pause, broken),
        None,
        req.flag.clone(),
        busy,
    ))
}
