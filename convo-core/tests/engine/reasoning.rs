//! Reasoning effort and the provider state sent back to the model.

use convo_core::llm::LlmReply;
use convo_core::llm::MockReply;
use convo_core::{
    AgentPatch, ConvoError, FinishReason, MockProvider, NewAgent, NewProject, ProviderState,
    ReasoningEffort, Role, SendMessage, TurnEvent,
};
use futures::StreamExt;

use crate::support::*;

/// A project of the world's owner, for agent tests.
async fn project_id(w: &World) -> String {
    w.convo
        .create_project(
            &w.user,
            NewProject {
                name: "P".into(),
                description: None,
            },
        )
        .await
        .expect("project")
        .id
        .to_string()
}

#[tokio::test]
async fn new_agents_get_the_current_flash_model_thinking_low() {
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    let a = w
        .convo
        .create_agent(&w.user, &project, agent("Be kind."))
        .await
        .expect("agent");
    assert_eq!(a.model, "gemini-3.8-flash");
    assert_eq!(a.reasoning_effort, Some(ReasoningEffort::Low));

    // The effort reaches the model with every turn.
    let session = w
        .convo
        .start_session(&w.user, &a.id.to_string(), None)
        .await
        .expect("session");
    w.send(&session, "hi").await.expect("turn");
    let sent = w.mock.requests().pop().expect("request");
    assert_eq!(sent.reasoning_effort, Some(ReasoningEffort::Low));
}

#[tokio::test]
async fn a_level_the_model_does_not_take_is_refused_on_reasoning_effort() {
    let w = world(MockProvider::new()).await;
    let project = project_id(&w).await;
    // Gemini 3.8 Flash takes low, medium and high, not minimal.
    let minimal = NewAgent {
        reasoning_effort: Some(ReasoningEffort::Minimal),
        ..agent("x")
    };
    let refused = w.convo.create_agent(&w.user, &project, minimal).await;
    match &refused {
        Err(ConvoError::Invalid {
            field,
            reason: message,
        }) => {
            assert_eq!(*field, "reasoning_effort");
            assert!(
                message.contains("gemini-3.8-flash") && message.contains("low, medium, high"),
                "{message}"
            );
        }
        other => panic!("expected Invalid(reasoning_effort), got {other:?}"),
    }
    // A lite model takes minimal; a 2.5 model takes no level at all.
    let lite = NewAgent {
        model: Some("gemini-3.5-flash-lite".into()),
        reasoning_effort: Some(ReasoningEffort::Minimal),
        ..agent("x")
    };
    let lite = w
        .convo
        .create_agent(&w.user, &project, lite)
        .await
        .expect("minimal on a lite model");
    let old = NewAgent {
        model: Some("gemini-2.5-flash-lite".into()),
        ..agent("x")
    };
    let old = w
        .convo
        .create_agent(&w.user, &project, old)
        .await
        .expect("a 2.5 model without an effort");
    assert_eq!(old.reasoning_effort, None, "no default where none is taken");
    let set_on_old = AgentPatch {
        reasoning_effort: Some(Some(ReasoningEffort::High)),
        ..Default::default()
    };
    assert_invalid(
        w.convo
            .update_agent(&w.user, &old.id.to_string(), set_on_old)
            .await,
        "reasoning_effort",
    );
    // Moving the lite agent (minimal) to 3.8 Flash without a new effort is
    // refused, and nothing changes; with one it goes through.
    let to_flash = AgentPatch {
        model: Some("gemini-3.8-flash".into()),
        ..Default::default()
    };
    assert_invalid(
        w.convo
            .update_agent(&w.user, &lite.id.to_string(), to_flash.clone())
            .await,
        "reasoning_effort",
    );
    let stored = w
        .convo
        .agent(&w.user, &lite.id.to_string())
        .await
        .expect("agent");
    assert_eq!(stored.model, "gemini-3.5-flash-lite");
    let moved = w
        .convo
        .update_agent(
            &w.user,
            &lite.id.to_string(),
            AgentPatch {
                reasoning_effort: Some(None),
                ..to_flash
            },
        )
        .await
        .expect("to 3.8 with the model's default");
    assert_eq!(
        (moved.model.as_str(), moved.reasoning_effort),
        ("gemini-3.8-flash", None)
    );
    // A model Convo does not know takes whatever is asked (its API decides).
    let unknown = NewAgent {
        model: Some("some-local-model".into()),
        reasoning_effort: Some(ReasoningEffort::Minimal),
        ..agent("x")
    };
    w.convo
        .create_agent(&w.user, &project, unknown)
        .await
        .expect("unknown model");
}

#[tokio::test]
async fn provider_state_is_stored_with_the_reply_and_sent_back_unchanged() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let state = ProviderState {
        provider: "gemini".into(),
        model: "gemini-3.8-flash".into(),
        thought_signature: Some("c2lnbmVkIGJ5IHRoZSBtb2RlbA==".into()),
    };
    w.mock.push(MockReply::Reply(LlmReply {
        text: "first answer".into(),
        finish_reason: FinishReason::Stop,
        usage: None,
        model: None,
        provider_state: Some(state.clone()),
        ..Default::default()
    }));
    let turn = w.send(&session, "one").await.expect("turn");
    assert_eq!(turn.assistant_message.provider_state, Some(state.clone()));

    w.send(&session, "two").await.expect("turn");
    let sent = w.mock.requests().pop().expect("request");
    let echoed: Vec<_> = sent
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str(), m.provider_state.clone()))
        .collect();
    assert_eq!(
        echoed,
        [
            (Role::User, "one", None),
            (Role::Assistant, "first answer", Some(state.clone())),
            (Role::User, "two", None),
        ]
    );
    // A stream keeps it too.
    w.mock.push(MockReply::Reply(LlmReply {
        text: "streamed".into(),
        finish_reason: FinishReason::Stop,
        usage: None,
        model: None,
        provider_state: Some(state.clone()),
        ..Default::default()
    }));
    let mut events = w
        .convo
        .stream_message(&w.user, &session.id.to_string(), SendMessage::new("three"))
        .await
        .expect("stream");
    while let Some(event) = events.next().await {
        if let TurnEvent::Completed { message } = event {
            assert_eq!(message.provider_state, Some(state.clone()));
        }
    }
    let stored = w.history(&session).await;
    assert_eq!(
        stored.last().and_then(|m| m.provider_state.clone()),
        Some(state)
    );
}
