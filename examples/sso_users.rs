//! An embedding program maps its own users onto Convo's, without passwords.
//!
//! `cargo run --example sso_users`
//!
//! The program already knows who its users are (its own accounts, or an
//! identity provider it trusts). For each one it asks the engine for "the
//! Convo user of my user 42": created on first use, the same user every
//! time after, never with a password (so nobody can log in as them with
//! one). The issuer is any stable name of the program's user base; an
//! OpenID Connect server uses its `iss`.
//!
//! (Library examples are moving to `convo-core/examples/`; this one sits
//! with the others until they do.)

use std::sync::Arc;

use convo::core::{Convo, ListParams, MemoryStore, MockProvider, NewProject, Settings};

/// The embedding program's own name for its user base.
const ISSUER: &str = "https://accounts.example.com";

/// The program's own users: its ids and e-mails.
const OUR_USERS: [(&str, Option<&str>); 2] = [("42", Some("ada@example.com")), ("43", None)];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let convo = Convo::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MockProvider::new()),
        Settings::default(),
    );

    for (our_id, email) in OUR_USERS {
        // First use: the Convo user is created.
        let user = convo
            .user_for_external_identity(ISSUER, our_id, email)
            .await?;
        convo
            .create_project(
                &user.id,
                NewProject {
                    name: format!("Projects of our user {our_id}"),
                    description: None,
                },
            )
            .await?;

        // Any later request from the same user of ours: the same Convo user.
        let again = convo
            .user_for_external_identity(ISSUER, our_id, email)
            .await?;
        assert_eq!(again.id, user.id);
        let projects = convo
            .list_projects(&again.id, &ListParams::default())
            .await?;
        println!(
            "our user {our_id} is Convo user {} <{}>, with {} project(s)",
            user.id,
            user.email,
            projects.data.len()
        );
    }
    Ok(())
}
