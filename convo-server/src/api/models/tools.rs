//! Tools (function calling): an agent's tool definitions, the calls a model
//! makes, and the agent's webhook secret.

use std::borrow::Cow;

use convo_core as core;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object};
use serde_json::Value;

use crate::http::error::ApiError;

/// What a webhook tool is given when the agent does not say: 10 seconds.
const DEFAULT_WEBHOOK_TIMEOUT_MS: u32 = 10_000;

fn default_webhook_timeout_ms() -> u32 {
    DEFAULT_WEBHOOK_TIMEOUT_MS
}

/// A tool the agent's model may call.
#[derive(Debug, Clone, PartialEq, Object, serde::Serialize)]
pub struct Tool {
    /// The name the model calls it by: a letter, then up to 63 letters, digits, `_` or `-`
    /// (`^[A-Za-z][A-Za-z0-9_-]{0,63}$`); unique in the agent.
    pub name: String,
    /// What it does and when to use it, for the model (at most 4 KiB).
    #[oai(default)]
    pub description: String,
    /// A JSON Schema of its arguments: an object with `"type": "object"`, at most 16 KiB
    /// as JSON.
    pub parameters: Value,
    /// Who runs it: `"client"` (the API caller, which posts the outputs), or a webhook
    /// the server calls, `{"type": "webhook", "url", "timeout_ms"}`. Agents made by a
    /// program embedding the library may also show `"server"`; the API does not accept it.
    pub execution: ToolExecution,
}

/// Who runs a tool: `"client"`, `"server"` (read only), or a webhook object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum ToolExecution {
    /// `"client"` or `"server"`.
    Named(NamedExecution),
    /// A webhook the server calls.
    Webhook(WebhookExecution),
}

/// An execution named by a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum NamedExecution {
    /// The API caller runs it: the turn pauses until the outputs are posted.
    Client,
    /// A Rust tool of the program embedding the library (never accepted by the API).
    Server,
}

/// A webhook tool: the server POSTs each call to `url`, signed with the agent's
/// webhook secret (Standard Webhooks), and gives the model the JSON answer.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
pub struct WebhookExecution {
    /// Always `webhook`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: WebhookKind,
    /// An `https` URL without user name or password (`http` only when the server
    /// allows private networks). Loopback, private and link-local addresses are refused
    /// when called unless the server allows them.
    pub url: String,
    /// How long one call may take, 1–60,000 milliseconds (10,000 when absent).
    // The schema states the type's range (the engine checks 1–60,000 and
    // answers 422 naming the field), so a schema-valid number always parses.
    #[oai(
        default = "default_webhook_timeout_ms",
        validator(minimum(value = "0"), maximum(value = "4294967295"))
    )]
    pub timeout_ms: u32,
}

/// The `type` of a webhook execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// A webhook.
    Webhook,
}

// A string or an object: poem-openapi's `Union` always declares
// `"type": "object"`, which a bare `"client"` would break, so the schema is
// written here as a plain `oneOf`.
impl Type for ToolExecution {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "ToolExecution".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
            NamedExecution::register(registry);
            WebhookExecution::register(registry);
            MetaSchema {
                description: Some(
                    "Who runs a tool: `\"client\"`, `\"server\"` (read only), or \
                     `{\"type\": \"webhook\", \"url\", \"timeout_ms\"}`.",
                ),
                one_of: vec![NamedExecution::schema_ref(), WebhookExecution::schema_ref()],
                ..MetaSchema::ANY
            }
        });
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for ToolExecution {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(v @ Value::String(_)) => NamedExecution::parse_from_json(Some(v))
                .map(Self::Named)
                .map_err(ParseError::propagate),
            Some(v @ Value::Object(_)) => WebhookExecution::parse_from_json(Some(v))
                .map(Self::Webhook)
                .map_err(ParseError::propagate),
            _ => Err(ParseError::custom(
                "`execution` must be \"client\" or {\"type\": \"webhook\", \"url\", \"timeout_ms\"}",
            )),
        }
    }
}

impl ToJSON for ToolExecution {
    fn to_json(&self) -> Option<Value> {
        match self {
            Self::Named(n) => n.to_json(),
            Self::Webhook(w) => w.to_json(),
        }
    }
}

impl From<core::ToolDefinition> for Tool {
    fn from(t: core::ToolDefinition) -> Self {
        let execution = match t.execution {
            core::ToolExecution::Client => ToolExecution::Named(NamedExecution::Client),
            core::ToolExecution::Server => ToolExecution::Named(NamedExecution::Server),
            core::ToolExecution::Webhook(w) => ToolExecution::Webhook(WebhookExecution {
                kind: WebhookKind::Webhook,
                url: w.url,
                timeout_ms: w.timeout_ms,
            }),
        };
        Self {
            name: t.name,
            description: t.description,
            parameters: t.parameters,
            execution,
        }
    }
}

/// The engine's tools from a request's, refusing `"server"`: through the
/// API a tool is run by the client or by a webhook, never by code the API
/// caller cannot register.
pub fn tools_from_request(tools: Vec<Tool>) -> Result<Vec<core::ToolDefinition>, ApiError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let execution = match t.execution {
                ToolExecution::Named(NamedExecution::Client) => core::ToolExecution::Client,
                ToolExecution::Named(NamedExecution::Server) => {
                    return Err(ApiError::validation(
                        format!("tools[{i}].execution"),
                        format!(
                            "invalid tools[{i}].execution: must be \"client\" or a webhook; \
                             \"server\" tools exist only in programs embedding the library"
                        ),
                    ))
                }
                ToolExecution::Webhook(w) => core::ToolExecution::Webhook(core::WebhookTarget {
                    url: w.url,
                    timeout_ms: w.timeout_ms,
                }),
            };
            Ok(core::ToolDefinition {
                name: t.name,
                description: t.description,
                parameters: t.parameters,
                execution,
            })
        })
        .collect()
}

/// A call the model made to a tool.
#[derive(Debug, Clone, PartialEq, Object, serde::Serialize)]
pub struct ToolCall {
    /// The call's id; the tool message answering it names it as `tool_call_id`.
    pub id: String,
    /// The tool called (as the model wrote it: it may name no tool).
    pub name: String,
    /// The arguments: a JSON object when the model wrote one; anything else is kept as it
    /// came.
    pub arguments: Value,
}

impl From<core::ToolCall> for ToolCall {
    fn from(c: core::ToolCall) -> Self {
        Self {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
        }
    }
}

/// An agent's webhook secret.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct WebhookSecret {
    /// `whsec_` + base64 of 32 random bytes. Webhook requests carry
    /// `webhook-signature: v1,<base64 HMAC-SHA256>` keyed with the base64-decoded part
    /// after `whsec_` (Standard Webhooks), so any of that spec's libraries verifies them.
    /// Shown only here and in the answer that created the agent.
    pub webhook_secret: String,
}
