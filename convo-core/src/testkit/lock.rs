//! The per-session turn lock: one holder at a time, with a lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;
use tokio::time::sleep;

use super::fixtures::Fixture;
use crate::domain::ChatSession;
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

async fn unlock(store: &dyn Store, session: &ChatSession, holder: &str) {
    store
        .unlock_turn(&session.id, holder, None)
        .await
        .expect("unlock_turn must succeed on a stored session");
}

/// A takes the lock, B is refused, A may take it again, and once A unlocks B gets it.
pub async fn the_turn_lock_admits_one_holder_at_a_time(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());

    assert!(
        lock(store, session, "a", LONG).await,
        "the first try_lock_turn on a free session must succeed"
    );
    assert!(
        !lock(store, session, "b", LONG).await,
        "try_lock_turn by B while A holds the lock must be refused"
    );
    assert!(
        lock(store, session, "a", LONG).await,
        "try_lock_turn by the holder A must succeed again (extending it)"
    );
    assert!(
        !lock(store, session, "b", LONG).await,
        "B must still be refused after A extended the lock"
    );
    unlock(store, session, "a").await;
    assert!(
        lock(store, session, "b", LONG).await,
        "after A unlocks, B must get the lock"
    );
    assert!(
        !lock(store, session, "a", LONG).await,
        "A must be refused while B holds the lock"
    );
}

/// Taking the lock again pushes its expiry to now + the new lease.
pub async fn relocking_extends_the_holders_lease(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());
    assert!(
        lock(store, session, "a", Duration::from_millis(300)).await,
        "the first try_lock_turn must succeed"
    );
    sleep(Duration::from_millis(100)).await;

    assert!(
        lock(store, session, "a", LONG).await,
        "the holder must be able to extend its lock"
    );
    sleep(Duration::from_millis(400)).await;

    assert!(
        !lock(store, session, "b", LONG).await,
        "B must be refused after the first lease ended, as A extended it"
    );
}

/// `unlock_turn` by someone who does not hold the lock leaves it in place.
pub async fn unlocking_by_a_non_holder_does_nothing(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());
    unlock(store, session, "nobody").await;
    assert!(
        lock(store, session, "a", LONG).await,
        "try_lock_turn must succeed after a no-op unlock of a free session"
    );

    unlock(store, session, "b").await;

    assert!(
        !lock(store, session, "b", LONG).await,
        "B's unlock_turn must not release A's lock, so B is still refused"
    );
    assert!(
        !lock(store, session, "c", LONG).await,
        "B's unlock_turn must not release A's lock, so C is refused"
    );
    assert!(
        lock(store, session, "a", LONG).await,
        "A must still hold the lock"
    );
}

/// Once a lease ends, another holder may take the lock.
pub async fn an_expired_turn_lock_can_be_taken_by_another_holder(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());
    assert!(
        lock(store, session, "a", Duration::from_millis(200)).await,
        "the first try_lock_turn must succeed"
    );
    assert!(
        !lock(store, session, "b", LONG).await,
        "B must be refused while A's 200 ms lease runs"
    );

    sleep(Duration::from_millis(400)).await;

    assert!(
        lock(store, session, "b", LONG).await,
        "B must get the lock once A's 200 ms lease has ended"
    );
    assert!(
        !lock(store, session, "a", LONG).await,
        "A must now be refused: B holds the lock"
    );
}

/// Holding one session's lock does not block another session.
pub async fn turn_locks_are_per_session(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let other = f.insert_session(store.as_ref()).await;
    let store = store.as_ref();

    assert!(
        lock(store, &f.session, "a", LONG).await,
        "A must lock the first session"
    );
    assert!(
        lock(store, &other, "b", LONG).await,
        "B must lock another session while A holds the first"
    );
    unlock(store, &f.session, "b").await;
    assert!(
        !lock(store, &f.session, "b", LONG).await,
        "B's lock on another session gives no rights here"
    );
}

/// Of 20 holders racing for a free lock, exactly one gets it.
pub async fn exactly_one_of_twenty_concurrent_lockers_gets_the_turn(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (owner, session) = (f.user.id, f.session.id);
    let start = Arc::new(Barrier::new(20));

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                store
                    .try_lock_turn(&owner, &session, &format!("holder-{i}"), LONG)
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        let won = task
            .await
            .expect("the lock task must not panic")
            .expect("a concurrent try_lock_turn must succeed");
        winners += usize::from(won.is_some());
    }

    assert_eq!(
        winners, 1,
        "exactly one of 20 concurrent try_lock_turn calls must win"
    );
}

/// `cancel_turn` marks the held lock; only its holder sees the request; a
/// renewal keeps it; unlocking clears it, and the next holder starts clean.
pub async fn a_cancel_request_reaches_the_holder_and_ends_with_its_lock(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());
    let s = session.id;
    assert!(lock(store, session, "a", LONG).await, "A takes the lock");
    assert!(
        !store
            .turn_cancel_requested(&s, "a")
            .await
            .expect("turn_cancel_requested"),
        "a fresh lock has no cancel request"
    );
    assert!(
        store.cancel_turn(&s).await.expect("cancel_turn"),
        "cancel_turn reports that a turn was running"
    );
    assert!(
        store
            .turn_cancel_requested(&s, "a")
            .await
            .expect("turn_cancel_requested"),
        "the holder sees the request"
    );
    assert!(
        !store
            .turn_cancel_requested(&s, "b")
            .await
            .expect("turn_cancel_requested"),
        "a non-holder does not"
    );
    assert!(lock(store, session, "a", LONG).await, "A renews its lease");
    assert!(
        store
            .turn_cancel_requested(&s, "a")
            .await
            .expect("turn_cancel_requested"),
        "a renewal keeps the request"
    );
    unlock(store, session, "a").await;
    assert!(
        lock(store, session, "b", LONG).await,
        "B takes the lock next"
    );
    assert!(
        !store
            .turn_cancel_requested(&s, "b")
            .await
            .expect("turn_cancel_requested"),
        "the next holder starts without the old request"
    );
}

/// Cancelling with no lock held, or after the lease ran out, reports that no
/// turn was running and leaves nothing behind for the next holder.
pub async fn cancelling_a_free_session_reports_no_turn(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let (session, store) = (&f.session, store.as_ref());
    let s = session.id;
    assert!(
        !store.cancel_turn(&s).await.expect("cancel_turn"),
        "no turn is running on a fresh session"
    );
    assert!(
        lock(store, session, "a", Duration::from_millis(200)).await,
        "A takes a short lease"
    );
    sleep(Duration::from_millis(400)).await;
    assert!(
        !store.cancel_turn(&s).await.expect("cancel_turn"),
        "an expired lease is no running turn"
    );
    assert!(
        lock(store, session, "b", LONG).await,
        "B takes the expired lock"
    );
    assert!(
        !store
            .turn_cancel_requested(&s, "b")
            .await
            .expect("turn_cancel_requested"),
        "and starts without a request"
    );
}
