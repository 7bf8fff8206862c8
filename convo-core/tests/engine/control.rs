//! Conversation control: cancel (here and through another engine), forks, and the lease kept while a stream runs.

use std::time::Duration;

use convo_core::{
    ConvoError, FinishReason, MockProvider, SendMessage, Settings, TurnEvent, UserId,
};
use futures::StreamExt;

use crate::support::*;

#[tokio::test]
async fn cancelling_a_streamed_turn_stores_the_text_so_far_and_completes_the_stream() {
    let w = world(
        MockProvider::new()
            .with_chunks(10)
            .with_chunk_delay(Duration::from_millis(100)),
    )
    .await;
    let session = w.session().await;
    let id = session.id.to_string();
    let mut stream = w
        .convo
        .stream_message(&w.user, &id, SendMessage::new("a long answer please"))
        .await
        .expect("stream");
    assert!(matches!(
        stream.next().await,
        Some(TurnEvent::Created { .. })
    ));
    let Some(TurnEvent::Delta { text: first, .. }) = stream.next().await else {
        panic!("expected a delta")
    };

    assert!(
        w.convo.cancel_turn(&w.user, &id).await.expect("cancel"),
        "a turn was running"
    );

    let (rest, last) = drain(&mut stream).await;
    let Some(TurnEvent::Completed { message }) = last else {
        panic!("the stream ends with the stored message, got {last:?}")
    };
    assert_eq!(message.finish_reason, Some(FinishReason::Cancelled));
    assert_eq!(
        message.content,
        format!("{first}{rest}"),
        "exactly the text streamed"
    );
    assert!(
        message.content.len() < "echo: a long answer please".len(),
        "stopped early"
    );
    let history = w.history(&session).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1], *message, "the same message is stored");
    assert!(
        !w.convo.cancel_turn(&w.user, &id).await.expect("cancel"),
        "nothing is running any more"
    );
    w.send(&session, "next")
        .await
        .expect("the lock was released");
}

#[tokio::test]
async fn a_cancel_made_through_another_engine_stops_the_turn_through_the_store() {
    // Two engines over one store: two server processes.
    let settings = Settings {
        cancel_poll: Duration::from_millis(50),
        ..Settings::default()
    };
    let w = registered_world(
        MockProvider::new()
            .with_chunks(10)
            .with_chunk_delay(Duration::from_millis(100)),
        settings.clone(),
    )
    .await;
    let (a, b, user) = (&w.convo, second_engine(&w, settings), w.user);
    let id = w.session().await.id.to_string();

    let mut stream = a
        .stream_message(&user, &id, SendMessage::new("a long answer please"))
        .await
        .expect("stream");
    assert!(matches!(
        stream.next().await,
        Some(TurnEvent::Created { .. })
    ));
    assert!(matches!(stream.next().await, Some(TurnEvent::Delta { .. })));
    assert!(
        b.cancel_turn(&user, &id).await.expect("cancel on B"),
        "B sees the running turn"
    );

    let (_, last) = drain(&mut stream).await;
    let Some(TurnEvent::Completed { message }) = last else {
        panic!("A's stream ends with the stored message, got {last:?}")
    };
    assert_eq!(message.finish_reason, Some(FinishReason::Cancelled));
    assert!(
        message.content.len() < "echo: a long answer please".len(),
        "stopped early"
    );
}

#[tokio::test]
async fn a_cancelled_plain_send_answers_an_empty_cancelled_reply() {
    let w = world(MockProvider::new().with_latency(Duration::from_millis(500))).await;
    let session = w.session().await;
    let id = session.id.to_string();
    let convo = w.convo.clone();
    let user = w.user;
    let send = tokio::spawn({
        let id = id.clone();
        async move { convo.send_message(&user, &id, SendMessage::new("hi")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(w.convo.cancel_turn(&w.user, &id).await.expect("cancel"));
    let turn = send.await.expect("task").expect("the send completes");
    assert_eq!(
        turn.assistant_message.finish_reason,
        Some(FinishReason::Cancelled)
    );
    assert_eq!(turn.assistant_message.content, "");
    assert_eq!(w.history(&session).await.len(), 2);
}

#[tokio::test]
async fn cancelling_is_scoped_to_the_owner_and_harmless_when_idle() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let id = session.id.to_string();
    assert!(
        !w.convo
            .cancel_turn(&w.user, &id)
            .await
            .expect("idle cancel"),
        "no turn was running"
    );
    let stranger = UserId::new();
    assert!(matches!(
        w.convo.cancel_turn(&stranger, &id).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo.cancel_turn(&w.user, "not-an-id").await,
        Err(ConvoError::NotFound(_))
    ));
    w.send(&session, "still fine")
        .await
        .expect("send after an idle cancel");
}

#[tokio::test]
async fn a_fork_copies_the_history_up_to_a_message_and_goes_its_own_way() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let id = session.id.to_string();
    for text in ["one", "two", "three"] {
        w.send(&session, text).await.expect("send");
    }

    // Edit message 3 ("two"): fork at 2, then send the new text.
    let fork = w
        .convo
        .fork_session(&w.user, &id, 2, Some("edited"))
        .await
        .expect("fork");
    assert_eq!(fork.agent_id, session.agent_id);
    assert_eq!(fork.message_count, 2);
    assert_eq!(fork.title.as_deref(), Some("edited"));
    assert_eq!(
        fork.forked_from,
        Some(convo_core::ForkOrigin {
            session_id: session.id,
            seq: 2
        })
    );
    w.send(&fork, "two, edited")
        .await
        .expect("send to the fork");

    let copied = w.history(&fork).await;
    let contents: Vec<&str> = copied.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        ["one", "echo: one", "two, edited", "echo: two, edited"]
    );
    assert_eq!(
        copied.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let original = w.history(&session).await;
    assert_eq!(original.len(), 6, "the source is unchanged");
    assert!(
        copied.iter().zip(&original).all(|(c, o)| c.id != o.id),
        "copies have ids of their own"
    );
    // The model saw the fork's history, not the source's.
    let last = w.mock.requests().last().cloned().expect("a request");
    let seen: Vec<&str> = last.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(seen, ["one", "echo: one", "two, edited"]);
}

#[tokio::test]
async fn forks_are_checked_like_everything_else() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let id = session.id.to_string();
    w.send(&session, "one").await.expect("send");

    let empty = w
        .convo
        .fork_session(&w.user, &id, 0, None)
        .await
        .expect("fork at 0");
    assert_eq!(empty.message_count, 0);
    assert!(w.history(&empty).await.is_empty());
    assert!(matches!(
        w.convo.fork_session(&w.user, &id, 3, None).await,
        Err(ConvoError::Invalid {
            field: "up_to_seq",
            ..
        })
    ));
    assert!(matches!(
        w.convo.fork_session(&UserId::new(), &id, 1, None).await,
        Err(ConvoError::NotFound(_))
    ));
    assert!(matches!(
        w.convo
            .fork_session(&w.user, &id, 1, Some(&"x".repeat(201)))
            .await,
        Err(ConvoError::Invalid { field: "title", .. })
    ));
}

#[tokio::test]
async fn a_turn_streaming_faster_than_its_renewal_period_keeps_its_lease_and_hears_cancels() {
    // A lease of 300 ms (renewed every 100 ms) and a cancel poll of 100 ms,
    // under a model that streams a chunk every 40 ms for 1.2 s: no single
    // await outlasts either period, yet both must happen.
    let settings = Settings {
        turn_lease: Duration::from_millis(300),
        cancel_poll: Duration::from_millis(100),
        ..Settings::default()
    };
    let w = registered_world(
        MockProvider::new()
            .with_chunks(30)
            .with_chunk_delay(Duration::from_millis(40)),
        settings.clone(),
    )
    .await;
    let (a, b, user) = (&w.convo, second_engine(&w, settings), w.user);
    let id = w.session().await.id.to_string();
    let mut stream = a
        .stream_message(
            &user,
            &id,
            SendMessage::new("a long answer please, quite long indeed"),
        )
        .await
        .expect("stream");

    // Past two leases, the turn still holds the session.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = b
        .send_message(&user, &id, SendMessage::new("meanwhile"))
        .await;
    assert!(
        matches!(second, Err(ConvoError::TurnInProgress)),
        "the lease was renewed: {second:?}"
    );
    // And a cancel through the other engine is heard between chunks.
    assert!(b.cancel_turn(&user, &id).await.expect("cancel"));
    let (_, last) = drain(&mut stream).await;
    let Some(TurnEvent::Completed { message }) = last else {
        panic!("ends with the stored message, got {last:?}")
    };
    assert_eq!(message.finish_reason, Some(FinishReason::Cancelled));
}
