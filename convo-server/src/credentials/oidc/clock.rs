//! The clock the key cache's refresh limit reads: the monotonic clock,
//! which a test can move forward instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic clock that can be moved forward (tests), shared by its clones.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to [`Instant::now`].
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// The time now, as this clock tells it.
    pub fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and its clones) forward by `by`: what a test does
    /// instead of waiting.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
