//! The usage ledger and the quotas.

use std::time::Duration;

use convo_core::llm::MockReply;
use convo_core::{ConvoError, MockProvider, SendMessage, Settings, TurnEvent, UserId};

use crate::support::*;

#[tokio::test]
async fn every_turn_goes_in_the_usage_ledger() {
    let w = world(MockProvider::new()).await;
    let session = w.session().await;
    let a = w.send(&session, "one").await.expect("send");
    let b = w.send(&session, "two").await.expect("send");
    w.mock
        .push(MockReply::Fail(convo_core::LlmError::Unavailable {
            message: "overloaded".into(),
            retry_after: None,
        }));
    assert!(w.send(&session, "three").await.is_err());

    let report = w
        .convo
        .usage(&w.user, convo_core::UsageGroupBy::Agent, None, None)
        .await
        .expect("usage");

    let expected: u64 = [a, b]
        .iter()
        .map(|t| t.assistant_message.usage.expect("mock usage").total_tokens)
        .sum();
    assert!(expected > 0);
    assert_eq!(report.groups.len(), 1);
    assert_eq!(report.groups[0].key, session.agent_id.to_string());
    assert_eq!(report.totals.total_tokens, expected);
    assert_eq!((report.totals.turns, report.totals.failures), (3, 1));
    let (start, end) = convo_core::month_of(convo_core::now());
    assert_eq!(
        (report.from, report.to),
        (start, end),
        "the current month by default"
    );
    let stranger = w
        .convo
        .usage(&UserId::new(), convo_core::UsageGroupBy::Day, None, None)
        .await
        .expect("usage");
    assert!(stranger.groups.is_empty(), "usage is per user");
}

#[tokio::test]
async fn a_spent_monthly_budget_refuses_turns_before_storing_anything() {
    let settings = Settings {
        monthly_token_budget: Some(1),
        ..Settings::default()
    };
    let w = registered_world(MockProvider::new(), settings).await;
    let session = w.session().await;
    w.send(&session, "one")
        .await
        .expect("the first turn is within the budget");
    let calls = w.mock.request_count();

    let refused = w.send(&session, "two").await;

    let Err(ConvoError::QuotaExceeded { resets_at }) = refused else {
        panic!("expected QuotaExceeded, got {refused:?}");
    };
    assert_eq!(resets_at, convo_core::month_of(convo_core::now()).1);
    assert_eq!(w.mock.request_count(), calls, "the model was not called");
    assert_eq!(w.history(&session).await.len(), 2, "nothing was stored");
}

#[tokio::test]
async fn a_user_may_run_only_so_many_turns_at_once() {
    let settings = Settings {
        max_concurrent_turns: Some(1),
        ..Settings::default()
    };
    let w = registered_world(
        MockProvider::new()
            .with_chunks(5)
            .with_chunk_delay(Duration::from_millis(100)),
        settings,
    )
    .await;
    let (first, second) = (w.session().await, w.session().await);
    let mut stream = w
        .convo
        .stream_message(&w.user, &first.id.to_string(), SendMessage::new("slow"))
        .await
        .expect("the first turn");

    let refused = w.send(&second, "meanwhile").await;
    assert!(
        matches!(refused, Err(ConvoError::RateLimited { .. })),
        "{refused:?}"
    );
    assert!(w.history(&second).await.is_empty(), "nothing was stored");

    let (_, last) = drain(&mut stream).await;
    assert!(matches!(last, Some(TurnEvent::Completed { .. })));
    w.send(&second, "now").await.expect("a slot is free again");
}
