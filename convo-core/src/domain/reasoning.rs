//! How hard a model thinks before it answers.

use serde::{Deserialize, Serialize};

/// An agent's reasoning effort, in the words both providers use: Gemini 3's
/// `thinkingConfig.thinkingLevel` and OpenAI's `reasoning_effort`.
///
/// More effort means better answers to hard questions, and more latency and
/// (thinking) tokens. Not every model takes every level: the model provider
/// says which ([`crate::llm::LlmProvider::reasoning_efforts`]), and the engine
/// refuses an agent whose model does not take its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// As little thinking as the model allows (not every model has it).
    Minimal,
    /// Little thinking: for quick conversational replies.
    Low,
    /// Balanced.
    Medium,
    /// Deep reasoning, slower.
    High,
}

impl ReasoningEffort {
    /// Every level, least effort first.
    pub const ALL: [ReasoningEffort; 4] = [
        ReasoningEffort::Minimal,
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
    ];

    /// The wire name: `minimal`, `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

impl std::fmt::Display for ReasoningEffort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reasoning effort that is not one of the four levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reasoning effort must be one of minimal, low, medium, high")]
pub struct ReasoningEffortError;

impl std::str::FromStr for ReasoningEffort {
    type Err = ReasoningEffortError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReasoningEffort::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(ReasoningEffortError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_through_their_wire_names() {
        for e in ReasoningEffort::ALL {
            assert_eq!(e.as_str().parse::<ReasoningEffort>(), Ok(e));
            assert_eq!(
                serde_json::to_value(e).ok(),
                Some(serde_json::json!(e.as_str()))
            );
        }
        assert!("LOW".parse::<ReasoningEffort>().is_err());
        assert!("xhigh".parse::<ReasoningEffort>().is_err());
    }
}
