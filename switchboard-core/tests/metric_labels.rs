//! Every messaging metric is recorded with the labels `metric::CATALOGUE` gives it (`flow`
//! and `backend`), read back from a `metrics` test recorder while the in-memory transports
//! carry real traffic.

use std::{collections::BTreeMap, time::Duration};

use futures::StreamExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use switchboard_core::{
    BoxError, Envelope, Group, LogConsumer, LogProducer, Publisher, Requester, Responder, Subject,
    Subscriber, Topic,
    mem::{MemBus, MemLog},
    metric::{self, CATALOGUE},
};
use tower::service_fn;

type Labels = Vec<(String, String)>;

/// Every metric recorded so far: name → (labels, value) of each series.
fn recorded(recorder: &DebuggingRecorder) -> BTreeMap<String, Vec<(Labels, DebugValue)>> {
    let mut all: BTreeMap<String, Vec<(Labels, DebugValue)>> = BTreeMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let labels = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        all.entry(key.key().name().to_owned())
            .or_default()
            .push((labels, value));
    }
    all
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn counter(all: &BTreeMap<String, Vec<(Labels, DebugValue)>>, name: &str, of: &Labels) -> u64 {
    all.get(name)
        .into_iter()
        .flatten()
        .find(|(l, _)| l == of)
        .map_or(0, |(_, v)| match v {
            DebugValue::Counter(n) => *n,
            other => panic!("{name} is not a counter: {other:?}"),
        })
}

#[tokio::test]
async fn messaging_metrics_carry_flow_and_backend() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let bus = MemBus::new();
    let log = MemLog::new();
    let subject = Subject::new("labels.pubsub").unwrap();
    let topic = Topic::new("labels.log").unwrap();

    let mut sub = bus.subscribe(&subject.clone().into()).await.unwrap();
    bus.publish(Envelope::new(subject.clone(), "p"))
        .await
        .unwrap();
    sub.next().await.unwrap().unwrap();

    let _serving = bus
        .serve(
            &Subject::new("labels.request").unwrap(),
            None,
            service_fn(|msg: Envelope| async move { Ok::<_, BoxError>(msg.payload().clone()) }),
        )
        .await
        .unwrap();
    bus.request(
        Envelope::new(Subject::new("labels.request").unwrap(), "q"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    // Nobody serves this subject: the request fails and is not counted as published.
    assert!(
        bus.request(
            Envelope::new(Subject::new("labels.nobody").unwrap(), "q"),
            Duration::from_secs(5)
        )
        .await
        .is_err()
    );

    log.append(Envelope::new(topic.clone(), "a")).await.unwrap();
    log.append(Envelope::new(topic.clone(), "b")).await.unwrap();
    let mut deliveries = log
        .join(&Group::new("labels").unwrap(), std::slice::from_ref(&topic))
        .await
        .unwrap();
    let first = deliveries.next().await.unwrap().unwrap();
    first.nack(Duration::ZERO).await.unwrap();
    // The nacked record comes again (a redelivery); ack both records.
    let mut acked = std::collections::HashSet::new();
    while acked.len() < 2 {
        let delivery = deliveries.next().await.unwrap().unwrap();
        acked.insert(delivery.envelope().id().to_string());
        delivery.ack().await.unwrap();
    }

    let all = recorded(&recorder);
    let memory = |flow| labels(&[("flow", flow), ("backend", "memory")]);
    assert_eq!(counter(&all, metric::PUBLISHED, &memory("pubsub")), 1);
    assert_eq!(
        counter(&all, metric::PUBLISHED, &memory("request")),
        1,
        "a failed request counts as published"
    );
    assert_eq!(counter(&all, metric::PUBLISHED, &memory("log")), 2);
    assert_eq!(counter(&all, metric::DELIVERED, &memory("pubsub")), 1);
    assert!(counter(&all, metric::DELIVERED, &memory("log")) >= 3);
    assert_eq!(counter(&all, metric::ACKED, &memory("log")), 2);
    assert_eq!(counter(&all, metric::NACKED, &memory("log")), 1);
    assert!(counter(&all, metric::REDELIVERED, &memory("log")) >= 1);
    let durations = all
        .get(metric::REQUEST_DURATION)
        .expect("the request's round trip");
    assert_eq!(durations.len(), 1);
    assert_eq!(durations[0].0, memory("request"));

    // Every series of a catalogued metric has exactly the catalogue's labels.
    for m in CATALOGUE {
        for (series, _) in all.get(m.name).into_iter().flatten() {
            let names: Vec<&str> = series.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, m.labels, "{} recorded with {series:?}", m.name);
        }
    }
}
