//! The consumer-lag gauge on a live broker: one series per group, topic and partition while the
//! member owns the partition, zeroed once it lets the partition go. Read back from a `metrics`
//! test recorder, the global one of this test binary (librdkafka reports from its own threads).

mod common;

use std::{sync::OnceLock, time::Duration};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use switchboard_core::{
    Envelope, LogConsumer, LogProducer,
    metric::CONSUMER_LAG,
    testkit::{LogFixture, Names, next_ok},
};

fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder of this binary");
        snapshotter
    })
}

/// The lag gauges of `group`, by (topic, partition), with all their labels checked.
fn lags(group: &str) -> Vec<(String, String, f64)> {
    let mut lags: Vec<(String, String, f64)> = snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == CONSUMER_LAG)
        .filter_map(|(key, _, _, value)| {
            let label = |name: &str| {
                key.key()
                    .labels()
                    .find(|l| l.key() == name)
                    .map(|l| l.value().to_owned())
            };
            assert_eq!(label("flow").as_deref(), Some("log"));
            assert_eq!(label("backend").as_deref(), Some("kafka"));
            if label("group").as_deref() != Some(group) {
                return None;
            }
            let DebugValue::Gauge(lag) = value else {
                panic!("{CONSUMER_LAG} is a gauge")
            };
            Some((label("topic")?, label("partition")?, lag.into_inner()))
        })
        .collect();
    lags.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    lags
}

/// Waits (librdkafka's statistics come once a second) until `group`'s gauges are `want`.
async fn lags_become(group: &str, want: &[(String, String, f64)], what: &str) {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if lags(group) == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{what}: the lag gauges of {group} are {:?}, not {want:?}",
        lags(group)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_per_group_and_partition_and_zeroed_when_the_member_leaves() {
    snapshotter();
    let kafka = common::setup().await;
    let names = Names::unique();
    let topic = names.subject("lag");
    let group = names.group("lag");
    kafka.create_topic(&topic, 2).await;
    // Three records on each partition (the key picks it).
    for i in 0..6 {
        kafka
            .producer()
            .append(Envelope::new(topic.clone(), format!("{i}")).with_key(format!("k{}", i % 2)))
            .await
            .expect("append");
    }
    let mut member = kafka
        .consumer()
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join");
    // librdkafka reports a partition's lag once an offset is stored: ack the first record of
    // each partition and hold the others, so each lags by what it holds after the first.
    let mut held = Vec::new();
    let mut lag: std::collections::BTreeMap<u32, f64> = Default::default();
    for _ in 0..6 {
        let delivery = next_ok(&mut member, Duration::from_secs(60), "a delivery").await;
        let partition = delivery.position().partition;
        if delivery.position().offset == 0 {
            lag.entry(partition).or_insert(0.0);
            delivery.ack().await.expect("ack");
        } else {
            *lag.entry(partition).or_insert(0.0) += 1.0;
            held.push(delivery);
        }
    }
    let owned: Vec<(String, String, f64)> = lag
        .iter()
        .map(|(p, lag)| (topic.to_string(), p.to_string(), *lag))
        .collect();
    lags_become(
        group.as_str(),
        &owned,
        "while the member owns the partitions",
    )
    .await;
    member.close().await.expect("close");
    let zeroed: Vec<(String, String, f64)> = owned
        .iter()
        .map(|(t, p, _)| (t.clone(), p.clone(), 0.0))
        .collect();
    lags_become(group.as_str(), &zeroed, "after the member left").await;
    drop(held);
}
