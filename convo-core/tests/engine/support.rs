//! A world for each test: an engine over a MemoryStore and a MockProvider,
//! with a registered owner, and the assertions every module uses.

use std::sync::Arc;

use convo_core::{
    ChatSession, Convo, ConvoError, ListParams, MemoryStore, MockProvider, NewAgent, NewProject,
    SendMessage, Settings, TurnEvent, UserId,
};
use futures::StreamExt;

pub struct World {
    pub convo: Convo,
    pub mock: Arc<MockProvider>,
    pub store: Arc<MemoryStore>,
    pub user: UserId,
}

pub fn world_with(mock: MockProvider, settings: Settings) -> World {
    let mock = Arc::new(mock);
    let store = Arc::new(MemoryStore::new());
    let convo = Convo::new(store.clone(), mock.clone(), settings);
    World {
        convo,
        mock,
        store,
        user: UserId::new(),
    }
}

pub async fn world(mock: MockProvider) -> World {
    registered_world(mock, Settings::default()).await
}

/// A world with these settings and its owner registered.
pub async fn registered_world(mock: MockProvider, settings: Settings) -> World {
    let mut w = world_with(mock, settings);
    w.user = w
        .convo
        .register("owner@example.com", "password123", None)
        .await
        .expect("register")
        .id;
    w
}

/// A second engine over the world's store and model: another server process.
pub fn second_engine(w: &World, settings: Settings) -> Convo {
    Convo::new(w.store.clone(), w.mock.clone(), settings)
}

impl World {
    pub async fn session_with(&self, agent: NewAgent) -> ChatSession {
        let project = self
            .convo
            .create_project(
                &self.user,
                NewProject {
                    name: "P".into(),
                    description: None,
                },
            )
            .await
            .expect("project");
        let agent = self
            .convo
            .create_agent(&self.user, project.id, agent)
            .await
            .expect("agent");
        self.convo
            .start_session(&self.user, agent.id, Some("chat"))
            .await
            .expect("session")
    }

    pub async fn session(&self) -> ChatSession {
        self.session_with(agent("Be kind.")).await
    }

    pub async fn send(
        &self,
        session: &ChatSession,
        text: &str,
    ) -> Result<convo_core::Turn, ConvoError> {
        self.convo
            .send_message(&self.user, session.id, SendMessage::new(text))
            .await
    }

    pub async fn history(&self, session: &ChatSession) -> Vec<convo_core::Message> {
        let params = ListParams {
            limit: Some(100),
            ..Default::default()
        };
        self.convo
            .list_messages(&self.user, session.id, &params)
            .await
            .expect("history")
            .data
    }
}

pub fn agent(system_prompt: &str) -> NewAgent {
    NewAgent {
        name: "Helper".into(),
        system_prompt: system_prompt.into(),
        ..Default::default()
    }
}

pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T, ConvoError>, expected_field: &str) {
    match result {
        Err(ConvoError::Invalid { field, .. }) => assert_eq!(field, expected_field),
        other => panic!("expected Invalid({expected_field}), got {other:?}"),
    }
}

pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, ConvoError>, context: &str) {
    assert!(
        matches!(result, Err(ConvoError::NotFound(_))),
        "{context}: expected NotFound, got {result:?}"
    );
}

pub async fn collect(stream: convo_core::TurnStream) -> Vec<TurnEvent> {
    stream.collect().await
}

/// Reads a stream to its end: the deltas' text and the last event.
pub async fn drain(stream: &mut convo_core::TurnStream) -> (String, Option<TurnEvent>) {
    let mut text = String::new();
    let mut last = None;
    while let Some(event) = stream.next().await {
        if let TurnEvent::Delta { text: delta, .. } = &event {
            text.push_str(delta);
        }
        last = Some(event);
    }
    (text, last)
}
