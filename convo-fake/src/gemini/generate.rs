//! `generateContent` and `streamGenerateContent`: the key, the body and
//! its checks, the knobs, then a fault or the planned answer, whole or
//! streamed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::access::{check_key, resolve};
use super::errors::{bad_json, bad_knobs, fault_error, google_error, reject};
use super::plan::plan;
use super::request::{analyse, json_body};
use super::response::{candidate, response_id, response_parts, usage, wrap, Meta};
use super::safety::{self, SafetyStop};
use super::stream::{stream_chunks, stream_steps};
use super::{validate, ModelPath};
use crate::asked::Asked;
use crate::faults::{self, Broken};
use crate::http::{self, Abort, Reply};
use crate::knobs::Fault;
use crate::log::{InFlight, Record};
use crate::server::{App, Inbound};

/// Answers a generate request on `path`; an `Err` drops the connection.
pub(super) async fn generate(
    app: &Arc<App>,
    req: &Inbound,
    path: &ModelPath,
    record: Record,
    busy: InFlight,
) -> Result<Reply, Abort> {
    let stream = path.method == "streamGenerateContent";
    let alt = req.query.get("alt").cloned();
    let sse = alt.as_deref() == Some("sse");
    record.set("stream", json!(stream));
    record.set("alt", alt.map_or(Value::Null, |a| json!(a)));
    if let Some(reply) = check_key(app, req, &record) {
        return Ok(reply);
    }
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => {
            record.set(
                "raw_body",
                json!(String::from_utf8_lossy(&req.body)
                    .chars()
                    .take(4096)
                    .collect::<String>()),
            );
            return Ok(bad_json(&record, &e));
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
        let blocked = safety::blocked(&knobs, &info, &meta);
        record.set("outcome", json!("blocked"));
        drop(busy);
        return Ok(if stream {
            play(vec![blocked], None)
        } else {
            http::json(200, &blocked, &[])
        });
    }

    if fault == Some(Fault::SafetyStop) {
        let stop = SafetyStop::new(&knobs);
        record.set("outcome", json!("safety_stop"));
        drop(busy);
        return Ok(if stream {
            play(stop.chunks(&info, &p, &knobs, &meta), None)
        } else {
            http::json(200, &stop.whole(&info, &p, &meta), &[])
        });
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
        p.delivered(&record);
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
            p.delivered(&record);
            Ok(play(chunks, None))
        }
    }
}
