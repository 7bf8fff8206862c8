//! Builders of domain values with fresh ids, and small assertion helpers.

use std::fmt::Debug;

use uuid::Uuid;

use crate::domain::{
    now, Agent, AgentId, ApiKey, ChatSession, Email, EndUser, KeyId, KeyScope, MessageDraft,
    Project, ProjectId, Role, SessionId, User, UserId,
};
use crate::store::{Store, StoreError};

/// A password hash for test users: stores keep it opaque, so it need not verify.
pub const TEST_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dGVzdGtpdA$bm90LWEtcmVhbC1oYXNo";

/// An e-mail address no other call returns, so tests can share one database.
pub fn unique_email() -> String {
    format!("conformance-{}@example.test", Uuid::now_v7().simple())
}

/// A user with a fresh id, the given address (parsed, so normalised) and no name.
///
/// Panics if `email` is not a valid address.
pub fn user(email: &str) -> User {
    User {
        id: UserId::new(),
        email: Email::parse(email)
            .unwrap_or_else(|e| panic!("test e-mail {email:?} must parse: {e}")),
        name: Some("Conformance".to_owned()),
        password_hash: Some(TEST_PASSWORD_HASH.to_owned()),
        external: None,
        created_at: now(),
    }
}

/// A project of `owner` with a fresh id.
pub fn project(owner: &UserId) -> Project {
    let at = now();
    Project {
        id: ProjectId::new(),
        owner: *owner,
        name: "Conformance project".to_owned(),
        description: Some("made by convo_core::testkit".to_owned()),
        created_at: at,
        updated_at: at,
    }
}

/// An agent in `project` (and of its owner) with a fresh id.
pub fn agent(project: &Project) -> Agent {
    let at = now();
    Agent {
        id: AgentId::new(),
        project_id: project.id,
        owner: project.owner,
        name: "Conformance agent".to_owned(),
        system_prompt: "You are terse.".to_owned(),
        model: "mock-1".to_owned(),
        temperature: Some(0.5),
        max_output_tokens: Some(256),
        reasoning_effort: Some(crate::domain::ReasoningEffort::Low),
        context_messages: 20,
        context_tokens: None,
        tools: Vec::new(),
        max_tool_rounds: 8,
        webhook_secret: Some(format!("whsec_{}", Uuid::now_v7().simple())),
        created_at: at,
        updated_at: at,
    }
}

/// An empty, untitled session with `agent` (and of its owner) with a fresh id.
pub fn session(agent: &Agent) -> ChatSession {
    let at = now();
    ChatSession {
        id: SessionId::new(),
        agent_id: agent.id,
        project_id: agent.project_id,
        owner: agent.owner,
        title: None,
        message_count: 0,
        created_at: at,
        updated_at: at,
        forked_from: None,
        pending_tool_calls: Vec::new(),
        end_user: None,
    }
}

/// A never-used chat key of `project` (and of its owner) with a fresh id
/// and a secret hash no other call returns.
pub fn api_key(project: &Project) -> ApiKey {
    let id = KeyId::new();
    ApiKey {
        id,
        project_id: project.id,
        owner: project.owner,
        name: "Conformance key".to_owned(),
        scope: KeyScope::Chat,
        prefix: "ck_conforma".to_owned(),
        // 64 hex characters, like a SHA-256, unique per call.
        secret_hash: format!("{}{}", Uuid::now_v7().simple(), Uuid::new_v4().simple()),
        created_at: now(),
        expires_at: None,
        last_used_at: None,
        rate_limit_per_minute: Some(60),
        end_user_monthly_token_budget: Some(10_000),
    }
}

/// An end-user id; panics if `id` is not one (1–128 visible ASCII).
pub fn end_user(id: &str) -> EndUser {
    EndUser::parse(id).unwrap_or_else(|e| panic!("test end user {id:?}: {e}"))
}

/// An assistant message draft with a fresh id, stamped now, carrying a
/// provider state (a store must keep it as it is).
pub fn assistant_draft(content: &str) -> MessageDraft {
    MessageDraft {
        role: Role::Assistant,
        model: Some("mock-1".to_owned()),
        provider_state: Some(crate::domain::ProviderState {
            provider: "gemini".to_owned(),
            model: "mock-1".to_owned(),
            thought_signature: Some(format!("c2lnbmF0dXJl/{content}+=")),
        }),
        ..MessageDraft::user(content)
    }
}

/// A stored user → project → agent → session chain, the usual starting point.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The owner of everything below.
    pub user: User,
    /// The user's project.
    pub project: Project,
    /// An agent in the project.
    pub agent: Agent,
    /// An empty session with the agent.
    pub session: ChatSession,
}

impl Fixture {
    /// Inserts a fresh user with a project, an agent and a session; panics if the store refuses.
    pub async fn insert(store: &dyn Store) -> Self {
        let user = insert_user(store).await;
        let project = project(&user.id);
        store
            .insert_project(&project)
            .await
            .expect("insert_project of a fresh project must succeed");
        let agent = agent(&project);
        store
            .insert_agent(&agent)
            .await
            .expect("insert_agent into an existing project must succeed");
        let session = session(&agent);
        store
            .insert_session(&session)
            .await
            .expect("insert_session for an existing agent must succeed");
        Self {
            user,
            project,
            agent,
            session,
        }
    }

    /// Inserts another agent in this fixture's project.
    pub async fn insert_agent(&self, store: &dyn Store) -> Agent {
        let agent = agent(&self.project);
        store
            .insert_agent(&agent)
            .await
            .expect("insert_agent into an existing project must succeed");
        agent
    }

    /// Inserts another session with this fixture's agent.
    pub async fn insert_session(&self, store: &dyn Store) -> ChatSession {
        let session = session(&self.agent);
        store
            .insert_session(&session)
            .await
            .expect("insert_session for an existing agent must succeed");
        session
    }
}

/// Inserts a user with a fresh id and a unique e-mail address.
pub async fn insert_user(store: &dyn Store) -> User {
    let user = user(&unique_email());
    store
        .insert_user(&user)
        .await
        .expect("insert_user with a unique e-mail must succeed");
    user
}

/// Appends `n` user messages `"message 1"`, `"message 2"`… to a session.
pub async fn append_messages(
    store: &dyn Store,
    session: &SessionId,
    n: usize,
) -> Vec<crate::domain::Message> {
    let mut stored = Vec::with_capacity(n);
    for i in 1..=n {
        let message = store
            .append_message(session, MessageDraft::user(format!("message {i}")))
            .await
            .expect("append_message to an existing session must succeed");
        stored.push(message);
    }
    stored
}

/// Panics unless `result` is [`StoreError::NotFound`].
pub fn assert_not_found<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected Err(StoreError::NotFound(_)), got {other:?}"),
    }
}

/// Panics unless `result` is an empty list or [`StoreError::NotFound`]: both
/// are fine answers about the contents of something that no longer exists.
pub fn assert_empty_or_not_found<T: Debug>(result: Result<Vec<T>, StoreError>, what: &str) {
    match result {
        Ok(items) if items.is_empty() => {}
        Err(StoreError::NotFound(_)) => {}
        other => {
            panic!("{what}: expected an empty list or Err(StoreError::NotFound(_)), got {other:?}")
        }
    }
}
