//! Tools as MongoDB keeps them: an agent's tool definitions, the calls of
//! a message or of a paused turn, and the write of a session's pending calls.
//!
//! JSON values that come from outside (a tool's `parameters` schema, a
//! call's `arguments`) are stored as JSON text, not as BSON documents:
//! JSON Schema's `$ref`/`$defs` keys are field names MongoDB restricts,
//! and integers beyond 64 bits have no BSON type. As text they read back
//! exactly as they were written, whatever they contain.

use mongodb::bson::{doc, Bson};
use serde::{Deserialize, Serialize};

use super::error::MapErr;
use super::query::{live, merge};
use super::MongoStore;
use crate::domain::{
    ProviderState, SessionId, ToolCall, ToolDefinition, ToolExecution, WebhookTarget,
};
use crate::store::StoreError;

/// A tool of an agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ToolDoc {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The JSON Schema, as JSON text.
    pub parameters: String,
    /// `client`, `webhook` or `server`.
    pub execution: String,
    /// The webhook's URL (webhook tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The webhook's timeout (webhook tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
}

impl ToolDoc {
    pub fn from_domain(t: &ToolDefinition) -> Self {
        let (execution, url, timeout_ms) = match &t.execution {
            ToolExecution::Client => ("client", None, None),
            ToolExecution::Server => ("server", None, None),
            ToolExecution::Webhook(w) => (
                "webhook",
                Some(w.url.clone()),
                Some(i64::from(w.timeout_ms)),
            ),
        };
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.to_string(),
            execution: execution.to_owned(),
            url,
            timeout_ms,
        }
    }

    pub fn into_domain(self) -> Result<ToolDefinition, StoreError> {
        let corrupt = |what: &str| StoreError::Internal(format!("stored tool {what} is malformed"));
        let execution = match (self.execution.as_str(), self.url, self.timeout_ms) {
            ("client", _, _) => ToolExecution::Client,
            ("server", _, _) => ToolExecution::Server,
            ("webhook", Some(url), Some(timeout_ms)) => ToolExecution::Webhook(WebhookTarget {
                url,
                timeout_ms: u32::try_from(timeout_ms).map_err(|_| corrupt("timeout"))?,
            }),
            _ => return Err(corrupt("execution")),
        };
        Ok(ToolDefinition {
            name: self.name,
            description: self.description,
            parameters: serde_json::from_str(&self.parameters)
                .map_err(|_| corrupt("parameters"))?,
            execution,
        })
    }
}

/// A call a model made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ToolCallDoc {
    pub id: String,
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
    /// Gemini's per-call thought signature; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<ProviderState>,
}

impl ToolCallDoc {
    pub fn from_domain(c: &ToolCall) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.to_string(),
            provider_state: c.provider_state.clone(),
        }
    }

    pub fn into_domain(self) -> Result<ToolCall, StoreError> {
        Ok(ToolCall {
            id: self.id,
            name: self.name,
            arguments: serde_json::from_str(&self.arguments).map_err(|_| {
                StoreError::Internal("stored tool call arguments are malformed".into())
            })?,
            provider_state: self.provider_state,
        })
    }
}

/// Every tool of a list as documents.
pub(super) fn tools_to_docs(tools: &[ToolDefinition]) -> Vec<ToolDoc> {
    tools.iter().map(ToolDoc::from_domain).collect()
}

/// Every call of a list as documents.
pub(super) fn calls_to_docs(calls: &[ToolCall]) -> Vec<ToolCallDoc> {
    calls.iter().map(ToolCallDoc::from_domain).collect()
}

/// Documents back into calls (fails on corrupt data).
pub(super) fn calls_from_docs(docs: Vec<ToolCallDoc>) -> Result<Vec<ToolCall>, StoreError> {
    docs.into_iter().map(ToolCallDoc::into_domain).collect()
}

/// A list of documents as a BSON array, for `$set`.
pub(super) fn bson_array<T: Serialize>(docs: &[T]) -> Result<Bson, StoreError> {
    mongodb::bson::to_bson(docs)
        .map_err(|e| StoreError::Internal(format!("a document did not serialise: {e}")))
}

impl MongoStore {
    pub(super) async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        // The caller holds the turn lock, so a plain `$set` cannot race
        // another turn's write.
        let set = doc! { "$set": { "pending_tool_calls": bson_array(&calls_to_docs(calls))? } };
        let matched = self
            .sessions_coll()
            .update_one(merge(doc! { "_id": session.to_string() }, live()), set)
            .await
            .store()?
            .matched_count;
        if matched == 0 {
            return Err(StoreError::NotFound("chat session"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, from_document, to_document, DateTime};
    use serde_json::json;

    use super::super::docs::{AgentDoc, MessageDoc, SessionDoc};
    use super::*;

    #[test]
    fn documents_stored_before_tools_read_with_the_defaults() {
        let now = DateTime::now();
        let agent: AgentDoc = from_document(doc! {
            "_id": "0196f1c9-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "project_id": "0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e",
            "owner": "0196f1c7-aaaa-7bbb-8ccc-dddddddddddd", "name": "A", "system_prompt": "S",
            "model": "m", "temperature": null, "max_output_tokens": null, "context_messages": 20_i64,
            "created_at": now, "updated_at": now,
        })
        .expect("an old agent document parses");
        let agent = agent.into_domain().expect("and reads");
        assert_eq!((agent.tools.len(), agent.max_tool_rounds), (0, 8));
        assert_eq!(agent.webhook_secret, None);

        let session: SessionDoc = from_document(doc! {
            "_id": "0196f1ca-3c4d-7e5f-9a6b-7c8d9e0f1a2b", "agent_id": "0196f1c9-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
            "project_id": "0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e", "owner": "0196f1c7-aaaa-7bbb-8ccc-dddddddddddd",
            "title": null, "message_count": 0_i64, "created_at": now, "updated_at": now,
        })
        .expect("an old session document parses");
        assert!(session
            .into_domain()
            .expect("reads")
            .pending_tool_calls
            .is_empty());

        let message: MessageDoc = from_document(doc! {
            "_id": "0196f1cb-0001-7000-8000-000000000001", "session_id": "0196f1ca-3c4d-7e5f-9a6b-7c8d9e0f1a2b",
            "seq": 1_i64, "role": "user", "content": "hi", "created_at": now,
            "model": null, "finish_reason": null, "usage": null, "context": null,
        })
        .expect("an old message document parses");
        let message = message.into_domain().expect("reads");
        assert!(message.tool_calls.is_empty() && !message.is_error);
        assert_eq!((message.tool_call_id, message.tool_name), (None, None));
    }

    #[test]
    fn schemas_and_arguments_survive_bson_exactly() {
        let tool = ToolDefinition {
            name: "t".into(),
            description: String::new(),
            parameters: json!({"type": "object", "$defs": {"a.b": {"maximum": u64::MAX}}}),
            execution: ToolExecution::Webhook(WebhookTarget {
                url: "https://x.example/h".into(),
                timeout_ms: 60_000,
            }),
        };
        let stored = to_document(&ToolDoc::from_domain(&tool)).expect("serialises");
        let read: ToolDoc = from_document(stored).expect("parses");
        assert_eq!(read.into_domain().expect("reads"), tool);
    }
}
