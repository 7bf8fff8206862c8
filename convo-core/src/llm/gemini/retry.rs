//! Retries: exponential backoff with full jitter, bounded by a deadline.

use std::time::Duration;

use tokio::time::Instant;

use crate::llm::LlmError;

/// When and how often to try again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Backoff base: attempt n waits a random time in `[0, base * 2^(n-1)]`.
    pub base_delay: Duration,
    /// The longest wait, including a provider's `retryDelay`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Whether an error that happened before any byte of the answer is worth retrying:
/// rate limits, overload and broken connections, not bad requests or timeouts
/// (a timeout has used up the time a retry would need).
pub fn is_retryable(err: &LlmError) -> bool {
    matches!(err, LlmError::Unavailable { .. })
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` after `err` on attempt
    /// `attempt` (1-based), or `None` to give up: out of attempts, not
    /// retryable, or the wait would pass `deadline`.
    pub fn next_delay(&self, attempt: u32, err: &LlmError, deadline: Instant) -> Option<Duration> {
        if attempt >= self.max_attempts || !is_retryable(err) {
            return None;
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(rand::random::<f64>());
        let asked = match err {
            LlmError::Unavailable {
                retry_after: Some(d),
                ..
            } => (*d).min(self.max_delay),
            _ => Duration::ZERO,
        };
        let wait = jittered.max(asked);
        (Instant::now() + wait < deadline).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(retry_after: Option<Duration>) -> LlmError {
        LlmError::Unavailable {
            message: "busy".into(),
            retry_after,
        }
    }

    #[test]
    fn gives_up_after_the_last_attempt_and_on_non_retryable_errors() {
        let policy = RetryPolicy::default();
        let far = Instant::now() + Duration::from_secs(600);
        assert!(policy.next_delay(1, &unavailable(None), far).is_some());
        assert!(policy.next_delay(2, &unavailable(None), far).is_some());
        assert!(
            policy.next_delay(3, &unavailable(None), far).is_none(),
            "3 attempts in all"
        );
        assert!(policy
            .next_delay(1, &LlmError::Provider("400".into()), far)
            .is_none());
        assert!(policy.next_delay(1, &LlmError::Timeout, far).is_none());
    }

    #[test]
    fn waits_are_jittered_below_an_exponential_ceiling() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let far = Instant::now() + Duration::from_secs(600);
        for attempt in 1..=6 {
            let ceiling =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            for _ in 0..50 {
                let wait = policy
                    .next_delay(attempt, &unavailable(None), far)
                    .expect("retry");
                assert!(wait <= ceiling, "attempt {attempt}: {wait:?} > {ceiling:?}");
            }
        }
    }

    #[test]
    fn a_providers_retry_delay_is_honoured_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let far = Instant::now() + Duration::from_secs(600);
        let wait = policy
            .next_delay(1, &unavailable(Some(Duration::from_secs(2))), far)
            .expect("retry");
        assert!(wait >= Duration::from_secs(2));
        let capped = policy
            .next_delay(1, &unavailable(Some(Duration::from_secs(3600))), far)
            .expect("retry");
        assert_eq!(capped, Duration::from_secs(10));
    }

    #[test]
    fn a_wait_past_the_deadline_gives_up_early() {
        let policy = RetryPolicy::default();
        let soon = Instant::now() + Duration::from_secs(1);
        assert!(policy
            .next_delay(1, &unavailable(Some(Duration::from_secs(5))), soon)
            .is_none());
    }
}
