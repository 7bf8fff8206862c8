//! Example values for the OpenAPI document: they pre-fill Swagger UI's
//! "Try it out" forms, so a person can walk register → project → agent →
//! session → message by pressing Execute.

use chrono::{DateTime, TimeZone, Utc};
use poem_openapi::types::Example;

use super::models::*;

const PROJECT_ID: &str = "0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e";
const AGENT_ID: &str = "0196f1c9-1a2b-7c3d-8e4f-5a6b7c8d9e0f";
const SESSION_ID: &str = "0196f1ca-3c4d-7e5f-9a6b-7c8d9e0f1a2b";

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0)
        .single()
        .unwrap_or_default()
}

impl Example for User {
    fn example() -> Self {
        User {
            id: "0196f1c7-aaaa-7bbb-8ccc-dddddddddddd".into(),
            email: "ada@example.com".into(),
            name: Some("Ada".into()),
            created_at: at(),
        }
    }
}

impl Example for RegisterRequest {
    fn example() -> Self {
        RegisterRequest {
            email: "ada@example.com".into(),
            password: "correct horse battery staple".into(),
            name: Some("Ada".into()),
        }
    }
}

impl Example for LoginRequest {
    fn example() -> Self {
        LoginRequest {
            email: "ada@example.com".into(),
            password: "correct horse battery staple".into(),
        }
    }
}

impl Example for TokenResponse {
    fn example() -> Self {
        TokenResponse {
            access_token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIuLi4ifQ.sig".into(),
            token_type: "Bearer".into(),
            expires_at: at(),
        }
    }
}

impl Example for Project {
    fn example() -> Self {
        Project {
            id: PROJECT_ID.into(),
            name: "Support bots".into(),
            description: Some("Agents for the help desk".into()),
            created_at: at(),
            updated_at: at(),
        }
    }
}

impl Example for CreateProject {
    fn example() -> Self {
        CreateProject {
            name: "Support bots".into(),
            description: Some("Agents for the help desk".into()),
        }
    }
}

impl Example for UpdateProject {
    fn example() -> Self {
        UpdateProject {
            name: Some("Support bots (EU)".into()),
            description: None,
        }
    }
}

impl Example for Agent {
    fn example() -> Self {
        Agent {
            id: AGENT_ID.into(),
            project_id: PROJECT_ID.into(),
            name: "Helpdesk".into(),
            system_prompt: "You are a friendly help-desk assistant. Answer briefly.".into(),
            model: "gemini-3.8-flash".into(),
            temperature: Some(0.7),
            max_output_tokens: Some(1024),
            context_messages: 20,
            context_tokens: None,
            reasoning_effort: Some(super::models::ReasoningEffort::Low),
            tools: example_tools(),
            max_tool_rounds: 8,
            created_at: at(),
            updated_at: at(),
        }
    }
}

/// A client tool and a webhook tool.
fn example_tools() -> Vec<Tool> {
    let parameters = serde_json::json!({
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "e.g. A-1042"}},
        "required": ["order_id"]
    });
    vec![
        Tool {
            name: "printer_status".into(),
            description: "The status of the user's printer, read on their computer.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {}}),
            execution: ToolExecution::Named(NamedExecution::Client),
        },
        Tool {
            name: "lookup_order".into(),
            description: "An order's delivery status.".into(),
            parameters,
            execution: ToolExecution::Webhook(WebhookExecution {
                kind: WebhookKind::Webhook,
                url: "https://tools.example.com/orders".into(),
                timeout_ms: 10_000,
            }),
        },
    ]
}

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwC1B3Rk4QnA8=";

impl Example for CreatedAgent {
    fn example() -> Self {
        CreatedAgent {
            agent: Agent::example(),
            webhook_secret: WEBHOOK_SECRET.into(),
        }
    }
}

impl Example for WebhookSecret {
    fn example() -> Self {
        WebhookSecret {
            webhook_secret: WEBHOOK_SECRET.into(),
        }
    }
}

impl Example for CreateAgent {
    fn example() -> Self {
        CreateAgent {
            name: "Helpdesk".into(),
            system_prompt: "You are a friendly help-desk assistant. Answer briefly.".into(),
            model: None,
            temperature: Some(0.7),
            max_output_tokens: Some(1024),
            context_messages: None,
            context_tokens: None,
            reasoning_effort: None,
            tools: Some(example_tools()),
            max_tool_rounds: None,
        }
    }
}

impl Example for UpdateAgent {
    fn example() -> Self {
        UpdateAgent {
            name: None,
            system_prompt: Some("You are a terse help-desk assistant.".into()),
            model: None,
            temperature: Some(0.2),
            max_output_tokens: None,
            context_messages: None,
            context_tokens: poem_openapi::types::MaybeUndefined::Undefined,
            reasoning_effort: poem_openapi::types::MaybeUndefined::Undefined,
            tools: None,
            max_tool_rounds: None,
        }
    }
}

impl Example for ChatSession {
    fn example() -> Self {
        ChatSession {
            id: SESSION_ID.into(),
            agent_id: AGENT_ID.into(),
            project_id: PROJECT_ID.into(),
            title: Some("Printer trouble".into()),
            message_count: 2,
            created_at: at(),
            updated_at: at(),
            forked_from: None,
            pending_tool_calls: Vec::new(),
            end_user: None,
        }
    }
}

impl Example for ForkChat {
    fn example() -> Self {
        ForkChat {
            up_to_seq: 2,
            title: Some("Printer trouble, take two".into()),
        }
    }
}

impl Example for StartChat {
    fn example() -> Self {
        StartChat {
            title: Some("Printer trouble".into()),
        }
    }
}

impl Example for UpdateChat {
    fn example() -> Self {
        UpdateChat {
            title: Some("Printer trouble (solved)".into()),
        }
    }
}

impl Example for SendMessageRequest {
    fn example() -> Self {
        SendMessageRequest {
            content: "My printer says PC LOAD LETTER. What does that mean?".into(),
        }
    }
}

fn user_message() -> Message {
    Message {
        id: "0196f1cb-0001-7000-8000-000000000001".into(),
        session_id: SESSION_ID.into(),
        seq: 1,
        role: Role::User,
        content: "My printer says PC LOAD LETTER. What does that mean?".into(),
        created_at: at(),
        model: None,
        finish_reason: None,
        usage: None,
        context: None,
        tool_calls: Vec::new(),
        tool_call_id: None,
        name: None,
        is_error: None,
    }
}

fn assistant_message() -> Message {
    Message {
        id: "0196f1cb-0002-7000-8000-000000000002".into(),
        session_id: SESSION_ID.into(),
        seq: 2,
        role: Role::Assistant,
        content: "It means the paper tray (size Letter) is empty. Load paper and press Continue."
            .into(),
        created_at: at(),
        model: Some("gemini-3.8-flash".into()),
        finish_reason: Some(FinishReason::Stop),
        usage: Some(Usage {
            prompt_tokens: 31,
            completion_tokens: 19,
            total_tokens: 50,
            thoughts_tokens: None,
            cached_tokens: None,
        }),
        context: Some(MessageContext {
            first_seq: 1,
            last_seq: 1,
            messages: 1,
        }),
        tool_calls: Vec::new(),
        tool_call_id: None,
        name: None,
        is_error: None,
    }
}

impl Example for Message {
    fn example() -> Self {
        assistant_message()
    }
}

impl Example for TurnResponse {
    fn example() -> Self {
        TurnResponse {
            user_message: user_message(),
            assistant_message: assistant_message(),
            messages: vec![assistant_message()],
            pending_tool_calls: Vec::new(),
        }
    }
}

impl Example for ToolOutputsRequest {
    fn example() -> Self {
        ToolOutputsRequest {
            outputs: vec![ToolOutputItem {
                tool_call_id: "call_1".into(),
                output: serde_json::json!({"temp_c": 18}),
                is_error: false,
            }],
        }
    }
}

impl Example for ToolOutputsResponse {
    fn example() -> Self {
        ToolOutputsResponse {
            assistant_message: assistant_message(),
            messages: vec![assistant_message()],
            pending_tool_calls: Vec::new(),
        }
    }
}

const KEY_ID: &str = "0196f1cb-5e6f-7a8b-9c0d-1e2f3a4b5c6d";

impl Example for ApiKey {
    fn example() -> Self {
        ApiKey {
            id: KEY_ID.into(),
            name: "Shop backend".into(),
            scope: KeyScope::Chat,
            prefix: "ck_7Qm2xZ9a".into(),
            created_at: at(),
            expires_at: None,
            last_used_at: None,
            rate_limit_per_minute: Some(600),
            end_user_monthly_token_budget: Some(200_000),
            key: None,
        }
    }
}

impl Example for CreateApiKey {
    fn example() -> Self {
        CreateApiKey {
            name: "Shop backend".into(),
            scope: "chat".into(),
            expires_at: None,
            rate_limit_per_minute: Some(600),
            end_user_monthly_token_budget: Some(200_000),
        }
    }
}
