//! Which fields of a Chat Completions request Convo honours, which it
//! ignores, and which it refuses: a client must never get an answer to a
//! different question than it asked, so a field that would change the answer
//! and is not implemented is refused by name rather than silently dropped.
//!
//! The fields are those of OpenAI's reference for `POST /chat/completions`
//! (<https://platform.openai.com/docs/api-reference/chat/create>). A field
//! that is not in it is refused too, as OpenAI refuses it ("Unrecognized
//! request argument supplied"), so a typo never passes for a setting.
//!
//! [`FIELDS`] is the one table: implementing a field is moving its entry
//! to [`Support::Honoured`] (and reading it in `wire::ChatCompletionRequest`).

use serde_json::{Map, Value};

/// What Convo does with one request field.
#[derive(Debug, Clone, Copy)]
pub enum Support {
    /// Read and honoured (`wire::ChatCompletionRequest`).
    Honoured,
    /// Cannot change the answer (metadata, billing, caching, abuse
    /// tracking): accepted and ignored.
    Ignored,
    /// Would change the answer and is not implemented: refused unless it is
    /// null or `neutral` (a value that asks for nothing special).
    Unsupported {
        /// Whether a (non-null) value asks for nothing special.
        neutral: fn(&Value) -> bool,
        /// Those values, for the error message ("leave it out or …").
        accepted: &'static str,
    },
}

use Support::{Honoured, Ignored, Unsupported};

/// Every field of OpenAI's Chat Completions request, and what Convo does with it.
pub const FIELDS: &[(&str, Support)] = &[
    ("model", Honoured),
    ("messages", Honoured),
    ("temperature", Honoured),
    ("max_tokens", Honoured),
    ("max_completion_tokens", Honoured),
    ("stream", Honoured),
    ("reasoning_effort", Honoured),
    // `include_usage` is honoured; `include_obfuscation` only pads chunks.
    ("stream_options", Honoured),
    // The end user a chat key serves (read in `wire::ChatCompletionRequest`);
    // informational with a user's token.
    ("user", Honoured),
    ("safety_identifier", Ignored),
    ("metadata", Ignored),
    // OpenAI keeping the completion for its dashboard; the answer is the same.
    ("store", Ignored),
    // Latency and price, not the answer.
    ("service_tier", Ignored),
    ("prompt_cache_key", Ignored),
    ("prompt_cache_retention", Ignored),
    ("tools", Honoured),
    ("tool_choice", Honoured),
    ("parallel_tool_calls", Honoured),
    ("response_format", Honoured),
    ("n", unsupported(is_one, "1")),
    ("logprobs", unsupported(is_false, "false")),
    ("top_logprobs", unsupported(is_zero, "0")),
    ("top_p", unsupported(is_one, "1")),
    ("frequency_penalty", unsupported(is_zero, "0")),
    ("presence_penalty", unsupported(is_zero, "0")),
    ("logit_bias", unsupported(is_empty, "{}")),
    ("stop", unsupported(is_empty, "[]")),
    // Best effort at OpenAI, but a caller sending it expects repeatable answers.
    ("seed", unsupported(never, "")),
    // The deprecated forms of `tools` and `tool_choice`.
    ("functions", unsupported(is_empty, "[]")),
    (
        "function_call",
        unsupported(no_tool, "\"none\" or \"auto\""),
    ),
    ("modalities", unsupported(is_text_only, "[\"text\"]")),
    ("audio", unsupported(never, "")),
    ("prediction", unsupported(never, "")),
    ("verbosity", unsupported(is_medium, "\"medium\"")),
    ("web_search_options", unsupported(never, "")),
];

const fn unsupported(neutral: fn(&Value) -> bool, accepted: &'static str) -> Support {
    Unsupported { neutral, accepted }
}

fn is_one(v: &Value) -> bool {
    v.as_f64() == Some(1.0)
}

fn is_zero(v: &Value) -> bool {
    v.as_f64() == Some(0.0)
}

fn is_false(v: &Value) -> bool {
    v == &Value::Bool(false)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

fn no_tool(v: &Value) -> bool {
    matches!(v.as_str(), Some("none" | "auto"))
}

fn is_text_only(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|items| items.iter().all(|m| m == "text"))
}

fn is_medium(v: &Value) -> bool {
    v == "medium"
}

fn never(_: &Value) -> bool {
    false
}

/// Why a request's fields are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A field of OpenAI's API that Convo does not implement, set to a value that asks for it.
    Unsupported {
        /// The field.
        param: String,
        /// The values that are accepted, besides leaving it out.
        accepted: &'static str,
    },
    /// A field that is not in OpenAI's API.
    Unrecognized {
        /// The field.
        param: String,
    },
}

impl Refusal {
    /// The field at fault.
    pub fn param(&self) -> &str {
        match self {
            Refusal::Unsupported { param, .. } | Refusal::Unrecognized { param } => param,
        }
    }

    /// The message for the client, worded as OpenAI words it.
    pub fn message(&self) -> String {
        match self {
            Refusal::Unsupported { param, accepted: "" } => format!(
                "Unsupported parameter: '{param}' is not supported by this server; leave it out."
            ),
            Refusal::Unsupported { param, accepted } => format!(
                "Unsupported parameter: '{param}' is not supported by this server; leave it out or send {accepted}."
            ),
            Refusal::Unrecognized { param } => {
                format!("Unrecognized request argument supplied: {param}")
            }
        }
    }
}

/// Checks a request's top-level fields against [`FIELDS`]; the first
/// refused field (in the body's key order) is the answer.
pub fn check(body: &Map<String, Value>) -> Result<(), Refusal> {
    for (name, value) in body {
        match FIELDS.iter().find(|(field, _)| field == name) {
            None => {
                return Err(Refusal::Unrecognized {
                    param: name.clone(),
                })
            }
            Some((_, Unsupported { neutral, accepted })) if !value.is_null() && !neutral(value) => {
                return Err(Refusal::Unsupported {
                    param: name.clone(),
                    accepted,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked(body: Value) -> Result<(), Refusal> {
        check(body.as_object().expect("an object"))
    }

    #[test]
    fn every_field_is_listed_once() {
        for (i, (name, _)) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[i + 1..].iter().all(|(other, _)| other != name),
                "{name} is listed twice"
            );
        }
    }

    #[test]
    fn each_refused_value_names_its_field_and_neutral_values_pass() {
        let refused = [
            json!({"n": 2}),
            json!({"logprobs": true}),
            json!({"top_logprobs": 3}),
            json!({"top_p": 0.5}),
            json!({"stop": ["\n"]}),
            json!({"stop": "END"}),
            json!({"functions": [{"name": "f"}]}),
            json!({"function_call": {"name": "f"}}),
            json!({"modalities": ["text", "audio"]}),
            json!({"seed": 7}),
            json!({"verbosity": "low"}),
        ];
        for body in refused {
            let param = body
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default();
            let refusal = checked(body.clone()).expect_err("refused");
            assert!(
                matches!(&refusal, Refusal::Unsupported { .. }),
                "{body}: {refusal:?}"
            );
            assert_eq!(refusal.param(), param, "{body}");
            assert!(refusal.message().contains(&param), "{body}");
        }
        let neutral = json!({
            "model": "m", "messages": [], "n": 1, "logprobs": false, "top_logprobs": null,
            "top_p": 1.0, "frequency_penalty": 0, "presence_penalty": 0.0, "logit_bias": {},
            "stop": null, "seed": null, "tools": [], "tool_choice": "none", "functions": [],
            "function_call": "auto", "response_format": {"type": "text"},
            "modalities": ["text"], "verbosity": "medium", "user": "u-1", "store": true,
            "metadata": {"k": "v"}, "parallel_tool_calls": true, "service_tier": "flex",
        });
        assert_eq!(checked(neutral), Ok(()));
    }

    #[test]
    fn a_field_outside_openais_api_is_unrecognized() {
        let refusal = checked(json!({"model": "m", "top_k": 5})).expect_err("refused");

        assert_eq!(
            refusal,
            Refusal::Unrecognized {
                param: "top_k".into()
            }
        );
        assert_eq!(
            refusal.message(),
            "Unrecognized request argument supplied: top_k"
        );
    }
}
