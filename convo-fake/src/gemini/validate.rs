//! Request validation with the real API's 400 messages.
//!
//! Field names may be lowerCamel or snake_case, as in proto JSON
//! ("Generating content", <https://ai.google.dev/api/generate-content>, read
//! 2026-11-30); error paths are snake_case, as in the real messages. The
//! history rules follow "Thought Signatures",
//! <https://ai.google.dev/gemini-api/docs/thought-signatures> (read 2026-11-30).

use serde_json::{Map, Value};

use crate::models::Spec;
use crate::signature::Signer;

/// `name` (lowerCamel) of an object, or its snake_case spelling.
pub fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| object.get(&snake(name)))
}

fn snake(name: &str) -> String {
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

fn camel(name: &str) -> String {
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
const GENERATION: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "seed",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "enableEnhancedCivicAnswers",
    "imageConfig",
    "audioTranscriptionConfig",
];
const THINKING: &[&str] = &["thinkingBudget", "includeThoughts", "thinkingLevel"];
/// The part fields that carry data (one is required).
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
];
/// `HarmCategory` and `HarmBlockThreshold` ("Safety settings",
/// <https://ai.google.dev/api/generate-content#safetysetting>, read 2026-11-30).
const HARM_CATEGORIES: &[&str] = &[
    "HARM_CATEGORY_UNSPECIFIED",
    "HARM_CATEGORY_DEROGATORY",
    "HARM_CATEGORY_TOXICITY",
    "HARM_CATEGORY_VIOLENCE",
    "HARM_CATEGORY_SEXUAL",
    "HARM_CATEGORY_MEDICAL",
    "HARM_CATEGORY_DANGEROUS",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
];
const THRESHOLDS: &[&str] = &[
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
];
/// `generationConfig` fields by JSON type: floats, then integers.
const FLOATS: &[&str] = &["temperature", "topP", "presencePenalty", "frequencyPenalty"];
const INTEGERS: &[&str] = &[
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "seed",
    "logprobs",
];
const TOOL: &[&str] = &[
    "functionDeclarations",
    "googleSearchRetrieval",
    "codeExecution",
    "googleSearch",
    "computerUse",
    "urlContext",
    "fileSearch",
    "googleMaps",
    "mcpServers",
];
const DECLARATION: &[&str] = &[
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
];
const TOOL_CONFIG: &[&str] = &[
    "functionCallingConfig",
    "retrievalConfig",
    "includeServerSideToolInvocations",
];
const CALLING_CONFIG: &[&str] = &["mode", "allowedFunctionNames"];
const CALLING_MODES: &[&str] = &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"];
const PART_OTHER: &[&str] = &[
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
    "mediaResolution",
];

/// `Unknown name "x" at 'where'` for the first field of `object` not in `allowed`.
fn unknown(object: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), String> {
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

/// Whether a part carries data (a part with only a signature, as a
/// Gemini 3 stream ends with, is taken).
fn has_data(part: &Value) -> bool {
    PART_DATA.iter().any(|f| match field(part, f) {
        Some(Value::String(t)) if *f == "text" => !t.is_empty(),
        Some(v) if *f != "text" => v.is_object(),
        _ => false,
    }) || field(part, "thoughtSignature")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn check_content(content: &Value, at: &str, lenient: bool) -> Result<(), String> {
    let Some(object) = content.as_object() else {
        return Err(format!("Invalid value at '{at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), {content}"));
    };
    if !lenient {
        unknown(object, &["role", "parts"], at)?;
    }
    let parts = field(content, "parts")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty());
    let Some(parts) = parts else {
        return Err(format!(
            "* GenerateContentRequest.{at}.parts: contents.parts must not be empty.\n"
        ));
    };
    for (j, part) in parts.iter().enumerate() {
        if lenient {
            continue;
        }
        if let Some(o) = part.as_object() {
            let allowed: Vec<&str> = PART_DATA.iter().chain(PART_OTHER).copied().collect();
            unknown(o, &allowed, &format!("{at}.parts[{j}]"))?;
        }
        if !has_data(part) {
            return Err(format!("* GenerateContentRequest.{at}.parts[{j}].data: required oneof field 'data' must have one initialized field\n"));
        }
    }
    Ok(())
}

/// The index of the content that starts the current turn: the newest user
/// content with standard content (not only function responses).
pub fn turn_start(contents: &[Value]) -> Option<usize> {
    contents.iter().rposition(|c| {
        matches!(c["role"].as_str(), None | Some("") | Some("user"))
            && c["parts"].as_array().is_some_and(|parts| {
                parts.iter().any(|p| {
                    PART_DATA
                        .iter()
                        .filter(|f| **f != "functionResponse")
                        .any(|f| match field(p, f) {
                            Some(Value::String(t)) if *f == "text" => !t.is_empty(),
                            Some(v) if *f != "text" => v.is_object(),
                            _ => false,
                        })
                })
            })
    })
}

fn function_call_parts(content: &Value) -> Vec<&Value> {
    content["parts"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter(|p| field(p, "functionCall").is_some_and(Value::is_object))
                .collect()
        })
        .unwrap_or_default()
}

fn function_response_count(content: &Value) -> usize {
    content["parts"].as_array().map_or(0, |p| {
        p.iter()
            .filter(|p| field(p, "functionResponse").is_some_and(Value::is_object))
            .count()
    })
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
        check_content(content, &format!("contents[{i}]"), lenient)?;
        if !matches!(
            content["role"].as_str(),
            None | Some("") | Some("user") | Some("model")
        ) {
            return Err("Please use a valid role: user, model.".into());
        }
    }
    if let Some(system) = field(body, "systemInstruction") {
        check_content(system, "system_instruction", lenient)?;
    }
    if lenient {
        return Ok(());
    }
    if let Some(config) = field(body, "generationConfig") {
        generation(config, spec)?;
    }
    if let Some(settings) = field(body, "safetySettings") {
        safety_settings(settings)?;
    }
    if let Some(tools) = field(body, "tools") {
        self::tools(tools)?;
    }
    if let Some(config) = field(body, "toolConfig") {
        tool_config(config)?;
    }
    history(contents, spec, signer)
}

fn safety_settings(settings: &Value) -> Result<(), String> {
    let Some(settings) = settings.as_array() else {
        return Err(format!("Invalid value at 'safety_settings' (type.googleapis.com/google.ai.generativelanguage.v1beta.SafetySetting), {settings}"));
    };
    for (i, setting) in settings.iter().enumerate() {
        let at = format!("safety_settings[{i}]");
        let Some(object) = setting.as_object() else {
            return Err(format!("Invalid value at '{at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.SafetySetting), {setting}"));
        };
        unknown(object, &["category", "threshold"], &at)?;
        for (name, allowed, kind) in [
            ("category", HARM_CATEGORIES, "HarmCategory"),
            ("threshold", THRESHOLDS, "SafetySetting.HarmBlockThreshold"),
        ] {
            if let Some(value) = setting.get(name) {
                if !value.as_str().is_some_and(|v| allowed.contains(&v)) {
                    return Err(format!("Invalid value at '{at}.{name}' (type.googleapis.com/google.ai.generativelanguage.v1beta.{kind}), {value}"));
                }
            }
        }
    }
    Ok(())
}

/// A function name as the API takes it: `[A-Za-z_][A-Za-z0-9_.:-]{0,63}`.
fn valid_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

fn tools(tools: &Value) -> Result<(), String> {
    let Some(tools) = tools.as_array() else {
        return Err(format!("Invalid value at 'tools' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool), {tools}"));
    };
    for (i, tool) in tools.iter().enumerate() {
        let Some(object) = tool.as_object() else {
            return Err(format!("Invalid value at 'tools[{i}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool), {tool}"));
        };
        unknown(object, TOOL, &format!("tools[{i}]"))?;
        let declarations = field(tool, "functionDeclarations").and_then(Value::as_array);
        for (j, declaration) in declarations.into_iter().flatten().enumerate() {
            let at = format!("tools[{i}].function_declarations[{j}]");
            let Some(object) = declaration.as_object() else {
                return Err(format!("Invalid value at '{at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionDeclaration), {declaration}"));
            };
            unknown(object, DECLARATION, &at)?;
            if !declaration["name"]
                .as_str()
                .is_some_and(valid_function_name)
            {
                return Err(format!("* GenerateContentRequest.{at}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n"));
            }
        }
    }
    Ok(())
}

fn tool_config(config: &Value) -> Result<(), String> {
    let Some(object) = config.as_object() else {
        return Err(format!("Invalid value at 'tool_config' (type.googleapis.com/google.ai.generativelanguage.v1beta.ToolConfig), {config}"));
    };
    unknown(object, TOOL_CONFIG, "tool_config")?;
    let Some(calling) = field(config, "functionCallingConfig") else {
        return Ok(());
    };
    let Some(object) = calling.as_object() else {
        return Err(format!(
            "Invalid value at 'tool_config.function_calling_config', {calling}"
        ));
    };
    unknown(
        object,
        CALLING_CONFIG,
        "tool_config.function_calling_config",
    )?;
    match calling.get("mode") {
        None => Ok(()),
        Some(Value::String(mode)) if CALLING_MODES.contains(&mode.as_str()) => Ok(()),
        Some(other) => Err(format!("Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {other}")),
    }
}

fn generation(config: &Value, spec: &Spec) -> Result<(), String> {
    let Some(object) = config.as_object() else {
        return Err(format!("Invalid value at 'generation_config' (type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig), {config}"));
    };
    unknown(object, GENERATION, "generation_config")?;
    for (key, value) in object {
        let name = camel(key);
        let (is_float, is_int) = (
            FLOATS.contains(&name.as_str()),
            INTEGERS.contains(&name.as_str()),
        );
        let wrong = (is_float && !value.is_number()) || (is_int && value.as_i64().is_none());
        if wrong {
            let kind = if is_float { "TYPE_FLOAT" } else { "TYPE_INT32" };
            return Err(format!(
                "Invalid value at 'generation_config.{}' ({kind}), {value}",
                snake(&name)
            ));
        }
    }
    if let Some(t) = field(config, "temperature") {
        let Some(t) = t.as_f64() else {
            return Err(format!(
                "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), {t}"
            ));
        };
        if !(0.0..=2.0).contains(&t) {
            return Err(format!("* GenerateContentRequest.generation_config.temperature: temperature must be between 0 and 2, got {t}\n"));
        }
    }
    if let Some(m) = field(config, "maxOutputTokens") {
        match m.as_i64() {
            Some(n) if n >= 1 => {}
            Some(n) => return Err(format!("* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive, got {n}\n")),
            None => return Err(format!("Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), {m}")),
        }
    }
    if spec.strict {
        for name in ["presencePenalty", "frequencyPenalty"] {
            if field(config, name)
                .and_then(Value::as_f64)
                .is_some_and(|p| p != 0.0)
            {
                return Err("Request contains an invalid argument.".into());
            }
        }
    }
    let Some(thinking) = field(config, "thinkingConfig") else {
        return Ok(());
    };
    let Some(object) = thinking.as_object() else {
        return Err(format!(
            "Invalid value at 'generation_config.thinking_config', {thinking}"
        ));
    };
    unknown(object, THINKING, "generation_config.thinking_config")?;
    let level = field(thinking, "thinkingLevel")
        .map(|l| l.as_str().map(str::to_uppercase).unwrap_or_default());
    let budget = field(thinking, "thinkingBudget");
    if level.is_some() && budget.is_some() {
        return Err("You can only set only one of thinking budget and thinking level.".into());
    }
    if let Some(level) = level {
        if ![
            "THINKING_LEVEL_UNSPECIFIED",
            "MINIMAL",
            "LOW",
            "MEDIUM",
            "HIGH",
            "XHIGH",
        ]
        .contains(&level.as_str())
        {
            return Err(format!("Invalid value at 'generation_config.thinking_config.thinking_level' (type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), \"{level}\""));
        }
        if !spec.gemini3 {
            return Err("thinking_level is not supported by this model.".into());
        }
        if level != "THINKING_LEVEL_UNSPECIFIED" && !spec.levels.contains(&level.as_str()) {
            return Err(format!("Thinking level {level} is not supported for this model. Please retry with other thinking level."));
        }
    }
    if let Some(budget) = budget {
        let Some(b) = budget.as_i64() else {
            return Err(format!("Invalid value at 'generation_config.thinking_config.thinking_budget' (TYPE_INT32), {budget}"));
        };
        let max = if spec.pro { 32_768 } else { 24_576 };
        if b < -1 || b > max {
            return Err(format!("* GenerateContentRequest.generation_config.thinking_config.thinking_budget: Budget {b} is invalid. Please use a value between -1 and {max}.\n"));
        }
        if b == 0 && spec.pro {
            return Err("Budget 0 is invalid. This model only works in thinking mode.".into());
        }
    }
    Ok(())
}

fn history(contents: &[Value], spec: &Spec, signer: &Signer) -> Result<(), String> {
    // Every signature must be bytes (proto JSON `bytes` are base64), and
    // one this server issued.
    for (i, content) in contents.iter().enumerate() {
        for (j, part) in content["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(sig) = field(part, "thoughtSignature")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                if !Signer::is_bytes(sig) {
                    return Err(format!("Invalid value at 'contents[{i}].parts[{j}].thought_signature' (TYPE_BYTES), {}", Value::from(sig)));
                }
                if !signer.valid(sig) {
                    return Err("Corrupted thought signature.".into());
                }
            }
        }
    }
    // Gemini 3: the first functionCall part of each model step of the
    // current turn must carry its signature.
    if spec.gemini3 {
        let from = turn_start(contents).map_or(0, |s| s + 1);
        for (i, content) in contents.iter().enumerate().skip(from) {
            if content["role"] != "model" {
                continue;
            }
            if let Some(first) = function_call_parts(content).first() {
                let signed = field(first, "thoughtSignature")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                if !signed {
                    let name = field(first, "functionCall")
                        .and_then(|fc| fc["name"].as_str())
                        .unwrap_or("");
                    return Err(format!("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", i + 1));
                }
            }
        }
    }
    // A function call turn must be answered by as many function responses.
    for pair in contents.windows(2) {
        let calls = if pair[0]["role"] == "model" {
            function_call_parts(&pair[0]).len()
        } else {
            0
        };
        if calls > 0 && function_response_count(&pair[1]) != calls {
            return Err("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.".into());
        }
    }
    if spec.strict && contents.last().is_some_and(|c| c["role"] == "model") {
        return Err("Requests ending with a model turn are not supported.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{resolve, Resolved};
    use serde_json::json;

    fn spec(id: &str) -> Spec {
        match resolve(id, &[]) {
            Resolved::Served { spec, .. } => spec,
            other => panic!("{id}: {other:?}"),
        }
    }

    fn check(body: Value) -> Result<(), String> {
        request(
            &body,
            &spec("gemini-3.8-flash"),
            false,
            &Signer::random(),
            &[],
        )
    }

    #[test]
    fn empty_parts_texts_and_contents_are_refused_with_the_real_messages() {
        let e = check(json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": ""}]}, {"role": "user", "parts": [{"text": "b"}]}]})).unwrap_err();
        assert!(
            e.contains("contents[1].parts[0].data: required oneof field 'data'"),
            "{e}"
        );
        let e = check(json!({"contents": [{"role": "user", "parts": []}]})).unwrap_err();
        assert!(
            e.contains("contents[0].parts: contents.parts must not be empty"),
            "{e}"
        );
        let e = check(json!({"contents": []})).unwrap_err();
        assert!(e.contains("contents is not specified"), "{e}");
        let e =
            check(json!({"contents": [{"role": "system", "parts": [{"text": "a"}]}]})).unwrap_err();
        assert_eq!(e, "Please use a valid role: user, model.");
    }

    #[test]
    fn unknown_fields_and_bad_thinking_settings_are_refused() {
        let e = check(
            json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"bogus": 1}}),
        )
        .unwrap_err();
        assert_eq!(e, "Invalid JSON payload received. Unknown name \"bogus\" at 'generation_config': Cannot find field.");
        let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "minimal"}}})).unwrap_err();
        assert!(
            e.starts_with("Thinking level MINIMAL is not supported"),
            "{e}"
        );
        let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW", "thinkingBudget": 10}}})).unwrap_err();
        assert!(e.starts_with("You can only set only one"), "{e}");
        let e = request(&json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}}), &spec("gemini-2.5-flash-lite"), false, &Signer::random(), &[]).unwrap_err();
        assert_eq!(e, "thinking_level is not supported by this model.");
        assert!(check(json!({"contents": [{"parts": [{"text": "a"}]}], "generation_config": {"max_output_tokens": 5, "thinking_config": {"thinking_level": "high"}}})).is_ok());
    }

    #[test]
    fn tools_are_checked_for_unknown_fields_names_and_modes() {
        let with = |tools: Value, config: Value| {
            check(
                json!({"contents": [{"parts": [{"text": "a"}]}], "tools": tools, "toolConfig": config}),
            )
        };
        let ok = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]);
        assert!(with(
            ok.clone(),
            json!({"functionCallingConfig": {"mode": "ANY"}})
        )
        .is_ok());
        let e = with(
            json!([{"functionDeclarations": [{"name": "9lives"}]}]),
            json!({}),
        )
        .unwrap_err();
        assert!(
            e.contains("tools[0].function_declarations[0].name: Invalid function name."),
            "{e}"
        );
        let e = with(json!([{"bogus": {}}]), json!({})).unwrap_err();
        assert!(e.contains("Unknown name \"bogus\" at 'tools[0]'"), "{e}");
        let e = with(ok, json!({"functionCallingConfig": {"mode": "SOMETIMES"}})).unwrap_err();
        assert!(
            e.starts_with("Invalid value at 'tool_config.function_calling_config.mode'"),
            "{e}"
        );
        assert!(
            valid_function_name("default_api:get-time.v2") && !valid_function_name(&"a".repeat(65))
        );
    }

    #[test]
    fn wrong_types_and_unknown_safety_enums_are_invalid_values() {
        let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"temperature": "hot"}})).unwrap_err();
        assert_eq!(
            e,
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\""
        );
        let e = check(
            json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"top_k": 1.5}}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("Invalid value at 'generation_config.top_k' (TYPE_INT32)"),
            "{e}"
        );
        let ok = json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]);
        assert!(
            check(json!({"contents": [{"parts": [{"text": "a"}]}], "safetySettings": ok})).is_ok()
        );
        let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "safetySettings": [{"category": "HARM_CATEGORY_RUDENESS"}]})).unwrap_err();
        assert!(
            e.starts_with("Invalid value at 'safety_settings[0].category'"),
            "{e}"
        );
    }

    #[test]
    fn signatures_must_be_ours_and_a_call_of_the_current_turn_must_carry_one() {
        let signer = Signer::random();
        let s = spec("gemini-3.8-flash");
        let ours = signer.issue();
        let ok = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b", "thoughtSignature": ours}]}, {"parts": [{"text": "c"}]}]});
        assert!(request(&ok, &s, false, &signer, &[]).is_ok());
        let not_bytes = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b", "thoughtSignature": "not base64!"}]}, {"parts": [{"text": "c"}]}]});
        let e = request(&not_bytes, &s, false, &signer, &[]).unwrap_err();
        assert!(
            e.starts_with("Invalid value at 'contents[1].parts[0].thought_signature' (TYPE_BYTES)"),
            "{e}"
        );
        let forged = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b", "thoughtSignature": Signer::random().issue()}]}, {"parts": [{"text": "c"}]}]});
        assert_eq!(
            request(&forged, &s, false, &signer, &[]).unwrap_err(),
            "Corrupted thought signature."
        );
        let unsigned = json!({"contents": [{"parts": [{"text": "weather?"}]}, {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]}, {"parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]}]});
        let e = request(&unsigned, &s, false, &signer, &[]).unwrap_err();
        assert!(e.contains("`default_api:get_weather` , position 2."), "{e}");
        let trailing = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b"}]}]});
        assert_eq!(
            request(&trailing, &s, false, &signer, &[]).unwrap_err(),
            "Requests ending with a model turn are not supported."
        );
    }
}
