//! Live per-flow rates for the overview, fed by the services' metrics: every service samples
//! its `switchboard_firehose_events_total` counters each second
//! ([`rate_samples`](crate::common::rate_samples)); the increase since that service's previous
//! sample counts for each flow in the second it arrived, in one-second buckets over the last
//! 30 seconds, drawn as a sparkline per flow.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use futures::StreamExt;
use switchboard_core::{Pattern, Subscriber};
use switchboard_flows::Flow;

use crate::common::{
    backends::Backends,
    rate_samples::{RATES_PREFIX, Sample},
    shutdown::Shutdown,
};

/// A service instance not heard from for this many seconds is forgotten.
const FORGET_AFTER: u64 = 60;

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
    fn add(&mut self, now: u64, n: u32) {
        let slot = (now % SECONDS as u64) as usize;
        if self.seconds[slot] != now {
            self.seconds[slot] = now;
            self.counts[slot] = 0;
        }
        self.counts[slot] = self.counts[slot].saturating_add(n);
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

#[derive(Default)]
struct State {
    rings: [Ring; FLOWS.len()],
    /// Each service instance's last totals, and when they came.
    last: HashMap<String, (BTreeMap<String, u64>, u64)>,
}

/// The rates of every flow, shared by the feed and the `/rates` route.
#[derive(Clone, Default)]
pub(crate) struct Rates(Arc<Mutex<State>>);

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
    /// Counts what `sample` says its service did since its previous sample. An instance's
    /// first sample is where it starts from.
    fn record(&self, sample: Sample, now: u64) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        state
            .last
            .retain(|_, (_, seen)| now.saturating_sub(*seen) < FORGET_AFTER);
        let previous = state
            .last
            .insert(sample.instance, (sample.totals.clone(), now));
        let Some((previous, _)) = previous else {
            return;
        };
        for (kind, total) in &sample.totals {
            let grown = total.saturating_sub(previous.get(kind).copied().unwrap_or(0));
            if grown == 0 {
                continue;
            }
            let grown = u32::try_from(grown).unwrap_or(u32::MAX);
            let flow = Flow::ALL.into_iter().find(|flow| flow.as_str() == kind);
            for (ring, (of, _, _)) in state.rings.iter_mut().zip(FLOWS) {
                if of.is_none() || of == flow {
                    ring.add(now, grown);
                }
            }
        }
    }

    /// Every flow's line, each scaled to its own busiest second.
    pub(crate) fn rows(&self) -> Vec<RateRow> {
        let now = now();
        let rings = self.0.lock().unwrap_or_else(|e| e.into_inner()).rings;
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

/// Subscribes to every service's rate samples, then counts them into `rates` until shutdown.
pub(crate) async fn start(
    backends: &Backends,
    rates: Rates,
    shutdown: Shutdown,
) -> switchboard_core::Result<()> {
    let samples = backends
        .bus
        .subscriber
        .subscribe(&Pattern::new(format!("{RATES_PREFIX}.*"))?)
        .await?;
    tokio::spawn(async move {
        let mut samples = std::pin::pin!(samples.take_until(shutdown.wait()));
        while let Some(item) = samples.next().await {
            if let Ok(sample) = item.and_then(|msg| msg.decode_json::<Sample>()) {
                rates.record(sample, now());
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(instance: &str, kafka: u64) -> Sample {
        Sample {
            instance: instance.to_owned(),
            totals: [("kafka".to_owned(), kafka)].into(),
        }
    }

    #[test]
    fn each_instance_counts_its_increase_from_its_first_sample() {
        let rates = Rates::default();
        rates.record(sample("a", 40), 100);
        rates.record(sample("b", 7), 100);
        rates.record(sample("a", 43), 101);
        rates.record(sample("b", 9), 101);
        rates.record(sample("a", 43), 102);
        let state = rates.0.lock().unwrap();
        let kafka = state.rings[4].series(102);
        assert_eq!(
            kafka[SECONDS - 3..],
            [0, 5, 0],
            "first samples are the baseline"
        );
        assert_eq!(
            state.rings[5].series(102)[SECONDS - 2],
            5,
            "the firehose line"
        );
        assert_eq!(state.rings[0].series(102).iter().sum::<u32>(), 0);
    }

    #[test]
    fn ring_keeps_the_last_seconds_and_forgets_older_ones() {
        let mut ring = Ring::default();
        ring.add(100, 2);
        ring.add(129, 1);
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
