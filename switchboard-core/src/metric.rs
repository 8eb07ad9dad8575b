//! The metrics every Switchboard crate records, through the [`metrics`] facade.
//!
//! The libraries never install a recorder or exporter: without one, recording costs a no-op
//! call. An application installs any `metrics` recorder (the demo services export Prometheus
//! text at `GET /metrics`). [`CATALOGUE`] lists every metric with its labels and meaning;
//! docs/operations.md is checked against it.

/// Where a metric's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution of observations.
    Histogram,
}

/// One metric: its name, kind, labels and meaning.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// The name, as exported.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The label names.
    pub labels: &'static [&'static str],
    /// What it measures.
    pub help: &'static str,
}

/// Messages handed to a backend: published, appended or sent as requests.
pub const PUBLISHED: &str = "switchboard_messages_published_total";
/// Messages delivered to a subscriber or consumer.
pub const DELIVERED: &str = "switchboard_messages_delivered_total";
/// Deliveries acknowledged.
pub const ACKED: &str = "switchboard_messages_acked_total";
/// Deliveries nacked (or dropped unsettled, which counts as a nack).
pub const NACKED: &str = "switchboard_messages_nacked_total";
/// Deliveries that were a redelivery (attempt 2 or later).
pub const REDELIVERED: &str = "switchboard_messages_redelivered_total";
/// Messages a lagging subscriber missed.
pub const DROPPED: &str = "switchboard_messages_dropped_total";
/// Round-trip time of answered requests.
pub const REQUEST_DURATION: &str = "switchboard_request_duration_seconds";
/// Records of a partition not yet delivered to this group member.
pub const CONSUMER_LAG: &str = "switchboard_consumer_lag";
/// WebSocket clients connected to a hub.
pub const HUB_CLIENTS: &str = "switchboard_hub_clients";
/// Hub clients disconnected for being too slow.
pub const HUB_SLOW_DISCONNECTS: &str = "switchboard_hub_slow_disconnects_total";
/// Firehose events dropped.
pub const FIREHOSE_DROPPED: &str = "switchboard_firehose_dropped_total";
/// SSE streams open.
pub const SSE_OPEN: &str = "switchboard_sse_streams_open";

/// Firehose events emitted, by type.
pub const FIREHOSE_EVENTS: &str = "switchboard_firehose_events_total";

/// Every metric the libraries record.
pub const CATALOGUE: [Metric; 13] = [
    Metric {
        name: PUBLISHED,
        kind: Kind::Counter,
        labels: &["flow", "backend"],
        help: "messages a backend took: published (flow pubsub), appended (log), answered requests (request) or enqueued in the outbox (outbox); counted once the send succeeded",
    },
    Metric {
        name: DELIVERED,
        kind: Kind::Counter,
        labels: &["flow", "backend"],
        help: "messages delivered to a subscription (flow pubsub) or a consumer-group member (log)",
    },
    Metric {
        name: ACKED,
        kind: Kind::Counter,
        labels: &["flow", "backend"],
        help: "durable-log deliveries acknowledged",
    },
    Metric {
        name: NACKED,
        kind: Kind::Counter,
        labels: &["flow", "backend"],
        help: "durable-log deliveries nacked, or dropped unsettled (a nack without delay)",
    },
    Metric {
        name: REDELIVERED,
        kind: Kind::Counter,
        labels: &["flow", "backend"],
        help: "durable-log deliveries that were a redelivery (attempt 2 or later)",
    },
    Metric {
        name: DROPPED,
        kind: Kind::Counter,
        labels: &["flow", "backend"],
        help: "messages a lagging subscription missed (the count its `Error::Lagged` reported)",
    },
    Metric {
        name: REQUEST_DURATION,
        kind: Kind::Histogram,
        labels: &["flow", "backend"],
        help: "round-trip time of answered requests (flow request), in seconds",
    },
    Metric {
        name: CONSUMER_LAG,
        kind: Kind::Gauge,
        labels: &["flow", "backend", "group", "topic", "partition"],
        help: "records of a partition not yet committed by this process's member of the group (Kafka: high watermark − committed offset, from librdkafka's statistics every second); set to 0 when the member loses the partition or closes",
    },
    Metric {
        name: HUB_CLIENTS,
        kind: Kind::Gauge,
        labels: &[],
        help: "WebSocket clients connected to this process's hubs",
    },
    Metric {
        name: HUB_SLOW_DISCONNECTS,
        kind: Kind::Counter,
        labels: &[],
        help: "hub clients disconnected because their queue was full",
    },
    Metric {
        name: FIREHOSE_EVENTS,
        kind: Kind::Counter,
        labels: &["type"],
        help: "firehose events emitted, by type (the demo's page flow), whether or not the firehose delivered them; the overview's live rates",
    },
    Metric {
        name: FIREHOSE_DROPPED,
        kind: Kind::Counter,
        labels: &[],
        help: "firehose events dropped (queue full, publish failed or timed out)",
    },
    Metric {
        name: SSE_OPEN,
        kind: Kind::Gauge,
        labels: &[],
        help: "server-sent-event streams open",
    },
];

/// Registers every metric's description with the installed recorder (Prometheus `# HELP`).
pub fn describe() {
    for metric in CATALOGUE {
        match metric.kind {
            Kind::Counter => ::metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => ::metrics::describe_gauge!(metric.name, metric.help),
            Kind::Histogram => {
                ::metrics::describe_histogram!(metric.name, ::metrics::Unit::Seconds, metric.help)
            }
        }
    }
}

/// The counter of messages handed to `backend` on `flow` (`pubsub`, `log`, `request` or
/// `outbox`), registered with the current recorder: keep it and increment it per message
/// ([`outgoing::Sends`](crate::outgoing::Sends) does).
pub fn published_counter(flow: &'static str, backend: &'static str) -> ::metrics::Counter {
    ::metrics::counter!(PUBLISHED, "flow" => flow, "backend" => backend)
}

/// Counts a message delivered by `backend` on `flow`.
pub fn delivered(flow: &'static str, backend: &'static str) {
    ::metrics::counter!(DELIVERED, "flow" => flow, "backend" => backend).increment(1);
}

/// Counts `missed` messages a lagging pub/sub subscription of `backend` lost.
pub fn lagged(backend: &'static str, missed: u64) {
    ::metrics::counter!(DROPPED, "flow" => "pubsub", "backend" => backend).increment(missed);
}

/// The histogram of the round trips of requests `backend` answered, in seconds, registered
/// with the current recorder: keep it and record each round trip.
pub fn request_duration_histogram(backend: &'static str) -> ::metrics::Histogram {
    ::metrics::histogram!(REQUEST_DURATION, "flow" => "request", "backend" => backend)
}

/// Counts one durable-log delivery event of `backend` (`flow = log`) on the counter `name`.
pub fn count_log(name: &'static str, backend: &'static str) {
    ::metrics::counter!(name, "flow" => "log", "backend" => backend).increment(1);
}

/// Sets the consumer lag of one partition, as seen by this process's member of `group`.
pub fn consumer_lag(backend: &'static str, group: &str, topic: &str, partition: i32, lag: f64) {
    ::metrics::gauge!(
        CONSUMER_LAG,
        "flow" => "log",
        "backend" => backend,
        "group" => group.to_owned(),
        "topic" => topic.to_owned(),
        "partition" => partition.to_string()
    )
    .set(lag);
}

/// The counter of firehose events of type `kind`, to register once per type.
pub fn firehose_events_counter(kind: &str) -> ::metrics::Counter {
    ::metrics::counter!(FIREHOSE_EVENTS, "type" => kind.to_owned())
}

/// Counts `n` on a label-less counter of the catalogue.
pub fn count(name: &'static str, n: u64) {
    ::metrics::counter!(name).increment(n);
}

/// Moves a label-less gauge of the catalogue by `delta`.
pub fn gauge_add(name: &'static str, delta: f64) {
    ::metrics::gauge!(name).increment(delta);
}
