//! One round of tool calls: every call of a model reply run at once, each
//! answered by a tool message (a result, or a failure the model is told
//! about). Nothing here fails the turn: a tool that errs, hangs, or does not
//! exist is the model's to deal with.

use std::time::Duration;

use serde_json::Value;

use crate::domain::{
    now, Agent, MessageDraft, MessageId, Role, SessionId, ToolCall, ToolExecution,
};
use crate::engine::tools::ToolInvocation;
use crate::engine::Convo;

/// A tool message answering `call`.
pub(super) fn tool_message(call: &ToolCall, content: String, is_error: bool) -> MessageDraft {
    MessageDraft {
        id: MessageId::new(),
        role: Role::Tool,
        content,
        created_at: now(),
        model: None,
        finish_reason: None,
        usage: None,
        context: None,
        provider_state: None,
        tool_calls: Vec::new(),
        tool_call_id: Some(call.id.clone()),
        tool_name: Some(call.name.clone()),
        is_error,
    }
}

/// A tool's JSON output as the tool message's text: a string as it is (a
/// tool that answers prose should not reach the model in quotes), anything
/// else as JSON.
pub(super) fn output_text(output: Value) -> String {
    match output {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

impl Convo {
    /// Runs the calls of one round concurrently and returns their tool
    /// messages in the calls' order. No call runs longer than `left`, the
    /// time the turn has left (each tool's own timeout is cut to it).
    pub(super) async fn run_tool_round(
        &self,
        agent: &Agent,
        session: SessionId,
        calls: &[ToolCall],
        left: Duration,
    ) -> Vec<MessageDraft> {
        let runs = calls.iter().map(|call| async move {
            match self.run_tool_call(agent, session, call, left).await {
                Ok(output) => tool_message(call, output_text(output), false),
                Err(why) => tool_message(call, why, true),
            }
        });
        futures::future::join_all(runs).await
    }

    /// One call: its output, or what to tell the model instead.
    async fn run_tool_call(
        &self,
        agent: &Agent,
        session: SessionId,
        call: &ToolCall,
        left: Duration,
    ) -> Result<Value, String> {
        let Some(tool) = agent.tools.iter().find(|t| t.name == call.name) else {
            let names: Vec<&str> = agent.tools.iter().map(|t| t.name.as_str()).collect();
            return Err(format!(
                "there is no tool named `{}`; the tools are: {}",
                call.name,
                names.join(", ")
            ));
        };
        let Value::Object(arguments) = &call.arguments else {
            return Err(format!(
                "the arguments must be a JSON object matching the tool's parameters; got: {}",
                crate::llm::arguments_to_text(&call.arguments)
            ));
        };
        match &tool.execution {
            ToolExecution::Server => {
                let Some(rust_tool) = self.registered_tool(&tool.name) else {
                    return Err(format!("the tool `{}` is not available", tool.name));
                };
                let invocation = ToolInvocation {
                    arguments: arguments.clone(),
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    session_id: session,
                    agent_id: agent.id,
                };
                let limit = self.settings().tool_timeout.min(left);
                match tokio::time::timeout(limit, rust_tool.call(invocation)).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "the tool did not answer within {} ms",
                        limit.as_millis()
                    )),
                }
            }
            ToolExecution::Webhook(target) => {
                // The webhook's own timeout, cut to the turn's time left.
                let left_ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1);
                let target = crate::domain::WebhookTarget {
                    timeout_ms: target.timeout_ms.min(left_ms),
                    ..target.clone()
                };
                self.call_webhook(agent, session, call, &target).await
            }
            // The turn pauses for these (`client`) before a round runs.
            ToolExecution::Client => Err(format!(
                "the tool `{}` runs in the client and cannot be run here",
                tool.name
            )),
        }
    }

    #[cfg(feature = "webhooks")]
    async fn call_webhook(
        &self,
        agent: &Agent,
        session: SessionId,
        call: &ToolCall,
        target: &crate::domain::WebhookTarget,
    ) -> Result<Value, String> {
        use crate::webhook::WebhookCall;
        let caller = self.webhook_caller()?;
        let Some(secret) = agent.webhook_secret.as_deref() else {
            return Err("the agent has no webhook secret to sign the call with".into());
        };
        let request = WebhookCall::new(call, agent.id, agent.project_id, session);
        caller
            .call(target, secret, &request)
            .await
            .map_err(|e| e.to_string())
    }

    /// Without the `webhooks` feature a webhook tool cannot be called; the
    /// model is told so rather than the turn failing.
    #[cfg(not(feature = "webhooks"))]
    async fn call_webhook(
        &self,
        _agent: &Agent,
        _session: SessionId,
        _call: &ToolCall,
        _target: &crate::domain::WebhookTarget,
    ) -> Result<Value, String> {
        Err("webhook tools are not available in this build".into())
    }
}
