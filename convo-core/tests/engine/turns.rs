//! Turns: storage, the window, failures, the lock, idempotency, concurrency.

use std::time::Duration;

use convo_core::llm::LlmReply;
use convo_core::llm::MockReply;
use convo_core::{
    AgentPatch, ConvoError, FinishReason, LlmError, MockProvider, NewAgent, Role, SendMessage,
    Store, TurnEvent,
};
use futures::StreamExt;

use crate::support::*;

#[tokio::test]
async fn a_turn_stores_both_messages_and_sends_the_agents_settings() {
    let w = world(MockProvider::new()).await;
    let session = w
        .session_with(NewAgent {
            temperature: Some(0.3),
            max_output_tokens: Some(500),
            model: Some("gemini-2.5-flash-lite".into()),
            ..agent("You are terse.")
        })
        .await;
    let turn = w.send(&session, "Hello there").await.expect("turn");
    assert_eq!(
        (turn.user_message.seq, turn.user_message.role),
        (1, Role::User)
    );
    assert_eq!(turn.user_message.content, "Hello there");
    let reply = &turn.assistant_message;
    assert_eq!(
        (reply.seq, reply.role, reply.content.as_str()),
        (2, Role::Assistant, "echo: Hello there")
    );
    assert_eq!(reply.model.as_deref(), Some("gemini-2.5-flash-lite"));
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.expect("usage");
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    let context = reply.context.expect("context");
    assert_eq!(
        (context.first_seq, context.last_seq, context.messages),
        (1, 1, 1)
    );

    let sent = w.mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].system_prompt, "You are terse.");
    assert_eq!(
        (sent[0].temperature, sent[0].max_output_tokens),
        (Some(0.3), Some(500))
    );
    assert_eq!(sent[0].model, "gemini-2.5-flash-lite");
    assert_eq!(
        w.history(&session).await,
        vec![turn.user_message.clone(), turn.assistant_message.clone()]
    );
    let session = w
        .convo
        .session(&w.user, &session.id.to_string())
        .await
        .expect("session");
    assert_eq!(session.message_count, 2);
}

#[tokio::test]
async fn the_window_is_the_last_messages_and_starts_with_a_user_message() {
    let w = world(MockProvider::new()).await;
    let session = w
        .session_with(NewAgent {
            context_messages: Some(3),
            ..agent("x")
        })
        .await;
    for text in ["one", "two"] {
        w.send(&session, text).await.expect("turn");
    }
    let turn = w.send(&session, "three").await.expect("turn");
    let last = w.mock.requests().pop().expect("request");
    let window: Vec<(Role, &str)> = last
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        window,
        vec![
            (Role::User, "two"),
            (Role::Assistant, "echo: two"),
            (Role::User, "three")
        ]
    );
    let context = turn.assistant_message.context.expect("context");
    assert_eq!(
        (context.first_seq, context.last_seq, context.messages),
        (3, 5, 3)
    );

    // A window of 2 would start with the assistant's reply: it is trimmed to the user message.
    w.convo
        .update_agent(
            &w.user,
            &session.agent_id.to_string(),
            AgentPatch {
                context_messages: Some(2),
                ..Default::default()
            },
        )
        .await
        .expect("patch");
    w.send(&session, "four").await.expect("turn");
    let last = w.mock.requests().pop().expect("request");
    assert_eq!(last.messages.len(), 1);
    assert_eq!(
        (last.messages[0].role, last.messages[0].content.as_str()),
        (Role::User, "four")
    );
}

#[tokio::test]
async fn an_empty_reply_is_stored_honestly_and_left_out_of_later_windows() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    w.mock.push(MockReply::Reply(LlmReply {
        text: String::new(),
        finish_reason: FinishReason::MaxTokens,
        usage: None,
        model: None,
        provider_state: None,
        ..Default::default()
    }));
    let turn = w.send(&session, "think hard").await.expect("turn");
    assert_eq!(
        (
            turn.assistant_message.content.as_str(),
            turn.assistant_message.finish_reason
        ),
        ("", Some(FinishReason::MaxTokens))
    );
    w.send(&session, "again").await.expect("turn");
    let last = w.mock.requests().pop().expect("request");
    let contents: Vec<&str> = last.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        vec!["think hard", "again"],
        "the empty reply is not sent back to the model"
    );
}

#[tokio::test]
async fn a_failed_model_call_keeps_the_user_message_stores_no_reply_and_frees_the_session() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let failures = [
        LlmError::Provider("bad".into()),
        LlmError::Blocked("SAFETY".into()),
        LlmError::Unavailable {
            message: "busy".into(),
            retry_after: Some(Duration::from_secs(3)),
        },
        LlmError::Timeout,
    ];
    for (i, failure) in failures.into_iter().enumerate() {
        w.mock.push(MockReply::Fail(failure.clone()));
        let result = w.send(&session, &format!("try {i}")).await;
        match result {
            Err(ConvoError::Llm(e)) => assert_eq!(e, failure),
            other => panic!("expected {failure:?}, got {other:?}"),
        }
    }
    let history = w.history(&session).await;
    assert_eq!(history.len(), 4, "four user messages, no replies");
    assert!(history.iter().all(|m| m.role == Role::User));
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    w.send(&session, "works now")
        .await
        .expect("the lock was released on every failure");
}

#[tokio::test]
async fn a_second_send_while_a_turn_runs_is_turn_in_progress() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(300))).await;
    let session = w.session().await;
    let sid = session.id.to_string();
    let (a, b) = tokio::join!(
        w.convo.send_message(&w.user, &sid, SendMessage::new("a")),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            w.convo
                .send_message(&w.user, &sid, SendMessage::new("b"))
                .await
        }
    );
    assert!(a.is_ok(), "{a:?}");
    assert!(matches!(b, Err(ConvoError::TurnInProgress)), "{b:?}");
    assert!(ConvoError::TurnInProgress.is_retryable());
    assert_eq!(
        w.history(&session).await.len(),
        2,
        "the refused send stored nothing"
    );
}

#[tokio::test]
async fn a_lock_left_by_a_crashed_holder_frees_itself_when_its_lease_ends() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    assert!(w
        .store
        .try_lock_turn(
            &session.owner,
            &session.id,
            "crashed-process",
            Duration::from_millis(200)
        )
        .await
        .expect("lock")
        .is_some());
    assert!(matches!(
        w.send(&session, "hi").await,
        Err(ConvoError::TurnInProgress)
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.send(&session, "hi").await.expect("the lease ran out");
}

#[tokio::test]
async fn a_plain_send_completes_even_if_the_caller_goes_away() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(200))).await;
    let session = w.session().await;
    let abandoned = tokio::time::timeout(Duration::from_millis(50), w.send(&session, "hi")).await;
    assert!(abandoned.is_err(), "the caller gave up first");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let history = w.history(&session).await;
    assert_eq!(history.len(), 2, "the reply was still stored");
    w.send(&session, "next")
        .await
        .expect("and the lock released");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_result_without_calling_the_model() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let sid = session.id.to_string();
    let msg = SendMessage::new("pay once").with_idempotency_key("key-1");
    let first = w
        .convo
        .send_message(&w.user, &sid, msg.clone())
        .await
        .expect("first");
    let again = w
        .convo
        .send_message(&w.user, &sid, msg.clone())
        .await
        .expect("again");
    assert_eq!(first, again);
    assert_eq!(w.mock.request_count(), 1);
    assert_eq!(w.history(&session).await.len(), 2);

    let mut streamed = w
        .convo
        .stream_message(&w.user, &sid, msg)
        .await
        .expect("stream replay");
    let mut text = String::new();
    let mut completed = None;
    while let Some(event) = streamed.next().await {
        match event {
            TurnEvent::Delta { text: t, .. } => text.push_str(&t),
            TurnEvent::Completed { message } => completed = Some(*message),
            _ => {}
        }
    }
    assert_eq!(completed.as_ref(), Some(&first.assistant_message));
    assert_eq!(text, first.assistant_message.content);
    assert_eq!(
        w.mock.request_count(),
        1,
        "the streamed repeat did not call the model either"
    );

    let other = SendMessage::new("something else").with_idempotency_key("key-1");
    assert_invalid(
        w.convo.send_message(&w.user, &sid, other).await,
        "idempotency_key",
    );
    // Keys are per session.
    let session2 = w
        .convo
        .start_session(&w.user, &session.agent_id.to_string(), None)
        .await
        .expect("s2");
    let turn = w
        .convo
        .send_message(
            &w.user,
            &session2.id.to_string(),
            SendMessage::new("pay once").with_idempotency_key("key-1"),
        )
        .await
        .expect("other session");
    assert_eq!(turn.user_message.seq, 1);
}

#[tokio::test]
async fn retrying_a_failed_idempotent_turn_answers_the_stored_message_without_storing_it_again() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let sid = session.id.to_string();
    w.mock.push(MockReply::Fail(LlmError::Unavailable {
        message: "busy".into(),
        retry_after: None,
    }));
    let msg = SendMessage::new("retry me").with_idempotency_key("k");
    assert!(w
        .convo
        .send_message(&w.user, &sid, msg.clone())
        .await
        .is_err());
    let turn = w
        .convo
        .send_message(&w.user, &sid, msg)
        .await
        .expect("retry succeeds");
    assert_eq!((turn.user_message.seq, turn.assistant_message.seq), (1, 2));
    let history = w.history(&session).await;
    assert_eq!(
        history.len(),
        2,
        "the user message was not stored twice: {history:?}"
    );
}

#[tokio::test]
async fn fifty_concurrent_sends_to_fifty_sessions_all_succeed_with_contiguous_seqs() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(5))).await;
    let session = w.session().await;
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(
            w.convo
                .start_session(&w.user, &session.agent_id.to_string(), None)
                .await
                .expect("s"),
        );
    }
    let sends = sessions.iter().map(|s| w.send(s, "hi"));
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok));
    for s in &sessions {
        assert_eq!(
            w.history(s).await.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}
