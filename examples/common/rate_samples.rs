//! The overview's live rates at their source: once a second every service samples its own
//! metrics recorder (the counter [`metric::FIREHOSE_EVENTS`], per event type) and publishes
//! the totals on `switchboard.rates.<service>`, for the gateway to turn into per-second rates.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use switchboard_core::{DynPublisher, Envelope, Publisher, Subject, metric};

use super::{prometheus, shutdown::Shutdown};

/// The subjects samples go to: `switchboard.rates.<service>`.
pub(crate) const RATES_PREFIX: &str = "switchboard.rates";
/// How often a service samples.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One process's counter totals at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sample {
    /// This run of the process (services of one name may run several times, and restart).
    pub(crate) instance: String,
    /// `switchboard_firehose_events_total` by `type`, since the process started.
    pub(crate) totals: BTreeMap<String, u64>,
}

/// The totals of [`metric::FIREHOSE_EVENTS`] per `type` in Prometheus text.
pub(crate) fn totals(text: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{}{{", metric::FIREHOSE_EVENTS);
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (labels, value) = rest.rsplit_once("} ")?;
            let kind = labels.split(',').find_map(|label| {
                label
                    .strip_prefix("type=\"")
                    .and_then(|v| v.strip_suffix('"'))
            })?;
            // Counters render as integers, or as floats past 2^53.
            let value = value.trim().parse::<f64>().ok()?;
            Some((kind.to_owned(), value as u64))
        })
        .collect()
}

/// Samples this process's recorder every [`SAMPLE_EVERY`] and publishes it for `service`,
/// until shutdown. Start it once per process.
pub(crate) fn spawn_sampler(service: &str, publisher: DynPublisher, shutdown: Shutdown) {
    let subject = Subject::new(format!("{RATES_PREFIX}.{service}"))
        .expect("service names are subject tokens");
    let instance = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.wait() => break,
            }
            let sample = Sample {
                instance: instance.clone(),
                totals: totals(&prometheus::handle().render()),
            };
            if let Ok(msg) = Envelope::json(subject.clone(), &sample)
                && let Err(err) = publisher.publish(msg).await
            {
                tracing::debug!(error = %err, "rate sample not published");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_read_the_counter_per_type_and_nothing_else() {
        let text = "# HELP switchboard_firehose_events_total events\n\
                    # TYPE switchboard_firehose_events_total counter\n\
                    switchboard_firehose_events_total{type=\"kafka\"} 12\n\
                    switchboard_firehose_events_total{type=\"redis\"} 3\n\
                    switchboard_firehose_dropped_total 7\n\
                    switchboard_messages_published_total{flow=\"log\",backend=\"kafka\"} 9\n";
        let totals = totals(text);
        assert_eq!(
            totals,
            [("kafka".to_owned(), 12), ("redis".to_owned(), 3)].into()
        );
    }
}
