//! Live per-flow rates for the overview: every firehose event (from any service) counts for its
//! flow, in one-second buckets over the last 30 seconds, drawn as a sparkline per flow.

use std::{
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use futures::StreamExt;
use switchboard_core::{FIREHOSE_SUBJECT, FirehoseEvent, Pattern, Subscriber};
use switchboard_flows::Flow;

use crate::common::{backends::Backends, shutdown::Shutdown};

/// How many seconds a sparkline spans.
pub(crate) const SECONDS: usize = 30;

/// The flows drawn, in the page's order: (flow, id, label). The firehose line counts them all.
const FLOWS: [(Option<Flow>, &str, &str); 6] = [
    (Some(Flow::Postgres), "postgres", "Postgres"),
    (Some(Flow::Redis), "redis", "Redis"),
    (Some(Flow::Nats), "nats", "NATS"),
    (Some(Flow::Websocket), "websocket", "WebSocket"),
    (Some(Flow::Kafka), "kafka", "Kafka"),
    (None, "firehose", "Firehose (all)"),
];

/// One flow's counts per second, in a ring indexed by the second.
#[derive(Clone, Copy, Default)]
struct Ring {
    counts: [u32; SECONDS],
    seconds: [u64; SECONDS],
}

impl Ring {
    fn record(&mut self, now: u64) {
        let slot = (now % SECONDS as u64) as usize;
        if self.seconds[slot] != now {
            self.seconds[slot] = now;
            self.counts[slot] = 0;
        }
        self.counts[slot] += 1;
    }

    /// The last [`SECONDS`] counts, oldest first.
    fn series(&self, now: u64) -> [u32; SECONDS] {
        std::array::from_fn(|k| {
            let second = (now + 1 + k as u64).saturating_sub(SECONDS as u64);
            let slot = (second % SECONDS as u64) as usize;
            if self.seconds[slot] == second {
                self.counts[slot]
            } else {
                0
            }
        })
    }
}

/// The rates of every flow, shared by the feed and the `/rates` route.
#[derive(Clone, Default)]
pub(crate) struct Rates(Arc<Mutex<[Ring; FLOWS.len()]>>);

/// One flow's line for the template.
pub(crate) struct RateRow {
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
    /// Events in the last [`SECONDS`] seconds.
    pub(crate) total: u32,
    /// The SVG polyline's points (x 0…SECONDS-1, y 0 at the top, 16 at zero).
    pub(crate) points: String,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Rates {
    fn record(&self, kind: &str) {
        let flow = Flow::ALL.into_iter().find(|flow| flow.as_str() == kind);
        let now = now();
        let mut rings = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (ring, (of, _, _)) in rings.iter_mut().zip(FLOWS) {
            if of.is_none() || of == flow {
                ring.record(now);
            }
        }
    }

    /// Every flow's line, each scaled to its own busiest second.
    pub(crate) fn rows(&self) -> Vec<RateRow> {
        let now = now();
        let rings = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .iter()
            .zip(FLOWS)
            .map(|(ring, (_, id, label))| {
                let counts = ring.series(now);
                let peak = counts.iter().copied().max().unwrap_or(0).max(1);
                let points: Vec<String> = counts
                    .iter()
                    .enumerate()
                    .map(|(x, n)| format!("{x},{}", 16 - n * 16 / peak))
                    .collect();
                RateRow {
                    id,
                    label,
                    total: counts.iter().sum(),
                    points: points.join(" "),
                }
            })
            .collect()
    }
}

/// Subscribes to the firehose, then counts its events into `rates` until shutdown.
pub(crate) async fn start(
    backends: &Backends,
    rates: Rates,
    shutdown: Shutdown,
) -> switchboard_core::Result<()> {
    let events = backends
        .bus
        .subscriber
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT)?)
        .await?;
    tokio::spawn(async move {
        let mut events = std::pin::pin!(events.take_until(shutdown.wait()));
        while let Some(item) = events.next().await {
            if let Ok(event) = item.and_then(|msg| msg.decode_json::<FirehoseEvent>()) {
                rates.record(&event.kind);
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_seconds_and_forgets_older_ones() {
        let mut ring = Ring::default();
        ring.record(100);
        ring.record(100);
        ring.record(129);
        let series = ring.series(129);
        assert_eq!(series[0], 2, "second 100 is the oldest shown");
        assert_eq!(series[SECONDS - 1], 1);
        assert_eq!(
            ring.series(130).iter().sum::<u32>(),
            1,
            "second 100 fell out"
        );
    }
}
