//! What Convo knows about the models it talks to: which reasoning efforts
//! each Gemini model takes.
//!
//! Facts as of 2026-11-30, read from Google's own pages:
//! - "Developer's guide to Gemini 3.8 Flash"
//!   (docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-8-flash):
//!   3.8 Flash and 3.7 Flash take LOW, MEDIUM, HIGH (default MEDIUM); 3.1 Pro
//!   takes LOW, MEDIUM, HIGH (default HIGH).
//! - "Developer's guide to Gemini 3.5 Flash" (same site): 3.5 Flash takes
//!   MINIMAL…HIGH; 3.1 Flash-Lite MINIMAL…HIGH (default MINIMAL).
//! - "What's new in Gemini 3.6 Flash and 3.5 Flash-Lite"
//!   (ai.google.dev/gemini-api/docs/generate-content/whats-new-gemini-3.6):
//!   3.6 Flash default medium, 3.5 Flash-Lite default minimal.
//! - "Gemini deprecations" (ai.google.dev/gemini-api/docs/deprecations) and
//!   the release notes of 2026-10-08: `gemini-3.7-flash` is routed to 3.8
//!   Flash and `gemini-3.5-flash` to 3.6 Flash, with the target's rules;
//!   the `-latest` aliases point at 3.8 Flash, 3.5 Flash-Lite and 3.1 Pro.
//! - Gemini 2.5 models think by a token budget (`thinkingBudget`) and refuse
//!   `thinkingLevel` ("thinking_level is not supported by this model").
//!
//! A model missing here is [`ReasoningSupport::Unknown`]: any level is
//! passed on and the provider's API decides.

use crate::domain::ReasoningEffort;

/// Which reasoning efforts a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningSupport {
    /// Exactly these levels.
    Levels(&'static [ReasoningEffort]),
    /// None: the model takes no reasoning effort setting (e.g. Gemini 2.5,
    /// which thinks by a token budget instead).
    NotSupported,
    /// Not known to Convo: any level is sent, and the provider decides.
    Unknown,
}

impl ReasoningSupport {
    /// Whether `effort` may be set for the model.
    pub fn accepts(self, effort: ReasoningEffort) -> bool {
        match self {
            ReasoningSupport::Levels(levels) => levels.contains(&effort),
            ReasoningSupport::NotSupported => false,
            ReasoningSupport::Unknown => true,
        }
    }

    /// Whether the engine may give the model its default effort without
    /// being asked: only where the model is known to take it.
    pub fn known_to_accept(self, effort: ReasoningEffort) -> bool {
        matches!(self, ReasoningSupport::Levels(levels) if levels.contains(&effort))
    }
}

const ALL_LEVELS: &[ReasoningEffort] = &ReasoningEffort::ALL;
const LOW_TO_HIGH: &[ReasoningEffort] = &[
    ReasoningEffort::Low,
    ReasoningEffort::Medium,
    ReasoningEffort::High,
];

/// The reasoning efforts a Gemini model takes (ids as the API names them,
/// with or without a `models/` prefix).
pub fn gemini_reasoning(model: &str) -> ReasoningSupport {
    let model = model.strip_prefix("models/").unwrap_or(model);
    match model {
        "gemini-3.8-flash" | "gemini-3.7-flash" | "gemini-flash-latest" => {
            ReasoningSupport::Levels(LOW_TO_HIGH)
        }
        "gemini-3.1-pro-preview" | "gemini-pro-latest" => ReasoningSupport::Levels(LOW_TO_HIGH),
        "gemini-3.6-flash"
        | "gemini-3.5-flash"
        | "gemini-3.5-flash-lite"
        | "gemini-3.1-flash-lite"
        | "gemini-3-flash-preview"
        | "gemini-flash-lite-latest" => ReasoningSupport::Levels(ALL_LEVELS),
        m if m.starts_with("gemini-2.") || m.starts_with("gemini-1.") => {
            ReasoningSupport::NotSupported
        }
        _ => ReasoningSupport::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReasoningEffort::*;

    #[test]
    fn the_default_flash_model_takes_low_to_high_but_not_minimal() {
        let s = gemini_reasoning("gemini-3.8-flash");
        assert!(s.accepts(Low) && s.accepts(Medium) && s.accepts(High));
        assert!(!s.accepts(Minimal));
        assert_eq!(gemini_reasoning("models/gemini-3.8-flash"), s);
        assert_eq!(gemini_reasoning("gemini-flash-latest"), s, "alias of 3.8");
    }

    #[test]
    fn lite_models_take_every_level_and_2_5_takes_none() {
        for m in [
            "gemini-3.5-flash-lite",
            "gemini-3.1-flash-lite",
            "gemini-3.6-flash",
        ] {
            assert!(ReasoningEffort::ALL
                .iter()
                .all(|e| gemini_reasoning(m).accepts(*e)));
        }
        let old = gemini_reasoning("gemini-2.5-flash-lite");
        assert!(ReasoningEffort::ALL.iter().all(|e| !old.accepts(*e)));
    }

    #[test]
    fn unknown_models_accept_anything_but_get_no_default() {
        let s = gemini_reasoning("gemini-9-ultra");
        assert!(s.accepts(Minimal));
        assert!(!s.known_to_accept(Low));
        assert!(gemini_reasoning("gemini-3.8-flash").known_to_accept(Low));
    }
}
