//! Knobs: what a request asks the fake to do (a fault, latency, a reply).
//!
//! They come, lowest precedence first, from the server's options, the
//! `x-fake-gemini` request header (JSON) and a `[[fake-gemini:{…}]]`
//! directive in the text of the user message that started the turn. The
//! `convo-fake` spellings (`x-convo-fake`, `[[convo-fake:{…}]]`) are taken too.
//! Per request, so one server serves a whole concurrent fault test.

use serde_json::{Map, Value};

/// A knob set that could not be read; the message names the knob.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KnobError(pub String);

/// Every knob name the fake understands.
const NAMES: &[&str] = &[
    "delay_ms",
    "delay_jitter_ms",
    "chunk_delay_ms",
    "chunks",
    "fail",
    "fail_first_n",
    "retry_delay",
    "reply",
    "pad_to",
    "finish_reason",
    "thoughts_tokens",
    "tag",
    "parts",
    "block_reason",
    "final_chunk",
    "error_framing",
    "lenient",
    "function_calls",
];

/// Knobs whose value is a non-negative integer.
const INTEGERS: &[&str] = &[
    "delay_ms",
    "delay_jitter_ms",
    "chunk_delay_ms",
    "chunks",
    "fail_first_n",
    "pad_to",
    "thoughts_tokens",
    "parts",
];

/// A fault the fake plays instead of (or in the middle of) an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 INVALID_ARGUMENT.
    BadRequest,
    /// 401 UNAUTHENTICATED.
    Unauthenticated,
    /// 403 PERMISSION_DENIED.
    PermissionDenied,
    /// 404 NOT_FOUND (the unknown-model message).
    NotFound,
    /// 429 RESOURCE_EXHAUSTED with `RetryInfo` (and `Retry-After` on OpenAI).
    RateLimited,
    /// 429 RESOURCE_EXHAUSTED without `RetryInfo` (a per-day quota).
    RateLimitedNoRetryInfo,
    /// 500 INTERNAL.
    Internal,
    /// 503 UNAVAILABLE.
    Unavailable,
    /// 504 DEADLINE_EXCEEDED.
    DeadlineExceeded,
    /// 400 API_KEY_INVALID.
    BadKey,
    /// 400 FAILED_PRECONDITION (user location).
    FailedPrecondition,
    /// No answer at all (the client's timeout must fire).
    Timeout,
    /// The connection is reset before any byte of the answer.
    Reset,
    /// A 200 whose JSON is broken (in a stream, the middle chunk).
    Malformed,
    /// The prompt is blocked: `promptFeedback.blockReason`, no candidates.
    Blocked,
    /// A candidate stopped for safety, with no content.
    SafetyStop,
    /// The body ends early: a stream without its finish reason, a unary
    /// body cut in half (the connection then drops).
    CutStream,
    /// As `CutStream`, then the connection is reset.
    CutStreamReset,
    /// A 200 stream, half the chunks, then an error object.
    StreamError,
}

impl Fault {
    /// Every fault with its knob spelling.
    const ALL: &'static [(&'static str, Fault)] = &[
        ("400", Fault::BadRequest),
        ("401", Fault::Unauthenticated),
        ("403", Fault::PermissionDenied),
        ("404", Fault::NotFound),
        ("429", Fault::RateLimited),
        ("429_no_retry_info", Fault::RateLimitedNoRetryInfo),
        ("500", Fault::Internal),
        ("503", Fault::Unavailable),
        ("504", Fault::DeadlineExceeded),
        ("bad_key", Fault::BadKey),
        ("failed_precondition", Fault::FailedPrecondition),
        ("timeout", Fault::Timeout),
        ("reset", Fault::Reset),
        ("malformed", Fault::Malformed),
        ("blocked", Fault::Blocked),
        ("safety_stop", Fault::SafetyStop),
        ("cut_stream", Fault::CutStream),
        ("cut_stream_reset", Fault::CutStreamReset),
        ("stream_error", Fault::StreamError),
    ];

    /// The fault a knob value names (`none` is no fault).
    pub fn parse(name: &str) -> Option<Fault> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Its knob spelling, which is also the request log's `outcome`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

/// Checks and normalises a knob object: integers may come as strings,
/// `retry_delay` becomes a Duration string (`"1.5s"`).
pub fn normalize(raw: &Value) -> Result<Map<String, Value>, KnobError> {
    let Value::Object(object) = raw else {
        return Err(KnobError("knobs must be a JSON object".into()));
    };
    let mut out = Map::new();
    for (key, value) in object {
        if !NAMES.contains(&key.as_str()) {
            return Err(KnobError(format!("unknown knob \"{key}\"")));
        }
        if value.is_null() {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let normal = if INTEGERS.contains(&key.as_str()) {
            let n = text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| {
                    KnobError(format!("knob \"{key}\" must be a non-negative number"))
                })?;
            Value::from(n.floor() as u64)
        } else {
            match key.as_str() {
                "fail" if text != "none" && Fault::parse(&text).is_none() => {
                    return Err(KnobError(format!("unknown fail mode \"{text}\"")));
                }
                "retry_delay" => Value::String(retry_delay(&text)?),
                "lenient" => Value::Bool(matches!(text.to_lowercase().as_str(), "1" | "true")),
                "final_chunk" if !matches!(text.as_str(), "empty" | "text") => {
                    return Err(KnobError(
                        "knob \"final_chunk\" must be empty or text".into(),
                    ));
                }
                "error_framing" if !matches!(text.as_str(), "raw" | "data") => {
                    return Err(KnobError(
                        "knob \"error_framing\" must be raw or data".into(),
                    ));
                }
                "function_calls" => function_calls(value)?,
                _ => Value::String(text),
            }
        };
        out.insert(key.clone(), normal);
    }
    Ok(out)
}

/// `retry_delay` as a `google.protobuf.Duration` JSON string: `"37s"`, `"1.5s"`.
fn retry_delay(text: &str) -> Result<String, KnobError> {
    let number = text.trim().trim_end_matches('s');
    let valid = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.parse::<f64>().is_ok();
    if valid {
        Ok(format!("{number}s"))
    } else {
        Err(KnobError(
            "knob \"retry_delay\" must look like \"37s\" or \"1.5s\"".into(),
        ))
    }
}

/// `function_calls` as steps: `[[{name, args}…]…]`. One list of calls is
/// one step; `"a,b"` is shorthand for one step calling both with no args.
fn function_calls(value: &Value) -> Result<Value, KnobError> {
    let call = |v: &Value| -> Result<Value, KnobError> {
        match v {
            Value::String(name) => Ok(serde_json::json!({"name": name, "args": {}})),
            Value::Object(o) if o.get("name").is_some_and(Value::is_string) => {
                let mut c = o.clone();
                c.entry("args").or_insert_with(|| serde_json::json!({}));
                Ok(Value::Object(c))
            }
            _ => Err(KnobError(
                "knob \"function_calls\": each call needs a name".into(),
            )),
        }
    };
    let steps: Vec<Value> = match value {
        Value::String(s) => vec![Value::Array(
            s.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| call(&Value::String(n.into())))
                .collect::<Result<_, _>>()?,
        )],
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|step| {
                step.as_array()
                    .map(|calls| calls.iter().map(call).collect::<Result<Vec<_>, _>>())
                    .unwrap_or_else(|| Ok(Vec::new()))
                    .map(Value::Array)
            })
            .collect::<Result<_, _>>()?,
        Value::Array(items) => vec![Value::Array(
            items.iter().map(call).collect::<Result<_, _>>()?,
        )],
        Value::Object(_) => vec![Value::Array(vec![call(value)?])],
        _ => {
            return Err(KnobError(
                "knob \"function_calls\" must be a list of calls".into(),
            ))
        }
    };
    Ok(Value::Array(steps))
}

/// The merged knobs of one request, read through typed accessors.
#[derive(Debug, Clone, Default)]
pub struct Knobs(pub Map<String, Value>);

impl Knobs {
    /// `self` overridden by `over`, knob by knob.
    pub fn merged(&self, over: &Map<String, Value>) -> Knobs {
        let mut all = self.0.clone();
        for (k, v) in over {
            all.insert(k.clone(), v.clone());
        }
        Knobs(all)
    }

    /// An integer knob.
    pub fn int(&self, name: &str) -> Option<u64> {
        self.0.get(name).and_then(Value::as_u64)
    }

    /// A string knob.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// The fault asked for, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.text("fail").and_then(Fault::parse)
    }

    /// `lenient: true`.
    pub fn lenient(&self) -> bool {
        self.0.get("lenient").and_then(Value::as_bool) == Some(true)
    }

    /// The scripted function call steps.
    pub fn function_calls(&self) -> Option<&Vec<Value>> {
        self.0.get("function_calls").and_then(Value::as_array)
    }
}

/// The prefixes of an in-text directive: the historical one and ours.
const DIRECTIVES: &[&str] = &["[[fake-gemini:", "[[convo-fake:"];

/// A directive found in a text: its JSON and the byte span it covers.
pub struct Directive {
    /// The JSON object, as written.
    pub json: String,
    /// Byte range of the whole `[[…]]` in the text.
    pub span: std::ops::Range<usize>,
}

/// The first directive in `text`. Its JSON may itself hold `}]]` (nested
/// function call steps), so the shortest span that parses wins.
pub fn find_directive(text: &str) -> Option<Directive> {
    let (start, prefix) = DIRECTIVES
        .iter()
        .filter_map(|p| text.find(&format!("{p}{{")).map(|at| (at, *p)))
        .min_by_key(|(at, _)| *at)?;
    let from = start + prefix.len();
    let mut first = None;
    let mut search = from;
    while let Some(rel) = text[search..].find("}]]") {
        let end = search + rel;
        first.get_or_insert(end);
        let json = &text[from..=end];
        if serde_json::from_str::<Value>(json).is_ok() {
            return Some(Directive {
                json: json.to_owned(),
                span: start..end + 3,
            });
        }
        search = end + 1;
    }
    // Not JSON: the shortest span, so the caller reports it as a 400.
    first.map(|end| Directive {
        json: text[from..=end].to_owned(),
        span: start..end + 3,
    })
}

/// `text` without its directive.
pub fn strip_directive(text: &str) -> String {
    match find_directive(text) {
        Some(d) => format!("{}{}", &text[..d.span.start], &text[d.span.end..]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_may_come_as_strings_and_unknown_knobs_are_refused() {
        let k = normalize(&json!({"chunks": "6", "delay_ms": 2.7})).expect("valid");
        assert_eq!(
            (k["chunks"].clone(), k["delay_ms"].clone()),
            (json!(6), json!(2))
        );
        assert!(normalize(&json!({"bogus": 1})).is_err());
        assert!(normalize(&json!({"fail": "sometimes"})).is_err());
        assert!(normalize(&json!({"chunks": -1})).is_err());
    }

    #[test]
    fn retry_delay_becomes_a_duration() {
        let k = normalize(&json!({"retry_delay": 37})).expect("valid");
        assert_eq!(k["retry_delay"], "37s");
        let k = normalize(&json!({"retry_delay": "1.5s"})).expect("valid");
        assert_eq!(k["retry_delay"], "1.5s");
        assert!(normalize(&json!({"retry_delay": "soon"})).is_err());
    }

    #[test]
    fn every_fault_name_round_trips() {
        for (name, fault) in Fault::ALL {
            assert_eq!(Fault::parse(name), Some(*fault));
            assert_eq!(fault.name(), *name);
        }
        assert_eq!(Fault::parse("none"), None);
    }

    #[test]
    fn a_directive_is_found_even_with_nested_brackets_and_stripped() {
        let text = r#"hi [[fake-gemini:{"function_calls":[[{"name":"a"}]]}]] there"#;
        let d = find_directive(text).expect("found");
        assert_eq!(d.json, r#"{"function_calls":[[{"name":"a"}]]}"#);
        assert_eq!(strip_directive(text), "hi  there");
        let ours = find_directive(r#"x [[convo-fake:{"fail":"500"}]]"#).expect("found");
        assert_eq!(ours.json, r#"{"fail":"500"}"#);
    }

    #[test]
    fn function_call_shorthands_become_steps() {
        let k = normalize(&json!({"function_calls": "a,b"})).expect("valid");
        assert_eq!(
            k["function_calls"],
            json!([[{"name": "a", "args": {}}, {"name": "b", "args": {}}]])
        );
        let k = normalize(&json!({"function_calls": [{"name": "a", "args": {"x": 1}}]}))
            .expect("valid");
        assert_eq!(
            k["function_calls"],
            json!([[{"name": "a", "args": {"x": 1}}]])
        );
    }
}
