//! Attempts and their backoff: how long a failed row waits before its next attempt, and when
//! it is dead instead.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::after;
use portal_core::error::ServiceResult;

/// `base · 2^(attempts − 1)`, capped at `max`, less a random part of up to `jitter` of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    pub max: Duration,
    /// From 0 (every worker waits the same, the default) to 1 (anywhere between 0 and the
    /// delay): spreads the retries of many rows that failed together.
    pub jitter: f64,
}

impl Backoff {
    /// Doubling from `base` up to `max`, without jitter.
    pub const fn exponential(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: 0.0,
        }
    }

    #[must_use]
    pub const fn with_jitter(self, jitter: f64) -> Self {
        Self { jitter, ..self }
    }

    /// The wait after the `attempts`-th failure: 1 s, 2 s, 4 s … for a base of 1 s.
    pub fn delay(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(31);
        let delay = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return delay;
        }
        delay.mul_f64(1.0 - jitter * rand::random::<f64>())
    }
}

/// How many attempts a row gets and how long it waits between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retries {
    /// Attempts after which the row is dead; `None` retries for ever.
    pub max_attempts: Option<i32>,
    pub backoff: Backoff,
}

/// What a failed attempt leaves: the attempts so far, when the next is due, and whether the
/// row is dead instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub attempts: i32,
    pub retry_at: DateTime<Utc>,
    pub dead: bool,
}

impl Retries {
    /// The failure of attempt number `previous + 1` at `now`; a `permanent` failure (one a
    /// retry would only repeat) is dead at once.
    pub fn failed(
        &self,
        previous: i32,
        permanent: bool,
        now: DateTime<Utc>,
    ) -> ServiceResult<Failure> {
        let attempts = previous.saturating_add(1);
        Ok(Failure {
            attempts,
            retry_at: after(now, self.backoff.delay(attempts))?,
            dead: permanent || self.max_attempts.is_some_and(|max| attempts >= max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_millis(700));
        let delays: Vec<u128> = (1..=5).map(|a| backoff.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700]);
        assert_eq!(backoff.delay(1000), Duration::from_millis(700));
        assert_eq!(backoff.delay(0), Duration::from_millis(100));
    }

    #[test]
    fn jitter_only_shortens_the_delay_and_by_at_most_its_share() {
        let backoff =
            Backoff::exponential(Duration::from_secs(8), Duration::from_secs(60)).with_jitter(0.5);
        for _ in 0..200 {
            let delay = backoff.delay(1);
            assert!(delay <= Duration::from_secs(8), "{delay:?}");
            assert!(delay >= Duration::from_secs(4), "{delay:?}");
        }
    }

    #[test]
    fn a_row_is_dead_after_its_last_attempt_or_at_once_when_the_failure_is_permanent() {
        let now = portal_core::clock::now();
        let retries = Retries {
            max_attempts: Some(3),
            backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(10)),
        };
        let second = retries.failed(1, false, now).expect("in range");
        assert_eq!(second.attempts, 2);
        assert!(!second.dead);
        assert_eq!(second.retry_at, now + chrono::Duration::seconds(2));
        assert!(retries.failed(2, false, now).expect("in range").dead);
        assert!(retries.failed(0, true, now).expect("in range").dead);
        let for_ever = Retries {
            max_attempts: None,
            ..retries
        };
        assert!(!for_ever.failed(1000, false, now).expect("in range").dead);
    }
}
