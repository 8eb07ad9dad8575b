//! Latency percentiles of one round.

use std::time::Duration;

/// The latencies one round recorded, in any order.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Room for `n` latencies.
    pub fn with_capacity(n: usize) -> Self {
        Latencies(Vec::with_capacity(n))
    }

    /// Records one latency.
    pub fn push(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    /// The `p`-th percentile (0–100) in microseconds; 0 when nothing was recorded.
    pub fn percentile_us(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank.min(self.0.len() - 1)].as_secs_f64() * 1e6
    }
}
