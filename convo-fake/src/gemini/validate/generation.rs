//! `generationConfig`: known fields of the right JSON types, the ranges
//! the real API checks, and `thinkingConfig` against the model's spec
//! ("Gemini thinking", <https://ai.google.dev/gemini-api/docs/thinking>,
//! read 2026-11-30).

use serde_json::Value;

use super::{camel, field, snake, unknown};
use crate::models::Spec;

/// The fields of a `GenerationConfig`.
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

/// The fields of a `ThinkingConfig`.
const THINKING: &[&str] = &["thinkingBudget", "includeThoughts", "thinkingLevel"];

/// `generationConfig` fields by JSON type: floats, then integers.
const FLOATS: &[&str] = &["temperature", "topP", "presencePenalty", "frequencyPenalty"];

const INTEGERS: &[&str] = &[
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "seed",
    "logprobs",
];

/// Checks a `generationConfig` for `spec`'s model.
pub(super) fn generation(config: &Value, spec: &Spec) -> Result<(), String> {
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
