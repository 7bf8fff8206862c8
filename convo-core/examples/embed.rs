//! Embeds the whole Convo engine in-process: no server, no network.
//!
//! `cargo run -p convo-core --example embed --features sqlite`
//!
//! Builds a `Convo` on a SQLite file and the deterministic mock model,
//! registers a user, creates a project, an agent and a session, holds a short
//! conversation (one turn streamed) and prints the stored history, read back
//! through a second store opened on the same file.
//!
//! The file is a new one in the temp directory, named for the run: the
//! example registers the same user each time, which a kept `embed.db` would
//! refuse on the second run (the e-mail is taken), and it writes nothing into
//! the clone. Its path is printed, to look inside with `sqlite3`.

use std::io::Write;
use std::sync::Arc;

use convo_core::{
    Convo, ListParams, MockProvider, NewAgent, NewProject, SendMessage, Settings, SqliteStore,
    TurnEvent,
};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run = convo_core::uuid::Uuid::now_v7().simple();
    let path = std::env::temp_dir().join(format!("convo-embed-{run}.db"));
    // Created, switched to WAL and migrated on open.
    let store = SqliteStore::open(&path).await?;
    let convo = Convo::new(
        Arc::new(store),
        Arc::new(MockProvider::new()),
        Settings::default(),
    );
    println!("data in {}", path.display());

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
            project.id,
            NewAgent {
                name: "Echo".into(),
                system_prompt: "You repeat what you hear.".into(),
                ..Default::default()
            },
        )
        .await?;
    let session = convo
        .start_session(&user.id, agent.id, Some("First chat"))
        .await?;
    println!(
        "user {} | project {:?} | agent {:?} ({}) | session {}",
        user.email, project.name, agent.name, agent.model, session.id
    );

    let turn = convo
        .send_message(&user.id, session.id, SendMessage::new("Hello, Convo!"))
        .await?;
    println!(
        "> {}\n< {}",
        turn.user_message.content, turn.assistant_message.content
    );

    print!("> How do streams work?\n< ");
    let mut events = convo
        .stream_message(
            &user.id,
            session.id,
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
            // This agent has no tools (see the `tools` example).
            _ => {}
        }
    }

    // What is in the file, not in this process: a second store on it, as
    // another process (or the next run of a server) would open it.
    let reopened = Convo::new(
        Arc::new(SqliteStore::open(&path).await?),
        Arc::new(MockProvider::new()),
        Settings::default(),
    );
    println!(
        "\nHistory of {:?}, read back from the file:",
        session.title.as_deref().unwrap_or("untitled")
    );
    for m in reopened
        .list_messages(&user.id, session.id, &ListParams::default())
        .await?
        .data
    {
        println!("  #{} {:<9} {}", m.seq, m.role.as_str(), m.content);
    }
    Ok(())
}
