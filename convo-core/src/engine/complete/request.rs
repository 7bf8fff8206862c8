//! The pure part of a stateless completion: the caller's conversation
//! checked and turned into the model's request.
//!
//! Tool exchanges follow the rule both providers enforce (OpenAI's "Function
//! calling" guide, <https://platform.openai.com/docs/guides/function-calling>,
//! and Gemini's, <https://ai.google.dev/gemini-api/docs/function-calling>,
//! read 2026-12-01): the calls of an assistant message are answered by the
//! `tool` messages right after it, one per call, before anything else. A
//! conversation that breaks it is refused here, naming the message, rather
//! than by the provider as an opaque `502`.

use std::collections::HashMap;

use super::{CompletionMessage, CompletionOverrides, CompletionRole};
use crate::domain::{Agent, Role, ToolDefinition, ToolExecution};
use crate::engine::{validate, Settings};
use crate::error::ConvoError;
use crate::llm::{ChatMessage, LlmRequest, ToolChoice};

/// The request for `agent` answering `messages` with `overrides`.
pub(super) fn build_request(
    agent: &Agent,
    messages: &[CompletionMessage],
    overrides: CompletionOverrides,
    settings: &Settings,
) -> Result<LlmRequest, ConvoError> {
    let invalid = |reason: String| ConvoError::invalid("messages", reason);
    let max = settings.max_context_messages as usize;
    if messages.len() > max {
        return Err(invalid(format!("must be at most {max} messages")));
    }
    let mut system = Vec::new();
    if !agent.system_prompt.is_empty() {
        system.push(agent.system_prompt.as_str());
    }
    let mut conversation = Vec::with_capacity(messages.len());
    // The calls of the last assistant message not answered yet: id → name.
    let mut open: HashMap<&str, &str> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        if message.content.len() > settings.max_message_bytes {
            return Err(invalid(format!(
                "message {i} is over {} bytes",
                settings.max_message_bytes
            )));
        }
        if message.role != CompletionRole::Tool && !open.is_empty() {
            return Err(invalid(format!(
                "message {i} comes before every tool call of the assistant message before it is answered by a tool message"
            )));
        }
        let chat = match message.role {
            CompletionRole::System => {
                if !message.content.trim().is_empty() {
                    system.push(message.content.as_str());
                }
                continue;
            }
            CompletionRole::Tool => tool_result(i, message, &mut open)?,
            CompletionRole::Assistant if !message.tool_calls.is_empty() => {
                for call in &message.tool_calls {
                    validate::tool_call_id("messages", &call.id)?;
                    if call.name.is_empty() || open.insert(&call.id, &call.name).is_some() {
                        return Err(invalid(format!(
                            "message {i}: each tool call needs a name and an id of its own"
                        )));
                    }
                }
                ChatMessage::assistant_tool_calls(
                    message.content.clone(),
                    message.tool_calls.clone(),
                )
            }
            CompletionRole::User | CompletionRole::Assistant => {
                if message.content.trim().is_empty() {
                    return Err(invalid(format!("message {i} has no text")));
                }
                let role = if message.role == CompletionRole::User {
                    Role::User
                } else {
                    Role::Assistant
                };
                ChatMessage::new(role, message.content.clone())
            }
        };
        conversation.push(chat);
    }
    if !open.is_empty() {
        return Err(invalid(
            "every tool call of the last assistant message must be answered by a tool message"
                .into(),
        ));
    }
    match conversation.last() {
        Some(last) if matches!(last.role, Role::User | Role::Tool) => {}
        Some(_) => {
            return Err(invalid(
                "the last message must be a user message or a tool result".into(),
            ))
        }
        None => {
            return Err(invalid(
                "must hold at least one user message besides system messages".into(),
            ))
        }
    }
    check_tools(&overrides)?;
    Ok(LlmRequest {
        model: agent.model.clone(),
        system_prompt: system.join("\n\n"),
        messages: conversation,
        temperature: overrides
            .temperature
            .map(validate::temperature)
            .transpose()?
            .or(agent.temperature),
        max_output_tokens: overrides
            .max_output_tokens
            .map(validate::max_output_tokens)
            .transpose()?
            .or(agent.max_output_tokens),
        reasoning_effort: overrides.reasoning_effort.or(agent.reasoning_effort),
        tools: overrides.tools,
        tool_choice: overrides.tool_choice,
        parallel_tool_calls: overrides.parallel_tool_calls,
        response_format: overrides.response_format,
    })
}

/// A tool message: it answers one of the open calls, whose name it takes
/// (Gemini's `functionResponse` names its function; OpenAI's message does not).
fn tool_result(
    i: usize,
    message: &CompletionMessage,
    open: &mut HashMap<&str, &str>,
) -> Result<ChatMessage, ConvoError> {
    let id = message.tool_call_id.as_deref().unwrap_or_default();
    let Some(name) = open.remove(id) else {
        return Err(ConvoError::invalid(
            "messages",
            format!(
                "message {i}: tool_call_id `{}` does not answer an unanswered call of the assistant message before it",
                id.chars().take(100).collect::<String>()
            ),
        ));
    };
    Ok(ChatMessage::tool_result(
        id,
        name,
        message.content.clone(),
        false,
    ))
}

/// The request's tools follow the rules of an agent's (names, schemas,
/// count), and a named `tool_choice` names one of them.
fn check_tools(overrides: &CompletionOverrides) -> Result<(), ConvoError> {
    // The same rules as an agent's client tools, reported as `tools[i].…`.
    let as_definitions = overrides
        .tools
        .iter()
        .map(|t| ToolDefinition {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
            execution: ToolExecution::Client,
        })
        .collect();
    validate::tools(as_definitions, false)?;
    match &overrides.tool_choice {
        ToolChoice::Auto | ToolChoice::None => Ok(()),
        ToolChoice::Required if !overrides.tools.is_empty() => Ok(()),
        ToolChoice::Function(name) if overrides.tools.iter().any(|t| &t.name == name) => Ok(()),
        ToolChoice::Required | ToolChoice::Function(_) => Err(ConvoError::invalid(
            "tool_choice",
            "must name one of the request's tools, and needs tools",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{now, AgentId, ProjectId, ToolCall, UserId};
    use crate::llm::{ResponseFormat, ToolSpec};
    use serde_json::json;

    fn agent() -> Agent {
        Agent {
            id: AgentId::new(),
            project_id: ProjectId::new(),
            owner: UserId::new(),
            name: "a".into(),
            system_prompt: "Be brief.".into(),
            model: "m".into(),
            temperature: Some(0.2),
            max_output_tokens: Some(100),
            context_messages: 20,
            context_tokens: None,
            reasoning_effort: None,
            tools: Vec::new(),
            max_tool_rounds: 8,
            webhook_secret: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn msg(role: CompletionRole, content: &str) -> CompletionMessage {
        CompletionMessage::new(role, content)
    }

    fn call(id: &str, name: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: json!({"city": "Paris"}),
            provider_state: None,
        }
    }

    fn weather() -> ToolSpec {
        ToolSpec {
            name: "weather".into(),
            description: "The weather.".into(),
            parameters: json!({"type": "object"}),
        }
    }

    #[test]
    fn system_messages_extend_the_agents_prompt_and_overrides_win() {
        use CompletionRole::*;
        let messages = [
            msg(System, "Answer in French."),
            msg(User, "hi"),
            msg(Assistant, "salut"),
            msg(System, "  "),
            msg(User, "again"),
        ];
        let overrides = CompletionOverrides {
            temperature: Some(1.5),
            reasoning_effort: Some(crate::domain::ReasoningEffort::High),
            ..CompletionOverrides::default()
        };

        let request =
            build_request(&agent(), &messages, overrides, &Settings::default()).expect("valid");

        assert_eq!(request.system_prompt, "Be brief.\n\nAnswer in French.");
        let roles: Vec<_> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
        assert_eq!(request.temperature, Some(1.5), "the override");
        assert_eq!(request.max_output_tokens, Some(100), "the agent's");
        assert_eq!(
            request.reasoning_effort,
            Some(crate::domain::ReasoningEffort::High),
            "the override"
        );
        assert_eq!(request.model, "m");
        assert!(
            request.tools.is_empty(),
            "the agent's tools are not offered"
        );
    }

    #[test]
    fn a_tool_round_trip_reaches_the_model_with_the_calls_names_and_the_requests_tools() {
        use CompletionRole::*;
        let messages = [
            msg(User, "weather in Paris and Rome?"),
            CompletionMessage::assistant_tool_calls(
                "",
                vec![call("c1", "weather"), call("c2", "weather")],
            ),
            CompletionMessage::tool_result("c2", "rainy"),
            CompletionMessage::tool_result("c1", ""),
        ];
        let format = ResponseFormat::JsonSchema {
            name: "w".into(),
            schema: json!({"type": "object"}),
            strict: Some(true),
        };
        let overrides = CompletionOverrides {
            tools: vec![weather()],
            tool_choice: ToolChoice::Function("weather".into()),
            parallel_tool_calls: Some(false),
            response_format: Some(format.clone()),
            ..CompletionOverrides::default()
        };

        let request =
            build_request(&agent(), &messages, overrides, &Settings::default()).expect("valid");

        assert_eq!(request.messages.len(), 4);
        assert_eq!(request.messages[1].tool_calls.len(), 2);
        let results: Vec<_> = request.messages[2..]
            .iter()
            .map(|m| {
                (
                    m.role,
                    m.tool_call_id.as_deref(),
                    m.tool_name.as_deref(),
                    m.content.as_str(),
                )
            })
            .collect();
        assert_eq!(
            results,
            [
                (Role::Tool, Some("c2"), Some("weather"), "rainy"),
                (Role::Tool, Some("c1"), Some("weather"), ""),
            ]
        );
        assert_eq!(request.tools, [weather()]);
        assert_eq!(request.tool_choice, ToolChoice::Function("weather".into()));
        assert_eq!(request.parallel_tool_calls, Some(false));
        assert_eq!(request.response_format, Some(format));
    }

    #[test]
    fn bad_conversations_tools_and_overrides_are_refused_with_their_field() {
        use CompletionRole::*;
        let settings = Settings::default();
        let none = CompletionOverrides::default;
        let asks = || CompletionMessage::assistant_tool_calls("", vec![call("c1", "weather")]);
        let cases: Vec<(Vec<CompletionMessage>, CompletionOverrides, &str)> = vec![
            (vec![], none(), "messages"),
            (vec![msg(System, "only instructions")], none(), "messages"),
            (
                vec![msg(User, "q"), msg(Assistant, "a")],
                none(),
                "messages",
            ),
            (vec![msg(User, " \n")], none(), "messages"),
            (vec![msg(User, "q"), asks()], none(), "messages"),
            (
                vec![msg(User, "q"), asks(), msg(User, "unanswered")],
                none(),
                "messages",
            ),
            (
                vec![msg(User, "q"), CompletionMessage::tool_result("c1", "x")],
                none(),
                "messages",
            ),
            (
                vec![
                    msg(User, "q"),
                    asks(),
                    CompletionMessage::tool_result("c9", "x"),
                ],
                none(),
                "messages",
            ),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    temperature: Some(3.0),
                    ..none()
                },
                "temperature",
            ),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    max_output_tokens: Some(0),
                    ..none()
                },
                "max_output_tokens",
            ),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    tools: vec![ToolSpec {
                        name: "9lives".into(),
                        ..weather()
                    }],
                    ..none()
                },
                "tools[0].name",
            ),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    tools: vec![ToolSpec {
                        parameters: json!({"type": "string"}),
                        ..weather()
                    }],
                    ..none()
                },
                "tools[0].parameters",
            ),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    tool_choice: ToolChoice::Required,
                    ..none()
                },
                "tool_choice",
            ),
            (
                vec![msg(User, "q")],
                CompletionOverrides {
                    tools: vec![weather()],
                    tool_choice: ToolChoice::Function("time".into()),
                    ..none()
                },
                "tool_choice",
            ),
        ];
        for (messages, overrides, field) in cases {
            let shown = format!("{messages:?} {overrides:?}");
            let err = build_request(&agent(), &messages, overrides, &settings);
            assert!(
                matches!(&err, Err(ConvoError::Invalid { field: f, .. }) if *f == field),
                "{shown}: {err:?}"
            );
        }
    }
}
