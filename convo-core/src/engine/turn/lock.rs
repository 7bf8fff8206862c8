//! A session's turn lock: a lease in the store, renewed while the turn
//! runs, released on every path.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{ChatSession, SessionId, UsageRecord, UserId};
use crate::error::ConvoError;
use crate::store::Store;

/// A session's turn lock, held by one turn.
///
/// Release it with [`release`](Self::release). If it is dropped unreleased
/// (a panic), a task releases it. A release the store refuses (it is down)
/// is retried in the background until it succeeds or the lease would have
/// run out anyway, so a database outage does not leave sessions locked for a
/// whole lease after it ends.
pub(super) struct TurnLock {
    pub(super) store: Arc<dyn Store>,
    pub(super) owner: UserId,
    pub(super) session: SessionId,
    pub(super) holder: String,
    pub(super) lease: Duration,
    pub(super) held: bool,
}

impl TurnLock {
    /// Takes the lock of the owner's session, and returns the session as
    /// it stands under it: the ownership check and the session read are
    /// the lock's own round trip. Someone else's session is
    /// [`ConvoError::NotFound`].
    pub(super) async fn acquire(
        store: &Arc<dyn Store>,
        owner: &UserId,
        session: SessionId,
        lease: Duration,
    ) -> Result<(Self, ChatSession), ConvoError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let taken = match store.try_lock_turn(owner, &session, &holder, lease).await {
            Ok(taken) => taken,
            Err(crate::store::StoreError::NotFound(_)) => {
                return Err(ConvoError::NotFound("chat session"))
            }
            Err(e) => {
                // The answer was lost, not necessarily the write: the lock
                // may be ours now. Release it in the background, or it would
                // stay held for a whole lease (found by the database-outage
                // test under load).
                spawn_release(Arc::clone(store), session, holder, lease, None);
                return Err(e.into());
            }
        };
        let Some(current) = taken else {
            metrics::counter!("convo_turn_lock_conflicts_total").increment(1);
            return Err(ConvoError::TurnInProgress);
        };
        let lock = Self {
            store: Arc::clone(store),
            owner: *owner,
            session,
            holder,
            lease,
            held: true,
        };
        Ok((lock, current))
    }

    /// Extends the lease; a failure is logged, not fatal (the lease may still hold).
    pub(super) async fn renew(&self) {
        match self
            .store
            .try_lock_turn(&self.owner, &self.session, &self.holder, self.lease)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::warn!(session = %self.session, "turn lock lease expired and was taken by another turn")
            }
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not renew the turn lock lease")
            }
        }
    }

    /// Whether someone asked this turn to stop through the store; a store
    /// failure reads as no (the turn goes on; the next poll asks again).
    pub(super) async fn cancel_requested(&self) -> bool {
        match self
            .store
            .turn_cancel_requested(&self.session, &self.holder)
            .await
        {
            Ok(requested) => requested,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not check for a cancel request");
                false
            }
        }
    }

    /// Ends the turn's hold: releases with `usage` as
    /// [`release_with`](Self::release_with) does, unless `done` says a
    /// store call already released it along with another write
    /// ([`Store::append_and_unlock`], the usage entry with it).
    pub(super) async fn finish(mut self, done: bool, usage: Option<UsageRecord>) {
        if done {
            self.held = false;
            return;
        }
        self.release_with(usage).await;
    }

    pub(super) async fn release(self) {
        self.release_with(None).await;
    }

    /// Releases the lock and, in the same store call, records the turn's
    /// last model call in the usage ledger (one round trip instead of two).
    pub(super) async fn release_with(mut self, usage: Option<UsageRecord>) {
        self.held = false;
        if let Err(e) = self
            .store
            .unlock_turn(&self.session, &self.holder, usage.as_ref())
            .await
        {
            tracing::warn!(session = %self.session, error = %e, "could not release the turn lock; retrying in the background");
            spawn_release(
                Arc::clone(&self.store),
                self.session,
                std::mem::take(&mut self.holder),
                self.lease,
                usage,
            );
        }
    }
}

/// Releases a turn lock (recording `usage` with it) from a task of its own,
/// retrying with backoff while the store fails, for at most `lease` (after
/// which it has expired anyway; the usage is then logged as lost).
pub(super) fn spawn_release(
    store: Arc<dyn Store>,
    session: SessionId,
    holder: String,
    lease: Duration,
    usage: Option<UsageRecord>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return; // no runtime: the lease runs out
    };
    runtime.spawn(async move {
        let deadline = tokio::time::Instant::now() + lease;
        let mut pause = Duration::from_millis(100);
        loop {
            match store.unlock_turn(&session, &holder, usage.as_ref()).await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() + pause >= deadline => {
                    tracing::warn!(%session, error = %e, "could not release the turn lock; its lease will expire");
                    if usage.is_some() {
                        tracing::warn!(%session, "could not record the turn's usage");
                    }
                    return;
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    });
}

impl Drop for TurnLock {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        spawn_release(
            Arc::clone(&self.store),
            self.session,
            std::mem::take(&mut self.holder),
            self.lease,
            None,
        );
    }
}
