//! Request validation with the real API's 400 messages.
//!
//! Field names may be lowerCamel or snake_case, as in proto JSON
//! ("Generating content", <https://ai.google.dev/api/generate-content>, read
//! 2026-11-30); error paths are snake_case, as in the real messages. The
//! history rules follow "Thought Signatures",
//! <https://ai.google.dev/gemini-api/docs/thought-signatures> (read 2026-11-30).

//!
//! This module checks the request's top level and spells field names;
//! `content` checks contents and parts, `generation` the generation and
//! thinking settings, `safety` the safety settings, `tools` the tools and
//! tool config, `history` the rules across turns (signatures, function
//! call / response counts).

use serde_json::{Map, Value};

use crate::models::Spec;
use crate::signature::Signer;

mod content;
mod generation;
mod history;
mod safety;
#[cfg(test)]
mod tests;
mod tools;

pub use content::turn_start;

/// `name` (lowerCamel) of an object, or its snake_case spelling.
pub fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| object.get(&snake(name)))
}

/// `name` in snake_case (the spelling of error paths).
pub(super) fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `name` in lowerCamelCase (the spelling fields are checked in).
pub(super) fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The fields of a `GenerateContentRequest`.
const TOP: &[&str] = &[
    "contents",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
    "labels",
    "serviceTier",
    "store",
    "continuationToken",
];

/// `Unknown name "x" at 'where'` for the first field of `object` not in `allowed`.
pub(super) fn unknown(
    object: &Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), String> {
    for key in object.keys() {
        if !allowed.contains(&camel(key).as_str()) {
            let place = if at.is_empty() {
                String::new()
            } else {
                format!(" at '{at}'")
            };
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{key}\"{place}: Cannot find field."
            ));
        }
    }
    Ok(())
}

/// Checks a `GenerateContentRequest`; `Err` is the 400's message.
pub fn request(
    body: &Value,
    spec: &Spec,
    lenient: bool,
    signer: &Signer,
    extra_top: &[&str],
) -> Result<(), String> {
    let Some(object) = body.as_object() else {
        return Err("Invalid JSON payload received. Root element must be a message.".into());
    };
    if !lenient {
        let allowed: Vec<&str> = TOP.iter().chain(extra_top).copied().collect();
        unknown(object, &allowed, "")?;
    }
    let contents = field(body, "contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let Some(contents) = contents else {
        return Err("* GenerateContentRequest.contents: contents is not specified\n".into());
    };
    for (i, content) in contents.iter().enumerate() {
        content::check_content(content, &format!("contents[{i}]"), lenient)?;
        if !matches!(
            content["role"].as_str(),
            None | Some("") | Some("user") | Some("model")
        ) {
            return Err("Please use a valid role: user, model.".into());
        }
    }
    if let Some(system) = field(body, "systemInstruction") {
        content::check_content(system, "system_instruction", lenient)?;
    }
    if lenient {
        return Ok(());
    }
    if let Some(config) = field(body, "generationConfig") {
        generation::generation(config, spec)?;
    }
    if let Some(settings) = field(body, "safetySettings") {
        safety::safety_settings(settings)?;
    }
    if let Some(tools) = field(body, "tools") {
        tools::tools(tools)?;
    }
    if let Some(config) = field(body, "toolConfig") {
        tools::tool_config(config)?;
    }
    history::history(contents, spec, signer)
}
