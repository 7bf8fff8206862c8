//! The answers safety withholds: a blocked prompt (`promptFeedback`, no
//! candidates) and a safety stop (a candidate that stops with no content;
//! a stream has sent the first half of the answer already).

use serde_json::{json, Value};

use super::plan::Plan;
use super::request::Info;
use super::response::{candidate, safety_ratings, usage, wrap, Meta};
use super::stream::stream_chunks;
use crate::knobs::Knobs;

/// The whole answer to a blocked prompt (a stream sends it as its one chunk).
pub(super) fn blocked(knobs: &Knobs, info: &Info, meta: &Meta) -> Value {
    let reason = knobs.text("block_reason").unwrap_or("SAFETY").to_owned();
    let mut feedback = json!({"blockReason": reason});
    if reason == "SAFETY" {
        feedback["safetyRatings"] = safety_ratings(Some("HARM_CATEGORY_DANGEROUS_CONTENT"));
    }
    let tokens = info.prompt_tokens;
    json!({"promptFeedback": feedback, "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}, "modelVersion": meta.model_version, "responseId": meta.response_id})
}

/// A safety stop: its finish reason (`SAFETY` unless the knobs name
/// another that is not a normal end) and the ratings that go with it.
pub(super) struct SafetyStop {
    reason: String,
    ratings: Value,
}

impl SafetyStop {
    /// The stop the knobs ask for.
    pub(super) fn new(knobs: &Knobs) -> Self {
        let reason = knobs
            .text("finish_reason")
            .filter(|r| !matches!(*r, "STOP" | "MAX_TOKENS"))
            .unwrap_or("SAFETY")
            .to_owned();
        let ratings =
            safety_ratings((reason == "SAFETY").then_some("HARM_CATEGORY_DANGEROUS_CONTENT"));
        Self { reason, ratings }
    }

    /// The unary answer: the thought summary at most.
    pub(super) fn whole(self, info: &Info, p: &Plan, meta: &Meta) -> Value {
        let parts = p
            .thought_text
            .as_ref()
            .map(|t| vec![json!({"text": t, "thought": true})]);
        let has_content = parts.is_some();
        let c = candidate(
            parts,
            has_content,
            Some(&self.reason),
            Some(("safetyRatings", self.ratings)),
        );
        wrap(c, usage(info, "", p.thoughts), meta)
    }

    /// The stream: the first half of the answer's chunks (the thought
    /// chunk kept), then the stopping candidate.
    pub(super) fn chunks(self, info: &Info, p: &Plan, knobs: &Knobs, meta: &Meta) -> Vec<Value> {
        let mut all = stream_chunks(info, p, knobs, meta, true);
        all.pop();
        let keep = if p.thought_text.is_some() {
            1 + all.len().saturating_sub(1) / 2
        } else {
            all.len() / 2
        };
        all.truncate(keep);
        let sent: String = all
            .iter()
            .flat_map(|c| {
                c["candidates"][0]["content"]["parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|p| p["thought"] != true)
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect();
        all.push(wrap(
            candidate(
                None,
                false,
                Some(&self.reason),
                Some(("safetyRatings", self.ratings)),
            ),
            usage(info, &sent, p.thoughts),
            meta,
        ));
        all
    }
}
