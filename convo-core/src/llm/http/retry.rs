//! Retries: exponential backoff with full jitter, bounded by a deadline, and
//! the `Retry-After` header that asks for a wait.

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
    /// The longest wait, including one the provider asked for (`retryDelay`,
    /// `Retry-After`).
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

/// The wait an HTTP response asks for: `retry-after-ms` (OpenAI's, more
/// precise), else `Retry-After` as seconds or as an HTTP date. A date in the
/// past is no wait; anything unreadable is no request at all.
#[cfg_attr(not(feature = "openai"), allow(dead_code))]
pub fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|t| t.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms.min(86_400_000.0) / 1000.0));
        }
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
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

    fn headers(pairs: &[(&'static str, &str)]) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("a header value"));
        }
        map
    }

    #[test]
    fn retry_after_is_read_as_seconds_milliseconds_or_a_date() {
        let cases = [
            (vec![("retry-after", "7")], Some(Duration::from_secs(7))),
            (
                vec![("retry-after", "0.5")],
                Some(Duration::from_millis(500)),
            ),
            (
                vec![("retry-after", "20"), ("retry-after-ms", "1500")],
                Some(Duration::from_millis(1500)),
            ),
            (
                vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                Some(Duration::ZERO),
            ),
            (vec![("retry-after", "soon")], None),
            (vec![("retry-after", "-3")], None),
            (vec![], None),
        ];
        for (pairs, expected) in cases {
            assert_eq!(retry_after_header(&headers(&pairs)), expected, "{pairs:?}");
        }
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = retry_after_header(&headers(&[("retry-after", &later)])).expect("a date");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }
}
