//! Tools an embedding program writes in Rust ([`Tool`]), registered on the
//! engine by name ([`Convo::register_tool`]) and run for an agent's tools
//! whose `execution` is [`ToolExecution::Server`](crate::ToolExecution).
//!
//! The shape follows rig's `Tool` trait (typed arguments deserialised from
//! the model's JSON), reduced to one async method so the engine can hold
//! tools as `Arc<dyn Tool>`.

mod typed;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::domain::{AgentId, SessionId};
use crate::engine::Convo;

pub use typed::{tool_fn, ToolFn};

/// One call of a tool by a model, as the tool gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInvocation {
    /// The arguments the model wrote: always a JSON object (the engine
    /// answers anything else with an error without calling the tool).
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// The call's id, as the model's reply gave it.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// The session of the turn.
    pub session_id: SessionId,
    /// The agent that called it.
    pub agent_id: AgentId,
}

/// Why a tool produced no result. Its text is what the model is told (in a
/// tool message with `is_error: true`), so it should say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not have the shape the tool takes.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
}

/// A tool run in the engine's process.
///
/// A result (any JSON value) is sent to the model as the tool message's
/// content; an error is sent as a tool message with `is_error: true`. The
/// engine bounds each call by [`Settings::tool_timeout`](crate::Settings)
/// and drops it when the turn is cancelled, so a tool should hold no state
/// that a dropped future would leave inconsistent.
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// Runs one call.
    async fn call(&self, call: ToolInvocation) -> Result<serde_json::Value, ToolError>;
}

/// The tools registered on an engine, by name.
#[derive(Default)]
pub(crate) struct ToolRegistry {
    // Written at start-up, read once per call: a std `RwLock` held only
    // to clone an `Arc`, never across an await.
    tools: RwLock<HashMap<String, Arc<dyn Tool>>>,
}

impl ToolRegistry {
    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.tools
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn insert(&self, name: String, tool: Arc<dyn Tool>) -> Option<Arc<dyn Tool>> {
        self.tools
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name, tool)
    }
}

impl Convo {
    /// Registers `tool` under `name`: an agent's tool of that name whose
    /// `execution` is `server` runs it. Replaces (and returns) a tool
    /// registered under the same name before. A `server` tool with no tool
    /// registered is answered with an error the model sees.
    pub fn register_tool(&self, name: impl Into<String>, tool: impl Tool) -> Option<Arc<dyn Tool>> {
        self.shared.tools.insert(name.into(), Arc::new(tool))
    }

    /// The tool registered under `name`.
    pub(crate) fn registered_tool(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.shared.tools.get(name)
    }
}

#[cfg(feature = "webhooks")]
impl Convo {
    /// The engine's webhook client, for its settings' destination rules.
    pub(crate) fn webhook_caller(&self) -> Result<&crate::webhook::WebhookCaller, String> {
        use crate::webhook::{WebhookCaller, WebhookPolicy};
        self.shared
            .webhooks
            .get_or_init(|| {
                WebhookCaller::new(WebhookPolicy {
                    allow_private_networks: self.settings().tools_allow_private_networks,
                    ..WebhookPolicy::default()
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}
