//! Retries: which statuses, how many attempts, and the wait the provider asks
//! for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_core::llm::LlmError;
use wiremock::{MockServer, Request};

use super::{generate, mount, mount_once, ok, received, stop, Patience, WireFormat};

/// Rate limits and server errors are retried up to `max_attempts`, then
/// reported as unavailable.
pub async fn retryable_statuses_give_up_as_unavailable_after_three_attempts(wire: &dyn WireFormat) {
    let attempts = Patience::default().retry.max_attempts as usize;
    for code in [429, 500, 502, 503] {
        let server = MockServer::start().await;
        mount(wire, &server, false, wire.error(code)).await;

        let result = generate(wire, &server).await;

        assert!(
            matches!(result, Err(LlmError::Unavailable { .. })),
            "{code}: {result:?}"
        );
        assert_eq!(
            received(&server).await.len(),
            attempts,
            "{code}: max_attempts requests"
        );
    }
}

/// The wait the last 429 asked for reaches the caller, who may pass it on.
pub async fn the_last_429s_retry_after_is_reported_when_retries_run_out(wire: &dyn WireFormat) {
    let attempts = Patience::default().retry.max_attempts as usize;
    let server = MockServer::start().await;
    let asked = Duration::from_millis(50);
    mount(wire, &server, false, wire.rate_limited(asked)).await;

    let result = generate(wire, &server).await;

    assert!(
        matches!(&result, Err(LlmError::Unavailable { retry_after, .. }) if *retry_after == Some(asked)),
        "{result:?}"
    );
    assert_eq!(received(&server).await.len(), attempts);
}

/// A 429's asked-for wait is a floor under the backoff.
pub async fn a_429_is_retried_no_sooner_than_its_retry_after(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let log = Arc::clone(&arrivals);
    let first = wire.rate_limited(Duration::from_secs(1));
    let then = ok(wire.reply("at last", stop(wire)));
    mount(wire, &server, false, move |_: &Request| {
        let mut seen = log.lock().expect("lock");
        seen.push(Instant::now());
        if seen.len() == 1 {
            first.clone()
        } else {
            then.clone()
        }
    })
    .await;

    let reply = generate(wire, &server)
        .await
        .expect("the second attempt succeeds");

    assert_eq!(reply.text, "at last");
    let seen = arrivals.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "one retry");
    let gap = seen[1] - seen[0];
    // base_delay is 10 ms, so only an honoured wait explains a 1 s gap.
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, asked for 1s"
    );
}

/// One overloaded answer, then a good one: the caller sees only the good one.
pub async fn a_503_then_a_200_succeeds_on_the_second_attempt(wire: &dyn WireFormat) {
    let server = MockServer::start().await;
    mount_once(wire, &server, false, wire.error(503)).await;
    mount(
        wire,
        &server,
        false,
        ok(wire.reply("recovered", stop(wire))),
    )
    .await;

    let reply = generate(wire, &server).await.expect("reply");

    assert_eq!(reply.text, "recovered");
    assert_eq!(received(&server).await.len(), 2);
}
