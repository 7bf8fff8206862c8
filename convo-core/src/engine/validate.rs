//! Input rules shared by every front end, so embedders get the same checks as the server.

use crate::error::ConvoError;

mod tools;

pub(crate) use tools::{max_tool_rounds, tool_call_id, tool_name, tools};

/// Longest name or title, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;
/// Longest project description, in characters.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest system prompt, in characters.
pub(crate) const MAX_SYSTEM_PROMPT_CHARS: usize = 100_000;
/// Longest model id, in characters.
pub(crate) const MAX_MODEL_CHARS: usize = 200;
/// Largest `max_output_tokens`.
pub(crate) const MAX_OUTPUT_TOKENS: u32 = 1_000_000;
/// Longest idempotency key, in bytes.
pub(crate) const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// Shortest and longest password, in characters.
pub(crate) const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;

/// A required name: trimmed, 1–200 characters.
pub(crate) fn name(field: &'static str, value: &str) -> Result<String, ConvoError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ConvoError::invalid(field, "must not be empty"));
    }
    max_chars(field, trimmed, MAX_NAME_CHARS)?;
    Ok(trimmed.to_owned())
}

/// An optional short text (a title, a user's name): trimmed; empty means none.
pub(crate) fn optional_name(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<String>, ConvoError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => max_chars(field, v, MAX_NAME_CHARS).map(|()| Some(v.to_owned())),
    }
}

/// Fails when `value` has more than `max` characters.
pub(crate) fn max_chars(field: &'static str, value: &str, max: usize) -> Result<(), ConvoError> {
    // Counting stops early: a 10 MB string costs no more than a short one.
    if value.chars().nth(max).is_some() {
        return Err(ConvoError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A model id: 1–200 visible characters.
pub(crate) fn model(value: &str) -> Result<String, ConvoError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConvoError::invalid(
            "model",
            "must be a model id without spaces",
        ));
    }
    max_chars("model", value, MAX_MODEL_CHARS)?;
    Ok(value.to_owned())
}

/// A model id (see [`model`]) that the engine's provider serves: an
/// `openai:` model with no OpenAI-compatible provider configured, or an
/// unknown `foo:` prefix, fails here rather than at the first turn.
pub(crate) fn served_model(
    llm: &dyn crate::llm::LlmProvider,
    value: &str,
) -> Result<String, ConvoError> {
    let value = model(value)?;
    if llm.supports_model(&value) {
        Ok(value)
    } else {
        Err(ConvoError::invalid(
            "model",
            format!("no configured model provider serves `{value}`"),
        ))
    }
}

/// A reasoning effort the agent's model takes.
pub(crate) fn reasoning_effort(
    support: crate::llm::ReasoningSupport,
    model: &str,
    effort: crate::domain::ReasoningEffort,
) -> Result<crate::domain::ReasoningEffort, ConvoError> {
    use crate::llm::ReasoningSupport;
    if support.accepts(effort) {
        return Ok(effort);
    }
    let message = match support {
        ReasoningSupport::Levels(levels) => {
            let names: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
            format!(
                "the model `{model}` does not take `{effort}`; it takes {}, or null for the model's default",
                names.join(", ")
            )
        }
        _ => format!("the model `{model}` takes no reasoning effort; leave it null"),
    };
    Err(ConvoError::invalid("reasoning_effort", message))
}

/// A temperature in 0–2.
pub(crate) fn temperature(value: f64) -> Result<f64, ConvoError> {
    if value.is_finite() && (0.0..=2.0).contains(&value) {
        Ok(value)
    } else {
        Err(ConvoError::invalid(
            "temperature",
            "must be between 0 and 2",
        ))
    }
}

/// An output cap of at least one token.
pub(crate) fn max_output_tokens(value: u32) -> Result<u32, ConvoError> {
    if (1..=MAX_OUTPUT_TOKENS).contains(&value) {
        Ok(value)
    } else {
        Err(ConvoError::invalid(
            "max_output_tokens",
            format!("must be between 1 and {MAX_OUTPUT_TOKENS}"),
        ))
    }
}

/// The largest token budget an agent may set for its context window.
pub(crate) const MAX_CONTEXT_TOKENS: u32 = 10_000_000;

/// A token budget for the context window: 1 to [`MAX_CONTEXT_TOKENS`].
pub(crate) fn context_tokens(value: u32) -> Result<u32, ConvoError> {
    if (1..=MAX_CONTEXT_TOKENS).contains(&value) {
        Ok(value)
    } else {
        Err(ConvoError::invalid(
            "context_tokens",
            format!("must be between 1 and {MAX_CONTEXT_TOKENS}"),
        ))
    }
}

/// A context window between 1 and `max` messages.
pub(crate) fn context_messages(value: u32, max: u32) -> Result<u32, ConvoError> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConvoError::invalid(
            "context_messages",
            format!("must be between 1 and {max}"),
        ))
    }
}

/// The largest integer every store keeps exactly. MongoDB's integers are
/// signed 64-bit: a larger `u64` would be saturated there and kept exactly
/// in memory, so two stores would answer the same data differently.
pub(crate) const MAX_STORED_INTEGER: u64 = i64::MAX.unsigned_abs();

/// An integer that will be stored (a token count, a `seq`): at most
/// [`MAX_STORED_INTEGER`].
pub(crate) fn stored_integer(field: &'static str, value: u64) -> Result<u64, ConvoError> {
    if value <= MAX_STORED_INTEGER {
        Ok(value)
    } else {
        Err(ConvoError::invalid(
            field,
            format!("must be at most {MAX_STORED_INTEGER} (2^63 - 1, the largest integer a store keeps), not {value}"),
        ))
    }
}

/// Message content: not blank, at most `max_bytes`. Kept exactly as sent.
pub(crate) fn content(value: &str, max_bytes: usize) -> Result<(), ConvoError> {
    if value.trim().is_empty() {
        return Err(ConvoError::invalid("content", "must not be empty"));
    }
    if value.len() > max_bytes {
        return Err(ConvoError::invalid(
            "content",
            format!("must be at most {max_bytes} bytes"),
        ));
    }
    Ok(())
}

/// An idempotency key: 1–255 bytes of visible ASCII.
pub(crate) fn idempotency_key(value: &str) -> Result<(), ConvoError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_IDEMPOTENCY_KEY_BYTES
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ConvoError::invalid(
            "idempotency_key",
            "must be 1-255 visible ASCII characters",
        ))
    }
}

/// A password of 8–128 characters.
pub(crate) fn password(value: &str) -> Result<(), ConvoError> {
    let n = value.chars().take(PASSWORD_CHARS.end() + 1).count();
    if PASSWORD_CHARS.contains(&n) {
        Ok(())
    } else {
        Err(ConvoError::invalid(
            "password",
            "must be 8 to 128 characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Demo ").ok(), Some("Demo".to_string()));
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(200)).is_ok());
        assert!(name("name", &"x".repeat(201)).is_err());
        assert!(
            name("name", &"é".repeat(200)).is_ok(),
            "limits count characters, not bytes"
        );
    }

    #[test]
    fn temperature_must_be_finite_and_in_range() {
        for bad in [-0.1, 2.01, f64::NAN, f64::INFINITY] {
            assert!(temperature(bad).is_err(), "{bad} must be rejected");
        }
        assert_eq!(temperature(0.0).ok(), Some(0.0));
        assert_eq!(temperature(2.0).ok(), Some(2.0));
    }

    #[test]
    fn content_must_not_be_blank_or_too_big() {
        assert!(content(" \n\t", 100).is_err());
        assert!(content("hi", 100).is_ok());
        assert!(content(&"x".repeat(101), 100).is_err());
    }

    #[test]
    fn stored_integers_fit_a_signed_64_bit_integer() {
        let max = u64::try_from(i64::MAX).expect("positive");
        assert_eq!(stored_integer("seq", max).ok(), Some(max));
        assert!(stored_integer("seq", max + 1).is_err());
        assert!(stored_integer("seq", u64::MAX).is_err());
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"p".repeat(128)).is_ok());
        assert!(password(&"p".repeat(129)).is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(idempotency_key("abc-123").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("a b").is_err());
        assert!(idempotency_key(&"k".repeat(256)).is_err());
    }
}
