//! Streamed turns, and the size of turn futures.

use std::time::Duration;

use convo_core::llm::MockReply;
use convo_core::{ConvoError, FinishReason, LlmError, MockProvider, SendMessage, TurnEvent};
use futures::StreamExt;

use crate::support::*;

#[tokio::test]
async fn a_streamed_turn_emits_created_deltas_and_completed_in_order() {
    let w = world(MockProvider::new().with_chunks(4)).await;
    let session = w.session().await;
    let stream = w
        .convo
        .stream_message(
            &w.user,
            &session.id.to_string(),
            SendMessage::new("stream this please"),
        )
        .await
        .expect("stream");
    let events = collect(stream).await;
    let TurnEvent::Created {
        user_message,
        assistant_message_id,
    } = &events[0]
    else {
        panic!("first event: {:?}", events[0])
    };
    assert_eq!(user_message.seq, 1);
    let deltas: String = events[1..events.len() - 1]
        .iter()
        .map(|e| match e {
            TurnEvent::Delta { message_id, text } => {
                assert_eq!(message_id, assistant_message_id);
                text.as_str()
            }
            other => panic!("expected only deltas in the middle, got {other:?}"),
        })
        .collect();
    assert_eq!(events.len(), 6, "created, 4 deltas, completed");
    let TurnEvent::Completed { message } = events.last().expect("last") else {
        panic!("last: {:?}", events.last())
    };
    assert_eq!(message.id, *assistant_message_id);
    assert_eq!(deltas, message.content);
    assert_eq!(message.content, "echo: stream this please");
    assert_eq!(w.history(&session).await.last(), Some(&**message));
}

#[tokio::test]
async fn dropping_a_stream_stops_generation_and_stores_the_partial_text_as_cancelled() {
    let w = world(
        MockProvider::new()
            .with_chunks(10)
            .with_chunk_delay(Duration::from_millis(100)),
    )
    .await;
    let session = w.session().await;
    let mut stream = w
        .convo
        .stream_message(
            &w.user,
            &session.id.to_string(),
            SendMessage::new("a long answer please"),
        )
        .await
        .expect("stream");
    assert!(matches!(
        stream.next().await,
        Some(TurnEvent::Created { .. })
    ));
    let Some(TurnEvent::Delta { text: first, .. }) = stream.next().await else {
        panic!("expected a delta")
    };
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = w.history(&session).await;
    assert_eq!(history.len(), 2);
    let reply = &history[1];
    assert_eq!(reply.finish_reason, Some(FinishReason::Cancelled));
    assert!(
        reply.content.starts_with(&first),
        "{:?} starts with {first:?}",
        reply.content
    );
    assert!(
        reply.content.len() < "echo: a long answer please".len(),
        "generation stopped early: {:?}",
        reply.content
    );
    w.send(&session, "next")
        .await
        .expect("the lock was released");
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event_and_stores_no_reply() {
    let w = world(MockProvider::new().with_chunks(4)).await;
    let session = w.session().await;
    w.mock.push(MockReply::FailMidStream {
        chunks: 2,
        error: LlmError::Unavailable {
            message: "reset".into(),
            retry_after: None,
        },
    });
    let events = collect(
        w.convo
            .stream_message(&w.user, &session.id.to_string(), SendMessage::new("hello"))
            .await
            .expect("stream"),
    )
    .await;
    assert!(
        matches!(
            events.last(),
            Some(TurnEvent::Failed {
                error: ConvoError::Llm(LlmError::Unavailable { .. })
            })
        ),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TurnEvent::Delta { .. }))
            .count(),
        2
    );
    let history = w.history(&session).await;
    assert_eq!(history.len(), 1, "only the user message: {history:?}");

    w.mock.push(MockReply::Fail(LlmError::Timeout));
    let events = collect(
        w.convo
            .stream_message(&w.user, &session.id.to_string(), SendMessage::new("again"))
            .await
            .expect("stream"),
    )
    .await;
    assert_eq!(events.len(), 2, "created, then the error: {events:?}");
    assert!(matches!(
        events[1],
        TurnEvent::Failed {
            error: ConvoError::Llm(LlmError::Timeout)
        }
    ));
}

#[tokio::test]
async fn a_second_stream_while_one_runs_is_refused_before_it_opens() {
    let w = world(
        MockProvider::new()
            .with_chunks(5)
            .with_chunk_delay(Duration::from_millis(50)),
    )
    .await;
    let session = w.session().await;
    let sid = session.id.to_string();
    let running = w
        .convo
        .stream_message(&w.user, &sid, SendMessage::new("first"))
        .await
        .expect("first");
    let second = w
        .convo
        .stream_message(&w.user, &sid, SendMessage::new("second"))
        .await;
    assert!(
        matches!(second, Err(ConvoError::TurnInProgress)),
        "{second:?}"
    );
    let events = collect(running).await;
    assert!(matches!(events.last(), Some(TurnEvent::Completed { .. })));
}

/// The turn's futures stay small: every layer above (a server handler, its
/// middleware, poem's boxing) moves them, and at ~3 KiB those copies were a
/// tenth of a send's CPU time (perf, scripts/bench.sh case 3).
#[tokio::test]
async fn turn_futures_stay_small() {
    let convo = world(MockProvider::new()).await.convo;
    let user = convo_core::UserId::new();
    let send = convo.send_message(&user, "x", convo_core::SendMessage::new("hi"));
    assert!(
        std::mem::size_of_val(&send) <= 512,
        "{}",
        std::mem::size_of_val(&send)
    );
    drop(send);
    let stream = convo.stream_message(&user, "x", convo_core::SendMessage::new("hi"));
    assert!(
        std::mem::size_of_val(&stream) <= 512,
        "{}",
        std::mem::size_of_val(&stream)
    );
}
