//! What a session that does not exist (never stored, or deleted) answers.
//!
//! Its window is empty, as a deleted session's is; calls that
//! would change it are `NotFound`; releasing and asking about a lock nobody
//! can hold are harmless no-ops.

use std::sync::Arc;
use std::time::Duration;

use super::fixtures::assert_not_found;
use crate::domain::{Order, PageRequest, SessionId, UserId};
use crate::store::Store;

/// `last_messages` of a missing session is empty, not an error;
/// `messages`, which checks the owner, is `NotFound`.
pub async fn a_missing_sessions_window_is_empty_and_its_messages_not_found(store: Arc<dyn Store>) {
    let missing = SessionId::new();

    let last = store
        .last_messages(&missing, 10)
        .await
        .expect("last_messages of a missing session must succeed");
    let page = store
        .messages(
            &UserId::new(),
            &missing,
            &PageRequest::first(10, Order::Asc),
        )
        .await;

    assert!(last.is_empty(), "last_messages must be empty, got {last:?}");
    assert_not_found(page, "messages of a missing session");
}

/// On a missing session `try_lock_turn` and `cancel_turn` are `NotFound`,
/// `unlock_turn` does nothing, and no cancel is requested.
pub async fn the_turn_lock_of_a_missing_session_is_not_found(store: Arc<dyn Store>) {
    let missing = SessionId::new();

    assert_not_found(
        store
            .try_lock_turn(&UserId::new(), &missing, "a", Duration::from_secs(30))
            .await,
        "try_lock_turn on a missing session",
    );
    assert_not_found(
        store.cancel_turn(&missing).await,
        "cancel_turn on a missing session",
    );
    store
        .unlock_turn(&missing, "a", None)
        .await
        .expect("unlock_turn on a missing session must be a no-op");
    assert!(
        !store
            .turn_cancel_requested(&missing, "a")
            .await
            .expect("turn_cancel_requested on a missing session must succeed"),
        "no cancel is requested on a missing session"
    );
}
