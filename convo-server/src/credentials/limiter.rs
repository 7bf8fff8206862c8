//! Failed-login limiting: a fixed window per key (e-mail, client address).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use poem::web::RemoteAddr;

/// Counts failures per key; a key with `max` failures in the current window is blocked
/// until the window ends.
#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    window: Duration,
    entries: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Above this many keys, expired ones are swept on the next failure.
const SWEEP_AT: usize = 10_000;

impl FailureLimiter {
    /// `max` failures per `window` per key (`max = 0` disables the limit).
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when any of the keys is blocked.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k))
            .filter(|(start, count)| *count >= self.max && now < *start + self.window)
            .map(|(start, _)| *start + self.window - now)
            .max();
        wait.map_or(Ok(()), Err)
    }

    /// Counts one failure against each key.
    pub fn record_failure(&self, keys: &[String]) {
        if self.max == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if entries.len() > SWEEP_AT {
            entries.retain(|_, (start, _)| now < *start + self.window);
        }
        for key in keys {
            let entry = entries.entry(key.clone()).or_insert((now, 0));
            if now >= entry.0 + self.window {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    /// Forgets a key's failures (after a successful login).
    pub fn clear(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

/// The client's address as the failure limits key it: the peer's IP
/// (any port), or the address's text when it is not a socket address.
pub fn client_address(remote: &RemoteAddr) -> String {
    remote
        .as_socket_addr()
        .map_or_else(|| remote.to_string(), |a| a.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let limiter = FailureLimiter::new(3, Duration::from_millis(200));
        let keys = vec!["email:a".to_owned(), "ip:1".to_owned()];
        for _ in 0..3 {
            assert!(limiter.check(&keys).is_ok());
            limiter.record_failure(&keys);
        }
        let wait = limiter.check(&keys).expect_err("blocked");
        assert!(wait <= Duration::from_millis(200));
        assert!(
            limiter.check(&["email:b".to_owned()]).is_ok(),
            "other keys are free"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.check(&keys).is_ok(), "the window ended");
    }

    #[test]
    fn clearing_a_key_unblocks_it() {
        let limiter = FailureLimiter::new(1, Duration::from_secs(60));
        limiter.record_failure(&["email:a".to_owned()]);
        assert!(limiter.check(&["email:a".to_owned()]).is_err());
        limiter.clear("email:a");
        assert!(limiter.check(&["email:a".to_owned()]).is_ok());
    }
}
