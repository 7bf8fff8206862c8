//! An agent's tools: the rules applied when they are set, and the secret
//! its webhook tools' requests are signed with.

use base64::Engine as _;

use super::{validate, Convo};
use crate::domain::{now, Agent, AgentId, IntoId, ToolDefinition};
use crate::error::ConvoError;

/// The prefix of a webhook secret, as the Standard Webhooks spec writes them.
pub(crate) const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a webhook secret: the spec asks for 24 to 64.
const WEBHOOK_SECRET_BYTES: usize = 32;

/// A new webhook secret: `whsec_` + standard base64 of 32 bytes from the
/// OS's random source. Receivers verify with the base64-decoded part as the
/// HMAC key (Standard Webhooks, "Signature scheme").
pub(crate) fn new_webhook_secret() -> Result<String, ConvoError> {
    let mut key = [0u8; WEBHOOK_SECRET_BYTES];
    getrandom::fill(&mut key)
        .map_err(|e| ConvoError::Internal(format!("the OS random source failed: {e}")))?;
    Ok(format!(
        "{WEBHOOK_SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

impl Convo {
    /// The agent's tools after `tools` and `max_tool_rounds`, checked: the
    /// part of create and update that is about tools.
    pub(crate) fn set_tools(
        &self,
        agent: &mut Agent,
        tools: Option<Vec<ToolDefinition>>,
        max_tool_rounds: Option<u32>,
    ) -> Result<(), ConvoError> {
        if let Some(tools) = tools {
            agent.tools = validate::tools(tools, self.settings().tools_allow_private_networks)?;
        }
        if let Some(rounds) = max_tool_rounds {
            agent.max_tool_rounds = validate::max_tool_rounds(rounds)?;
        }
        Ok(())
    }

    /// Replaces the agent's webhook secret with a new one and returns it:
    /// from now on webhook requests are signed with it, and the old one no
    /// longer verifies. Another user's agent (or an id that does not parse)
    /// is [`ConvoError::NotFound`].
    pub async fn rotate_webhook_secret(
        &self,
        caller: impl Into<crate::domain::Caller>,
        agent_id: impl IntoId<AgentId>,
    ) -> Result<String, ConvoError> {
        // Read-modify-write like every agent update: a PATCH racing this
        // could write the old secret back. Rotating again repairs it, and
        // a conditional write would need a store method of its own.
        let mut agent = self.agent(caller, agent_id).await?;
        let secret = new_webhook_secret()?;
        agent.webhook_secret = Some(secret.clone());
        agent.updated_at = now();
        self.store().update_agent(&agent).await?;
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_whsec_and_32_bytes_of_base64_and_differ() {
        let a = new_webhook_secret().expect("a secret");
        let b = new_webhook_secret().expect("a secret");
        assert_ne!(a, b);
        let key = a.strip_prefix("whsec_").expect("the prefix");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .expect("standard base64");
        assert_eq!(bytes.len(), 32);
    }
}
