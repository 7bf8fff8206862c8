//! Cancel requests belong to one lease: they end with it, whether it was
//! released or ran out, and nobody inherits one.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::sleep;

use super::fixtures::Fixture;
use crate::domain::{ChatSession, SessionId};
use crate::store::Store;

/// Long enough that no test outlives it by accident.
const LONG: Duration = Duration::from_secs(30);

async fn lock(store: &dyn Store, session: &ChatSession, holder: &str, lease: Duration) -> bool {
    store
        .try_lock_turn(&session.owner, &session.id, holder, lease)
        .await
        .expect("try_lock_turn must succeed on a stored session")
        .is_some()
}

async fn requested(store: &dyn Store, session: &SessionId, holder: &str) -> bool {
    store
        .turn_cancel_requested(session, holder)
        .await
        .expect("turn_cancel_requested must succeed")
}

/// A turn cancelled while its lease ran, then abandoned (the lease runs
/// out): the next holder starts without the old request.
pub async fn a_new_holder_of_an_expired_lease_starts_without_its_cancel_request(
    store: Arc<dyn Store>,
) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());
    let s = session.id;
    assert!(
        lock(store, session, "a", Duration::from_millis(200)).await,
        "A takes a short lease"
    );
    assert!(
        store.cancel_turn(&s).await.expect("cancel_turn"),
        "cancel_turn marks A's running lease"
    );

    sleep(Duration::from_millis(400)).await;

    assert!(
        lock(store, session, "b", LONG).await,
        "B takes the lock once A's lease has ended"
    );
    assert!(
        !requested(store, &s, "b").await,
        "B must not inherit the cancel request made to A"
    );
}

/// `unlock_turn` ends the lock, not just its lease: the cancel request goes
/// with it, the holder no longer sees it, and the same holder locking again
/// starts a new lock without it.
pub async fn unlocking_ends_the_lock_and_its_cancel_request_even_for_the_same_holder(
    store: Arc<dyn Store>,
) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());
    let s = session.id;
    assert!(lock(store, session, "a", LONG).await, "A takes the lock");
    assert!(
        store.cancel_turn(&s).await.expect("cancel_turn"),
        "cancel_turn marks A's lock"
    );

    store.unlock_turn(&s, "a", None).await.expect("unlock_turn");

    assert!(
        !requested(store, &s, "a").await,
        "after unlocking, A holds nothing, so no request is seen"
    );
    assert!(
        !store.cancel_turn(&s).await.expect("cancel_turn"),
        "after unlocking, no turn is running"
    );
    assert!(lock(store, session, "a", LONG).await, "A locks again");
    assert!(
        !requested(store, &s, "a").await,
        "A's new lock must start without the request made to the released one"
    );
}
