//! The body of a webhook request: one tool call and where it came from.

use serde::Serialize;

use crate::domain::{AgentId, ProjectId, SessionId, ToolCall};

/// One tool call as a webhook receives it, serialised as
/// `{"type": "tool_call", "tool_call_id", "name", "arguments", "agent_id",
/// "project_id", "session_id"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "tool_call")]
pub struct WebhookCall<'a> {
    /// The call's id; the tool message that answers it carries the same id.
    pub tool_call_id: &'a str,
    /// The tool's name.
    pub name: &'a str,
    /// The arguments the model wrote (a JSON object).
    pub arguments: &'a serde_json::Value,
    /// The agent whose tool this is.
    pub agent_id: AgentId,
    /// The agent's project.
    pub project_id: ProjectId,
    /// The chat session the call was made in.
    pub session_id: SessionId,
}

impl<'a> WebhookCall<'a> {
    /// The webhook request for a model's `call`.
    pub fn new(
        call: &'a ToolCall,
        agent_id: AgentId,
        project_id: ProjectId,
        session_id: SessionId,
    ) -> Self {
        Self {
            tool_call_id: &call.id,
            name: &call.name,
            arguments: &call.arguments,
            agent_id,
            project_id,
            session_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_call_serialises_to_the_contracts_body() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "lookup_order".into(),
            arguments: json!({"order": 42}),
            provider_state: None,
        };
        let (agent, project, session) = (AgentId::new(), ProjectId::new(), SessionId::new());

        let body = serde_json::to_value(WebhookCall::new(&call, agent, project, session))
            .expect("serialises");

        assert_eq!(
            body,
            json!({
                "type": "tool_call",
                "tool_call_id": "call_1",
                "name": "lookup_order",
                "arguments": {"order": 42},
                "agent_id": agent.to_string(),
                "project_id": project.to_string(),
                "session_id": session.to_string(),
            })
        );
    }
}
