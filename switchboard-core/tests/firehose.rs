//! The firehose never blocks or fails the work it observes, and counts what it drops.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use switchboard_core::{
    Envelope, Error, FIREHOSE_SUBJECT, Firehose, FirehoseEvent, FirehoseLayer, Pattern, Publisher,
    Result, Subject, Subscriber, mem::MemBus,
};
use tower::{Layer, ServiceExt, service_fn};

#[derive(Clone)]
struct Switchable {
    bus: MemBus,
    down: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
}

impl Publisher for Switchable {
    async fn publish(&self, msg: Envelope) -> Result<()> {
        if self.hang.load(Ordering::SeqCst) {
            futures::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other(
                "connection refused",
            )));
        }
        self.bus.publish(msg).await
    }
}

#[tokio::test]
async fn layer_emits_one_typed_event_per_call() {
    let bus = MemBus::new();
    let mut events = bus
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT).unwrap())
        .await
        .unwrap();
    let firehose = Firehose::spawn(bus.clone(), "gateway", 16);
    let svc = FirehoseLayer::new(firehose.clone(), "nats", "request").layer(service_fn(
        |ok: bool| async move { if ok { Ok(1) } else { Err(Error::Closed) } },
    ));
    assert_eq!(svc.clone().oneshot(true).await.unwrap(), 1);
    assert!(svc.oneshot(false).await.is_err());
    let ok: FirehoseEvent = events.next().await.unwrap().unwrap().decode_json().unwrap();
    assert_eq!(
        (ok.kind.as_str(), ok.service.as_str(), ok.action.as_str()),
        ("nats", "gateway", "request")
    );
    assert_eq!(ok.payload["ok"], true);
    let failed: FirehoseEvent = events.next().await.unwrap().unwrap().decode_json().unwrap();
    assert_eq!(failed.payload["ok"], false);
    assert_eq!(failed.payload["error"], "transport closed");
    assert_eq!(firehose.emitted(), 2);
    assert_eq!(firehose.dropped(), 0);
}

#[tokio::test]
async fn transport_down_drops_and_counts_without_failing_calls() {
    let transport = Switchable {
        bus: MemBus::new(),
        down: Arc::new(AtomicBool::new(true)),
        hang: Arc::default(),
    };
    let firehose = Firehose::spawn(transport.clone(), "processor", 16);
    let svc = FirehoseLayer::new(firehose.clone(), "kafka", "consume")
        .layer(service_fn(|_: ()| async { Ok::<_, Error>("done") }));
    for _ in 0..5 {
        assert_eq!(
            svc.clone().oneshot(()).await.unwrap(),
            "done",
            "the observed call must succeed"
        );
    }
    tokio::time::timeout(Duration::from_secs(2), async {
        while firehose.dropped() < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("failed publishes are counted as dropped");
    transport.down.store(false, Ordering::SeqCst);
    let mut events = transport
        .bus
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT).unwrap())
        .await
        .unwrap();
    svc.oneshot(()).await.unwrap();
    assert!(
        events.next().await.unwrap().is_ok(),
        "events flow again once the transport is back"
    );
}

#[tokio::test]
async fn hung_transport_never_blocks_the_caller() {
    let transport = Switchable {
        bus: MemBus::new(),
        down: Arc::default(),
        hang: Arc::new(AtomicBool::new(true)),
    };
    let firehose = Firehose::spawn(transport, "gateway", 4);
    tokio::time::timeout(Duration::from_millis(200), async {
        for _ in 0..1000 {
            firehose.emit("system", "tick", serde_json::json!({}));
        }
    })
    .await
    .expect("emit must never wait");
    // One event is stuck in the hung publish, four wait in the queue, the rest were dropped.
    assert!(firehose.dropped() >= 995, "dropped {}", firehose.dropped());
}

#[tokio::test]
async fn disabled_firehose_counts_everything_as_dropped() {
    let firehose = Firehose::disabled("notifier");
    assert!(!firehose.emit("system", "start", serde_json::json!({})));
    assert_eq!(firehose.dropped(), 1);
    let _ = Subject::new(FIREHOSE_SUBJECT).unwrap();
}

#[test]
fn every_event_counts_under_its_type() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let firehose = Firehose::disabled("gateway");
        for kind in ["kafka", "nats", "kafka", "kafka"] {
            firehose.emit(kind, "request", serde_json::json!({}));
        }
    });
    let mut counts: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == switchboard_core::metric::FIREHOSE_EVENTS)
        .map(|(key, _, _, value)| {
            let kind = key.key().labels().next().unwrap().value().to_owned();
            let metrics_util::debugging::DebugValue::Counter(n) = value else {
                panic!("a counter")
            };
            (kind, n)
        })
        .collect();
    counts.sort();
    assert_eq!(counts, [("kafka".to_owned(), 3), ("nats".to_owned(), 1)]);
}
