//! Embeds the whole Convo engine in-process: no server, no network.
//!
//! `cargo run --example embed`
//!
//! Builds a `Convo` on the in-memory store and the deterministic mock model,
//! registers a user, creates a project, an agent and a session, holds a short
//! conversation (one turn streamed) and prints the stored history.

use std::io::Write;
use std::sync::Arc;

use convo::core::{
    Convo, ListParams, MemoryStore, MockProvider, NewAgent, NewProject, SendMessage, Settings,
    TurnEvent,
};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let convo = Convo::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MockProvider::new()),
        Settings::default(),
    );

    let user = convo
        .register(
            "ada@example.com",
            "correct horse battery staple",
            Some("Ada"),
        )
        .await?;
    let project = convo
        .create_project(
            &user.id,
            NewProject {
                name: "Demo".into(),
                description: Some("Embedded Convo".into()),
            },
        )
        .await?;
    let agent = convo
        .create_agent(
            &user.id,
            &project.id.to_string(),
            NewAgent {
                name: "Echo".into(),
                system_prompt: "You repeat what you hear.".into(),
                ..Default::default()
            },
        )
        .await?;
    let session = convo
        .start_session(&user.id, &agent.id.to_string(), Some("First chat"))
        .await?;
    let session_id = session.id.to_string();
    println!(
        "user {} | project {:?} | agent {:?} ({}) | session {}",
        user.email, project.name, agent.name, agent.model, session.id
    );

    let turn = convo
        .send_message(&user.id, &session_id, SendMessage::new("Hello, Convo!"))
        .await?;
    println!(
        "> {}\n< {}",
        turn.user_message.content, turn.assistant_message.content
    );

    print!("> How do streams work?\n< ");
    let mut events = convo
        .stream_message(
            &user.id,
            &session_id,
            SendMessage::new("How do streams work?"),
        )
        .await?;
    while let Some(event) = events.next().await {
        match event {
            TurnEvent::Delta { text, .. } => {
                print!("{text}");
                std::io::stdout().flush()?;
            }
            TurnEvent::Completed { message } => {
                println!("  [{:?}, {:?}]", message.finish_reason, message.usage)
            }
            TurnEvent::Failed { error } => return Err(error.into()),
            TurnEvent::Created { .. } => {}
            // This agent has no tools (see examples/tools.rs).
            _ => {}
        }
    }

    println!(
        "\nHistory of {:?}:",
        session.title.as_deref().unwrap_or("untitled")
    );
    for m in convo
        .list_messages(&user.id, &session_id, &ListParams::default())
        .await?
        .data
    {
        println!("  #{} {:<9} {}", m.seq, m.role.as_str(), m.content);
    }
    Ok(())
}
