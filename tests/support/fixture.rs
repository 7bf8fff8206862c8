//! A signed-up user and a chat to talk in, made through the REST API of a
//! running server (in-process or a process of its own): register, then a
//! project, an agent and a chat session. Shared by the test binaries through
//! `#[path]`; it needs `client.rs` included beside it as `mod client`.

// Each test binary uses a part of it.
#![allow(dead_code)]

use reqwest::{Client, Response};
use serde_json::{json, Value};

use super::client::json_with_status;

/// The password every test user registers with.
pub const PASSWORD: &str = "correct horse battery staple";

/// An e-mail address no other test uses, so tests can share one store.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// `POST {base}/api/auth/register`, the response as it comes.
pub async fn register(client: &Client, base: &str, email: &str, password: &str) -> Response {
    let body = json!({"email": email, "password": password});
    post(client, &format!("{base}/api/auth/register"), Some(&body)).await
}

/// Registers `email` with [`PASSWORD`], asserting 201; returns the body. A
/// client with a cookie jar is then signed in.
pub async fn sign_up(client: &Client, base: &str, email: &str) -> Value {
    let resp = register(client, base, email, PASSWORD).await;
    json_with_status(resp, 201).await
}

/// Creates a project, asserting 201.
pub async fn create_project(client: &Client, base: &str, name: &str) -> Value {
    let body = json!({"name": name});
    let resp = post(client, &format!("{base}/api/projects"), Some(&body)).await;
    json_with_status(resp, 201).await
}

/// Creates an agent from `body` in a project, asserting 201.
pub async fn create_agent(client: &Client, base: &str, project_id: &str, body: &Value) -> Value {
    let url = format!("{base}/api/projects/{project_id}/agents");
    json_with_status(post(client, &url, Some(body)).await, 201).await
}

/// Starts a chat session with an agent, sending no body at all (as the
/// API allows), asserting 201.
pub async fn start_chat(client: &Client, base: &str, agent_id: &str) -> Value {
    let url = format!("{base}/api/chat/start/{agent_id}");
    json_with_status(post(client, &url, None).await, 201).await
}

/// A project with an agent and a chat session, all owned by one user.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The project.
    pub project: Value,
    /// Its agent.
    pub agent: Value,
    /// A chat session with that agent.
    pub session: Value,
}

impl Fixture {
    /// The project's id.
    pub fn project_id(&self) -> &str {
        self.project["id"].as_str().expect("project id")
    }

    /// The agent's id.
    pub fn agent_id(&self) -> &str {
        self.agent["id"].as_str().expect("agent id")
    }

    /// The session's id.
    pub fn session_id(&self) -> &str {
        self.session["id"].as_str().expect("session id")
    }
}

/// A project named "Fixture", an agent made from `agent`, and a session,
/// for the user `client` is signed in as.
pub async fn fixture(client: &Client, base: &str, agent: &Value) -> Fixture {
    let project = create_project(client, base, "Fixture").await;
    let agent = create_agent(client, base, id_of(&project), agent).await;
    let session = start_chat(client, base, id_of(&agent)).await;
    Fixture {
        project,
        agent,
        session,
    }
}

fn id_of(resource: &Value) -> &str {
    resource["id"].as_str().expect("id")
}

async fn post(client: &Client, url: &str, body: Option<&Value>) -> Response {
    let mut req = client.post(url);
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.expect("request sent")
}
