//! The rules of an agent's tools, and of the tool fields of a message.
//!
//! `ConvoError::Invalid` names its field with a `&'static str`; the field of
//! a tool is `tools[i].…`, and an agent has at most [`MAX_TOOLS`] tools, so
//! every such name is written out at compile time ([`FIELDS`]) rather than
//! allocated per error.

use std::ops::RangeInclusive;

use crate::domain::{ToolDefinition, ToolExecution, WebhookTarget};
use crate::error::ConvoError;

/// The most tools an agent may have.
pub(crate) const MAX_TOOLS: usize = 32;
/// The longest tool name, in characters (all ASCII).
pub(crate) const MAX_TOOL_NAME_CHARS: usize = 64;
/// The largest `parameters` schema, serialised as JSON, in bytes.
pub(crate) const MAX_PARAMETERS_BYTES: usize = 16 * 1024;
/// The longest tool description, in bytes.
pub(crate) const MAX_TOOL_DESCRIPTION_BYTES: usize = 4 * 1024;
/// How long one webhook call may be given, in milliseconds.
pub(crate) const WEBHOOK_TIMEOUT_MS: RangeInclusive<u32> = 1..=60_000;
/// How many rounds of tool calls an agent may allow per turn.
pub(crate) const TOOL_ROUNDS: RangeInclusive<u32> = 1..=32;
/// The longest tool call id, in bytes (providers' ids are a few dozen).
pub(crate) const MAX_TOOL_CALL_ID_BYTES: usize = 256;

/// The names, as the API reports them, of one tool's fields.
struct ToolFields {
    name: &'static str,
    description: &'static str,
    parameters: &'static str,
    url: &'static str,
    timeout_ms: &'static str,
}

macro_rules! tool_fields {
    ($($i:literal)*) => {
        [$(ToolFields {
            name: concat!("tools[", $i, "].name"),
            description: concat!("tools[", $i, "].description"),
            parameters: concat!("tools[", $i, "].parameters"),
            url: concat!("tools[", $i, "].execution.url"),
            timeout_ms: concat!("tools[", $i, "].execution.timeout_ms"),
        }),*]
    };
}

/// `FIELDS[i]`: the field names of `tools[i]`.
const FIELDS: [ToolFields; MAX_TOOLS] = tool_fields!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
);

/// An agent's tools: at most [`MAX_TOOLS`], each valid, names unique.
/// Webhook URLs must be `https`; `http` too when `allow_http` (the engine's
/// [`tools_allow_private_networks`](crate::Settings::tools_allow_private_networks),
/// for tests and on-premise tools).
pub(crate) fn tools(
    tools: Vec<ToolDefinition>,
    allow_http: bool,
) -> Result<Vec<ToolDefinition>, ConvoError> {
    if tools.len() > MAX_TOOLS {
        return Err(ConvoError::invalid(
            "tools",
            format!("an agent may have at most {MAX_TOOLS} tools"),
        ));
    }
    for (i, tool) in tools.iter().enumerate() {
        let fields = &FIELDS[i];
        tool_name(fields.name, &tool.name)?;
        if tools[..i].iter().any(|earlier| earlier.name == tool.name) {
            return Err(ConvoError::invalid(
                fields.name,
                format!("`{}` is the name of an earlier tool", tool.name),
            ));
        }
        if tool.description.len() > MAX_TOOL_DESCRIPTION_BYTES {
            return Err(ConvoError::invalid(
                fields.description,
                format!("must be at most {MAX_TOOL_DESCRIPTION_BYTES} bytes"),
            ));
        }
        parameters(fields.parameters, &tool.parameters)?;
        if let ToolExecution::Webhook(target) = &tool.execution {
            webhook(fields, target, allow_http)?;
        }
    }
    Ok(tools)
}

/// Rounds of tool calls per turn: 1–32.
pub(crate) fn max_tool_rounds(value: u32) -> Result<u32, ConvoError> {
    if TOOL_ROUNDS.contains(&value) {
        Ok(value)
    } else {
        Err(ConvoError::invalid(
            "max_tool_rounds",
            format!(
                "must be between {} and {}",
                TOOL_ROUNDS.start(),
                TOOL_ROUNDS.end()
            ),
        ))
    }
}

/// A tool name: `^[A-Za-z][A-Za-z0-9_-]{0,63}$`, the rule both providers'
/// function names fit.
pub(crate) fn tool_name(field: &'static str, name: &str) -> Result<(), ConvoError> {
    let mut bytes = name.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && name.len() <= MAX_TOOL_NAME_CHARS;
    if ok {
        Ok(())
    } else {
        Err(ConvoError::invalid(
            field,
            format!(
                "must be a letter followed by at most {} letters, digits, `_` or `-`",
                MAX_TOOL_NAME_CHARS - 1
            ),
        ))
    }
}

/// A JSON Schema of the arguments: an object with `"type": "object"`, at
/// most [`MAX_PARAMETERS_BYTES`] as JSON.
fn parameters(field: &'static str, schema: &serde_json::Value) -> Result<(), ConvoError> {
    let is_object_schema = schema
        .as_object()
        .is_some_and(|o| o.get("type").and_then(|t| t.as_str()) == Some("object"));
    if !is_object_schema {
        return Err(ConvoError::invalid(
            field,
            "must be a JSON Schema object with \"type\": \"object\"",
        ));
    }
    let size = serde_json::to_vec(schema)
        .map_err(|e| ConvoError::Internal(format!("a schema did not serialise: {e}")))?
        .len();
    if size > MAX_PARAMETERS_BYTES {
        return Err(ConvoError::invalid(
            field,
            format!("must be at most {MAX_PARAMETERS_BYTES} bytes as JSON, not {size}"),
        ));
    }
    Ok(())
}

/// A webhook: an absolute `https` URL (`http` when allowed) without
/// credentials, and a timeout in [`WEBHOOK_TIMEOUT_MS`]. Where it points
/// is checked when it is called, on the address actually connected to.
fn webhook(
    fields: &ToolFields,
    target: &WebhookTarget,
    allow_http: bool,
) -> Result<(), ConvoError> {
    let url = url::Url::parse(&target.url)
        .map_err(|e| ConvoError::invalid(fields.url, format!("is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => {
            let expected = if allow_http {
                "`https` or `http`"
            } else {
                "`https`"
            };
            return Err(ConvoError::invalid(
                fields.url,
                format!("must be an {expected} URL"),
            ));
        }
    }
    // Credentials in a URL end up in logs and in every error message that
    // quotes it; the request's signature is how a receiver knows the sender.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConvoError::invalid(
            fields.url,
            "must not contain a user name or password",
        ));
    }
    if !WEBHOOK_TIMEOUT_MS.contains(&target.timeout_ms) {
        return Err(ConvoError::invalid(
            fields.timeout_ms,
            format!(
                "must be between {} and {} milliseconds",
                WEBHOOK_TIMEOUT_MS.start(),
                WEBHOOK_TIMEOUT_MS.end()
            ),
        ));
    }
    Ok(())
}

/// The id of a tool call, or the `tool_call_id` a tool message answers.
pub(crate) fn tool_call_id(field: &'static str, id: &str) -> Result<(), ConvoError> {
    if id.is_empty() || id.len() > MAX_TOOL_CALL_ID_BYTES {
        return Err(ConvoError::invalid(
            field,
            format!("a tool call id must be 1 to {MAX_TOOL_CALL_ID_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, execution: ToolExecution) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
            execution,
        }
    }

    fn webhook_tool(url: &str, timeout_ms: u32) -> ToolDefinition {
        tool(
            "hook",
            ToolExecution::Webhook(WebhookTarget {
                url: url.into(),
                timeout_ms,
            }),
        )
    }

    fn field_of(result: Result<Vec<ToolDefinition>, ConvoError>) -> Option<&'static str> {
        match result {
            Err(ConvoError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn the_field_table_names_every_index() {
        assert_eq!(FIELDS[0].name, "tools[0].name");
        assert_eq!(FIELDS[31].url, "tools[31].execution.url");
        assert_eq!(FIELDS[17].timeout_ms, "tools[17].execution.timeout_ms");
    }

    #[test]
    fn names_follow_the_providers_rule() {
        for good in ["a", "get_weather", "Lookup-Order2", &"x".repeat(64)] {
            assert!(tool_name("n", good).is_ok(), "{good:?} is a name");
        }
        for bad in ["", "1abc", "_a", "a b", "a.b", "é", &"x".repeat(65)] {
            assert!(tool_name("n", bad).is_err(), "{bad:?} is not a name");
        }
    }

    #[test]
    fn each_rule_names_the_field_at_fault() {
        let client = || tool("a", ToolExecution::Client);
        let cases: Vec<(Vec<ToolDefinition>, &str)> = vec![
            (vec![client(); 33], "tools"),
            (
                vec![client(), tool("9", ToolExecution::Client)],
                "tools[1].name",
            ),
            (vec![client(), client()], "tools[1].name"),
            (
                vec![ToolDefinition {
                    description: "d".repeat(4097),
                    ..client()
                }],
                "tools[0].description",
            ),
            (
                vec![ToolDefinition {
                    parameters: json!({"type": "string"}),
                    ..client()
                }],
                "tools[0].parameters",
            ),
            (
                vec![ToolDefinition {
                    parameters: json!([{"type": "object"}]),
                    ..client()
                }],
                "tools[0].parameters",
            ),
            (
                vec![ToolDefinition {
                    parameters: json!({"type": "object", "description": "p".repeat(16 * 1024)}),
                    ..client()
                }],
                "tools[0].parameters",
            ),
            (
                vec![webhook_tool("http://tools.example.com/x", 1000)],
                "tools[0].execution.url",
            ),
            (
                vec![webhook_tool("ftp://tools.example.com/x", 1000)],
                "tools[0].execution.url",
            ),
            (
                vec![webhook_tool("not a url", 1000)],
                "tools[0].execution.url",
            ),
            (
                vec![webhook_tool("https://user:pw@tools.example.com/x", 1000)],
                "tools[0].execution.url",
            ),
            (
                vec![webhook_tool("https://tools.example.com/x", 0)],
                "tools[0].execution.timeout_ms",
            ),
            (
                vec![webhook_tool("https://tools.example.com/x", 60_001)],
                "tools[0].execution.timeout_ms",
            ),
        ];
        for (list, expected) in cases {
            assert_eq!(field_of(tools(list, false)), Some(expected), "{expected}");
        }
    }

    #[test]
    fn valid_tools_pass_unchanged() {
        let list = vec![
            tool("client_tool", ToolExecution::Client),
            tool("server_tool", ToolExecution::Server),
            webhook_tool("https://tools.example.com/orders", 60_000),
        ];
        assert_eq!(tools(list.clone(), false).ok(), Some(list));
        assert_eq!(tools(Vec::new(), false).ok(), Some(Vec::new()));
    }

    #[test]
    fn http_webhooks_pass_only_when_private_networks_are_allowed() {
        let list = vec![webhook_tool("http://127.0.0.1:9000/hook", 1)];
        assert!(tools(list.clone(), false).is_err());
        assert!(tools(list, true).is_ok());
    }

    #[test]
    fn tool_rounds_are_1_to_32() {
        assert!(max_tool_rounds(0).is_err());
        assert_eq!(max_tool_rounds(1).ok(), Some(1));
        assert_eq!(max_tool_rounds(32).ok(), Some(32));
        assert!(max_tool_rounds(33).is_err());
    }
}
