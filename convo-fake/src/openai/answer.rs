//! What the model answers: scripted tool calls when tools are declared,
//! else the echo (or the tool results), cut to the token limit and
//! withheld by the content filter; its finish reason and usage, and the
//! whole `chat.completion` object.

use serde_json::{json, Value};

use super::request::{content_text, Chat};
use crate::knobs::{self, Fault, Knobs};
use crate::log::Record;
use crate::text::approx_tokens;

/// One request's answer, before it is sent whole or streamed.
pub(super) struct Answer {
    /// `chatcmpl-…`, shared by every chunk.
    pub(super) id: String,
    /// Seconds since the epoch.
    pub(super) created: u64,
    /// The text (empty for tool calls or when filtered).
    pub(super) text: String,
    /// The tool calls, when the answer is calls.
    pub(super) tool_calls: Option<Vec<Value>>,
    pub(super) finish: String,
    pub(super) usage: Value,
    /// A blocked prompt or a safety stop: OpenAI's content filter.
    filtered: bool,
}

impl Answer {
    /// The answer to `chat` as `knobs` script it, under `fault`.
    pub(super) fn new(chat: &Chat, knobs: &Knobs, fault: Option<Fault>) -> Self {
        let messages = chat.messages();
        let body = &chat.body;
        let tools_declared = body["tools"].as_array().is_some_and(|t| !t.is_empty())
            && body["tool_choice"] != "none";
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
                .or_else(|| forced_call(body))
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
                knobs::strip_directive(&chat.last_user_text()).trim(),
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
        Self {
            id,
            created,
            text,
            tool_calls,
            finish,
            usage,
            filtered,
        }
    }

    /// The whole `chat.completion` object.
    pub(super) fn whole(&self, model: &str) -> Value {
        let message = match &self.tool_calls {
            Some(calls) => {
                json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null})
            }
            None => json!({"role": "assistant", "content": self.text, "refusal": null}),
        };
        json!({"id": self.id, "object": "chat.completion", "created": self.created, "model": model, "choices": [{"index": 0, "message": message, "finish_reason": self.finish, "logprobs": null}], "usage": self.usage})
    }

    /// Records the answer as delivered: `ok`, or the filtering fault.
    pub(super) fn delivered(&self, record: &Record, fault: Option<Fault>) {
        record.set(
            "outcome",
            json!(fault.filter(|_| self.filtered).map_or("ok", Fault::name)),
        );
        record.set("reply", json!(self.text));
    }
}

/// The call `tool_choice` forces when nothing is scripted: the named
/// function, or with `required` the first tool, with no arguments.
fn forced_call(body: &Value) -> Option<Vec<Value>> {
    let choice = &body["tool_choice"];
    let name = if choice["type"] == "function" {
        choice["function"]["name"].as_str()
    } else if choice == "required" {
        body["tools"][0]["function"]["name"].as_str()
    } else {
        None
    }?;
    Some(vec![json!({"name": name, "args": {}})])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: Value) -> Chat {
        Chat {
            body,
            model: "gpt-5.1".into(),
            stream: false,
        }
    }

    #[test]
    fn the_finish_reason_says_why_the_answer_ended() {
        let hello = json!({"messages": [{"role": "user", "content": "hello there"}]});
        let cases = [
            (hello.clone(), json!({}), None, "stop"),
            (
                json!({"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 1}),
                json!({}),
                None,
                "length",
            ),
            (
                hello.clone(),
                json!({}),
                Some(Fault::SafetyStop),
                "content_filter",
            ),
            (
                json!({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}),
                json!({"function_calls": "lookup"}),
                None,
                "tool_calls",
            ),
            (
                json!({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "required",
                    "tools": [{"type": "function", "function": {"name": "lookup"}}]}),
                json!({}),
                None,
                "tool_calls",
            ),
            (
                json!({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto",
                    "tools": [{"type": "function", "function": {"name": "lookup"}}]}),
                json!({}),
                None,
                "stop",
            ),
        ];
        for (body, knobs, fault, finish) in cases {
            let knobs = Knobs(crate::knobs::normalize(&knobs).expect("valid knobs"));
            let answer = Answer::new(&chat(body.clone()), &knobs, fault);
            assert_eq!(answer.finish, finish, "{body} under {fault:?}");
        }
    }

    #[test]
    fn the_echo_leaves_the_directive_out_and_a_filtered_answer_has_no_text() {
        let body =
            json!({"messages": [{"role": "user", "content": "hi [[convo-fake:{\"chunks\":2}]]"}]});
        let answer = Answer::new(&chat(body.clone()), &Knobs::default(), None);
        assert_eq!(answer.text, "echo: hi [messages=1]");
        let filtered = Answer::new(&chat(body), &Knobs::default(), Some(Fault::Blocked));
        assert_eq!(filtered.text, "");
        assert_eq!(
            filtered.whole("gpt-5.1")["choices"][0]["message"]["content"],
            ""
        );
    }
}
