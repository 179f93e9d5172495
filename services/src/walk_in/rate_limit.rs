//! A small in-memory, fixed-window attempt limiter per client address (one per process).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Allows `max` attempts per key in each `window`; the clock is passed in so tests control it.
#[derive(Debug)]
pub struct AttemptLimiter {
    max: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Keys kept before expired windows are swept, so a flood of addresses cannot grow memory forever.
const SWEEP_AT: usize = 10_000;

impl AttemptLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The walk-in result link limit: 20 attempts per client address per 10 minutes.
    pub fn for_result_links() -> Self {
        Self::new(20, Duration::from_secs(600))
    }

    /// Counts one attempt by `key` at `now`; false when the key is over its limit.
    pub fn try_acquire(&self, key: &str, now: Instant) -> bool {
        let mut windows = portal_core::sync::lock(&self.windows);
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_over_the_limit_are_refused_until_the_window_passes() {
        let limiter = AttemptLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.try_acquire("10.0.0.1", t0)));
        assert!(!limiter.try_acquire("10.0.0.1", t0 + Duration::from_secs(59)));
        assert!(
            limiter.try_acquire("10.0.0.2", t0),
            "other addresses are not affected"
        );
        assert!(limiter.try_acquire("10.0.0.1", t0 + Duration::from_secs(60)));
    }
}
