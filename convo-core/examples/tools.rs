//! An embedded agent that acts: a Rust tool (an order lookup) registered on
//! the engine, called by the model, its result sent back. No network: the
//! mock model is scripted to call the tool.
//!
//! `cargo run -p convo-core --example tools`

use std::sync::Arc;

use convo_core::llm::MockReply;
use convo_core::{
    tool_fn, Convo, MemoryStore, MockProvider, NewAgent, NewProject, SendMessage, Settings,
    ToolCall, ToolDefinition, ToolError, ToolExecution,
};
use serde_json::json;

/// The tool's arguments: the model's JSON is deserialised into this (a
/// shape that does not fit is an error the model is told about).
#[derive(serde::Deserialize)]
struct LookupOrder {
    order_id: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = Arc::new(MockProvider::new());
    let convo = Convo::new(
        Arc::new(MemoryStore::new()),
        model.clone(),
        Settings::default(),
    );
    // Agents' tools with `execution: server` run what is registered here.
    convo.register_tool(
        "lookup_order",
        tool_fn(|args: LookupOrder| async move {
            match args.order_id.as_str() {
                "A-17" => Ok(json!({"order_id": "A-17", "status": "shipped"})),
                other => Err(ToolError::Failed(format!("no order {other}"))),
            }
        }),
    );

    let user = convo
        .register("ada@example.com", "correct horse battery staple", None)
        .await?;
    let project = convo
        .create_project(
            &user.id,
            NewProject {
                name: "Shop".into(),
                description: None,
            },
        )
        .await?;
    let agent = convo
        .create_agent(
            &user.id,
            project.id,
            NewAgent {
                name: "Support".into(),
                system_prompt: "You answer questions about orders.".into(),
                tools: Some(vec![ToolDefinition {
                    name: "lookup_order".into(),
                    description: "Looks an order up by its id.".into(),
                    parameters: json!({
                        "type": "object",
                        "properties": {"order_id": {"type": "string"}},
                        "required": ["order_id"],
                    }),
                    execution: ToolExecution::Server,
                }]),
                ..Default::default()
            },
        )
        .await?;
    let session = convo.start_session(&user.id, agent.id, None).await?;

    // A real model decides to call the tool; the mock is told to.
    model.push(MockReply::ToolCalls(vec![ToolCall {
        id: "call_1".into(),
        name: "lookup_order".into(),
        arguments: json!({"order_id": "A-17"}),
        provider_state: None,
    }]));
    model.push(MockReply::Text("Order A-17 has shipped.".into()));

    let turn = convo
        .send_message(
            &user.id,
            session.id,
            SendMessage::new("Where is my order A-17?"),
        )
        .await?;
    println!("> {}", turn.user_message.content);
    for message in &turn.messages {
        for call in &message.tool_calls {
            println!("  calls {}({})", call.name, call.arguments);
        }
        match message.tool_name.as_deref() {
            Some(tool) => println!("  {tool} answered: {}", message.content),
            None if !message.content.is_empty() => println!("< {}", message.content),
            None => {}
        }
    }
    Ok(())
}
