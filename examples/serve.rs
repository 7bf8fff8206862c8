//! The REST server inside your own program: an engine you build (here on
//! the memory store and the mock model), with a Rust tool only a program
//! can register, served by `convo-server` until your program stops it.
//!
//! `cargo run --example serve`, then log in as the user it prints and send
//! the session a message: the mock model is scripted to call the tool once,
//! so the reply says what the tool answered, and the session's messages
//! show the call and the answer (the commands are printed).
//! Ctrl-C stops it; nothing is kept. The server's flags and variables
//! apply (`cargo run --example serve -- --listen 127.0.0.1:9000`), except
//! the ones that choose the store and the model: the engine is built here.
//!
//! The library alone, without a server, is in `convo-core/examples/`:
//! `cargo run -p convo-core --example tools`, and
//! `cargo run -p convo-core --example embed --features sqlite`.

use std::sync::Arc;

use convo::core::llm::MockReply;
use convo::core::{
    tool_fn, Convo, MemoryStore, MockProvider, NewAgent, NewProject, ToolCall, ToolDefinition,
    ToolError, ToolExecution,
};
use convo::server::{Application, Config};
use serde_json::json;

/// The tool's arguments, deserialised from the model's JSON.
#[derive(serde::Deserialize)]
struct LookupOrder {
    order_id: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env();
    // The engine below keeps its data in memory; so does the login secret.
    config.store = "memory".into();

    let model = Arc::new(MockProvider::new());
    let convo = Convo::try_new(
        Arc::new(MemoryStore::new()),
        model.clone(),
        config.engine_settings(),
    )?;
    convo.register_tool(
        "lookup_order",
        tool_fn(|args: LookupOrder| async move {
            match args.order_id.as_str() {
                "A-17" => Ok(json!({"order_id": "A-17", "status": "shipped"})),
                other => Err(ToolError::Failed(format!("no order {other}"))),
            }
        }),
    );

    // A `server` tool cannot be declared through the API (its code lives
    // here), so the agent that uses it is made here too.
    let (email, password) = ("ada@example.com", "correct horse battery staple");
    let user = convo.register(email, password, None).await?;
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

    let app = Application::build_with(&config, convo).await?;
    let base = format!("http://{}", app.local_addr());
    println!("Swagger UI: {base}/docs (log in as {email} / {password:?})");
    println!(
        "curl -s -c jar -H 'content-type: application/json' \
         -d '{{\"email\":\"{email}\",\"password\":\"{password}\"}}' {base}/api/auth/login"
    );
    println!(
        "curl -s -b jar -H 'content-type: application/json' \
         -d '{{\"content\":\"Where is order A-17?\"}}' {base}/api/chat/{}/message",
        session.id
    );
    println!("curl -s -b jar {base}/api/chat/{}/messages", session.id);
    app.run_until(async {
        // An error here means no Ctrl-C can arrive: serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await?;
    Ok(())
}
