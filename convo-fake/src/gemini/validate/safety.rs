//! `safetySettings`: a list of known categories and thresholds.

use serde_json::Value;

use super::unknown;

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

/// `HarmBlockThreshold`.
const THRESHOLDS: &[&str] = &[
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
];

/// Checks `safetySettings`.
pub(super) fn safety_settings(settings: &Value) -> Result<(), String> {
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
