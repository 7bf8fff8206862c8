//! What an engine knows of its running turns: their metrics handles, the
//! registry through which a local cancel reaches them, and their deadlines;
//! and how a turn awaits its work while keeping its lease.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::lock::TurnLock;
use super::{Raced, TurnEvent};

use crate::domain::SessionId;
use crate::engine::Convo;

/// The metrics handles of this engine's turns, made once: building a
/// labelled key and looking it up in the registry per turn was a visible
/// share of a send.
pub(crate) struct TurnMetrics {
    pub(super) calls: [metrics::Counter; 7],
    pub(super) duration: metrics::Histogram,
    pub(super) prompt_tokens: metrics::Counter,
    pub(super) completion_tokens: metrics::Counter,
}

/// The `outcome` label of each index of [`TurnMetrics::calls`].
const OUTCOMES: [&str; 7] = [
    "ok",
    "cancelled",
    "unavailable",
    "timeout",
    "blocked",
    "provider_error",
    "other_error",
];

impl TurnMetrics {
    fn new(provider: &str) -> Self {
        let provider = provider.to_owned();
        Self {
            calls: OUTCOMES.map(|outcome| {
                metrics::counter!("convo_llm_calls_total", "provider" => provider.clone(), "outcome" => outcome)
            }),
            duration: metrics::histogram!("convo_llm_call_duration_seconds", "provider" => provider.clone()),
            prompt_tokens: metrics::counter!("convo_llm_tokens_total", "provider" => provider.clone(), "kind" => "prompt"),
            completion_tokens: metrics::counter!("convo_llm_tokens_total", "provider" => provider, "kind" => "completion"),
        }
    }
}

/// A turn registered as running in this engine; unregistered on drop.
pub(super) struct Running {
    pub(super) engine: Convo,
    pub(super) session: SessionId,
    pub(super) cancel: Arc<tokio::sync::Notify>,
    /// When the lease is next renewed, and the store next asked for a
    /// cancel request: kept across the turn's awaits, so a model that
    /// streams faster than either period still gets both.
    pub(super) next_renewal: Deadline,
    pub(super) next_poll: Deadline,
    /// When the turn's time is up ([`Settings::turn_timeout`](crate::Settings)):
    /// one deadline over all its model calls and tool rounds.
    pub(super) deadline: tokio::time::Instant,
}

impl Running {
    /// The time left before the turn's deadline (zero once it has passed).
    pub(super) fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }
}

/// An instant shared by reference across a task's awaits (uncontended).
pub(super) struct Deadline(std::sync::Mutex<tokio::time::Instant>);

impl Deadline {
    pub(super) fn new(at: tokio::time::Instant) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    pub(super) fn get(&self) -> tokio::time::Instant {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn set(&self, at: tokio::time::Instant) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.engine.running_turns();
        // Only our own entry: a later turn of the session may have replaced it.
        if running
            .get(&self.session)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cancel))
        {
            running.remove(&self.session);
        }
    }
}

impl Convo {
    pub(super) fn running_turns(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<SessionId, Arc<tokio::sync::Notify>>>
    {
        // The map is only ever inserted into and removed from: a panic
        // elsewhere cannot leave it inconsistent.
        self.shared
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This engine's turn metrics, made on first use (after the embedding
    /// program installed its metrics recorder, if it has one).
    pub(super) fn turn_metrics(&self) -> &TurnMetrics {
        self.shared
            .turn_metrics
            .get_or_init(|| TurnMetrics::new(self.llm().name()))
    }

    /// Registers a running turn for local cancel requests until the guard drops.
    pub(super) fn register_running(&self, session: SessionId) -> Running {
        let cancel = Arc::new(tokio::sync::Notify::new());
        self.running_turns().insert(session, Arc::clone(&cancel));
        let now = tokio::time::Instant::now();
        Running {
            engine: self.clone(),
            session,
            cancel,
            next_renewal: Deadline::new(now + self.renewal_period()),
            next_poll: Deadline::new(now + self.poll_period()),
            deadline: now + self.settings().turn_timeout,
        }
    }

    /// How often a running turn renews its lease: a third of it.
    pub(super) fn renewal_period(&self) -> Duration {
        (self.settings().turn_lease / 3).max(Duration::from_millis(10))
    }

    /// How often a running turn asks the store for a cancel request.
    pub(super) fn poll_period(&self) -> Duration {
        self.settings().cancel_poll.max(Duration::from_millis(10))
    }

    /// Awaits `work` while renewing the turn lock's lease; stops waiting when
    /// the turn is cancelled (here, or through the store by another engine),
    /// when its deadline passes, or, with `consumer`, when the consumer goes
    /// away.
    pub(super) async fn keep_lease<F: Future>(
        &self,
        lock: &TurnLock,
        running: &Running,
        consumer: Option<&mpsc::Sender<TurnEvent>>,
        work: F,
    ) -> Raced<F::Output> {
        self.race(lock, running, consumer, true, work).await
    }

    /// [`keep_lease`](Self::keep_lease), with the deadline only when
    /// `timed`: a tool round is not cut by it, since each of its tools has
    /// its own timeout cut to the turn's time left, and that says which
    /// tool ran out of it.
    pub(super) async fn race<F: Future>(
        &self,
        lock: &TurnLock,
        running: &Running,
        consumer: Option<&mpsc::Sender<TurnEvent>>,
        timed: bool,
        work: F,
    ) -> Raced<F::Output> {
        let gone = async {
            match consumer {
                Some(tx) => tx.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(work, gone);
        loop {
            tokio::select! {
                output = &mut work => return Raced::Done(output),
                () = &mut gone => return Raced::Cancelled,
                () = running.cancel.notified() => return Raced::Cancelled,
                () = tokio::time::sleep_until(running.deadline), if timed => return Raced::TimedOut,
                () = tokio::time::sleep_until(running.next_renewal.get()) => {
                    running.next_renewal.set(tokio::time::Instant::now() + self.renewal_period());
                    lock.renew().await;
                }
                () = tokio::time::sleep_until(running.next_poll.get()) => {
                    running.next_poll.set(tokio::time::Instant::now() + self.poll_period());
                    if lock.cancel_requested().await {
                        return Raced::Cancelled;
                    }
                }
            }
        }
    }
}
