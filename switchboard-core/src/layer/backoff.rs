use std::{
    hash::{BuildHasher, RandomState},
    time::Duration,
};

/// Exponential backoff with jitter: the delay before retry `n` (0-based) is about
/// `base * 2^n`, capped at a maximum, half fixed and half random ("equal jitter"), so that
/// many clients failing together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max_delay: Duration,
}

impl Backoff {
    /// The first delay about `base`, doubling each time, capped at 30 seconds.
    pub fn new(base: Duration) -> Self {
        Backoff {
            base,
            max_delay: Duration::from_secs(30),
        }
    }

    /// Caps the delay.
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The delay before retry number `retry` (0-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_delay);
        let half = exp / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 {
            0
        } else {
            RandomState::new().hash_one(retry) % nanos
        };
        half + Duration::from_nanos(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_is_capped() {
        let backoff =
            Backoff::new(Duration::from_millis(100)).with_max_delay(Duration::from_secs(1));
        for retry in 0..10 {
            let expected = Duration::from_millis(100 * (1 << retry)).min(Duration::from_secs(1));
            let delay = backoff.delay(retry);
            assert!(
                delay >= expected / 2 && delay <= expected,
                "retry {retry}: {delay:?}"
            );
        }
    }
}
