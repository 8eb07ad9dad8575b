//! What the in-memory transports do when a bound is hit, as documented in `switchboard_core::mem`.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use switchboard_core::{
    Envelope, Error, EventStore, InvalidInput, Key, KeyValue, LogConsumer, LogProducer, Namespace,
    NewEvent, Pattern, Publisher, Requester, Responder, Subject, Subscriber, TopicAdmin,
    mem::{BusConfig, LogConfig, MemBus, MemEventStore, MemKv, MemLog},
};
use tower::service_fn;

fn subject(s: &str) -> Subject {
    Subject::new(s).unwrap()
}

#[tokio::test]
async fn slow_subscriber_misses_overflow_and_is_told_how_much() {
    let bus = MemBus::with_config(BusConfig {
        subscriber_capacity: 4,
        ..BusConfig::default()
    });
    let mut slow = bus.subscribe(&Pattern::new("s").unwrap()).await.unwrap();
    let mut fast = bus.subscribe(&Pattern::new("s").unwrap()).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < 10 {
            if let Some(Ok(_)) = fast.next().await {
                got += 1;
            }
        }
        got
    });
    for i in 0..10 {
        // Publishing never waits for the slow subscriber.
        tokio::time::timeout(
            Duration::from_millis(100),
            bus.publish(Envelope::new(subject("s"), i.to_string())),
        )
        .await
        .expect("publish must not block")
        .unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(
        reader.await.unwrap(),
        10,
        "a fast subscriber is not disturbed by a slow one"
    );
    let first = slow.next().await.unwrap();
    assert!(
        matches!(first, Err(Error::Lagged { missed: 6 })),
        "got {first:?}"
    );
    for i in 0..4 {
        assert_eq!(
            slow.next().await.unwrap().unwrap().payload().as_ref(),
            i.to_string().as_bytes()
        );
    }
}

#[tokio::test]
async fn payload_over_limit_is_rejected() {
    let bus = MemBus::with_config(BusConfig {
        max_payload: 8,
        ..BusConfig::default()
    });
    let err = bus
        .publish(Envelope::new(subject("s"), vec![0u8; 9]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::PayloadTooLarge { size: 9, limit: 8 })
    ));
    let log = MemLog::with_config(LogConfig {
        max_payload: 8,
        ..LogConfig::default()
    });
    assert!(
        log.append(Envelope::new(subject("s"), vec![0u8; 9]))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn full_responder_queue_is_a_typed_error() {
    let bus = MemBus::with_config(BusConfig {
        responder_capacity: 1,
        responder_concurrency: 1,
        ..BusConfig::default()
    });
    let stuck = service_fn(|_: Envelope| futures::future::pending::<Result<Bytes, Error>>());
    let _serving = bus.serve(&subject("busy"), None, stuck).await.unwrap();
    let mut pending = Vec::new();
    // One request is being handled, one waits in the queue; the next finds the queue full.
    for _ in 0..2 {
        let bus = bus.clone();
        pending.push(tokio::spawn(async move {
            bus.request(Envelope::new(subject("busy"), "x"), Duration::from_secs(5))
                .await
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = bus
        .request(Envelope::new(subject("busy"), "x"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::CapacityExceeded {
                what: "responder queue",
                ..
            }
        ),
        "got {err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn stopped_responder_no_longer_answers() {
    let bus = MemBus::new();
    let echo = service_fn(|m: Envelope| async move { Ok::<_, Error>(m.payload().clone()) });
    let serving = bus.serve(&subject("echo"), None, echo).await.unwrap();
    assert!(
        bus.request(Envelope::new(subject("echo"), "x"), Duration::from_secs(1))
            .await
            .is_ok()
    );
    serving.stop().await;
    let err = bus
        .request(Envelope::new(subject("echo"), "x"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoResponders { .. }), "got {err:?}");
}

#[tokio::test]
async fn full_kv_refuses_new_keys_but_updates_existing_ones() {
    let kv = MemKv::with_capacity(2).namespace(Namespace::new("n").unwrap());
    let key = |k: &str| Key::new(k).unwrap();
    kv.set(&key("a"), "1".into(), None).await.unwrap();
    kv.set(&key("b"), "2".into(), Some(Duration::from_millis(50)))
        .await
        .unwrap();
    let err = kv.set(&key("c"), "3".into(), None).await.unwrap_err();
    assert!(matches!(err, Error::CapacityExceeded { capacity: 2, .. }));
    kv.set(&key("a"), "updated".into(), None)
        .await
        .expect("updating an existing key is always allowed");
    tokio::time::sleep(Duration::from_millis(80)).await;
    kv.set(&key("c"), "3".into(), None)
        .await
        .expect("expired entries make room");
}

#[tokio::test]
async fn full_event_store_refuses_inserts_but_not_duplicates() {
    let store = MemEventStore::with_capacity(1);
    let event = || {
        NewEvent::new("web", "t", serde_json::json!({}))
            .unwrap()
            .with_idempotency_key("k")
            .unwrap()
    };
    let first = store.insert(event()).await.unwrap();
    let again = store.insert(event()).await.unwrap();
    assert_eq!((again.id, again.created), (first.id, false));
    let err = store
        .insert(NewEvent::new("web", "t", serde_json::json!({})).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CapacityExceeded { capacity: 1, .. }));
}

#[tokio::test]
async fn log_retention_evicts_oldest_and_groups_skip_ahead() {
    let log = MemLog::with_config(LogConfig {
        retention: 5,
        ..LogConfig::default()
    });
    let topic = subject("retained");
    log.create_topic(&topic, 1).await.unwrap();
    let group = switchboard_core::Group::new("g").unwrap();
    let mut member = log
        .join(&group, std::slice::from_ref(&topic))
        .await
        .unwrap();
    for i in 0..8 {
        log.append(Envelope::new(topic.clone(), i.to_string()))
            .await
            .unwrap();
    }
    assert_eq!(log.evicted(), 3);
    let first = member.next().await.unwrap().unwrap();
    assert_eq!(
        first.position().offset,
        3,
        "the group skips the evicted records"
    );
    assert_eq!(first.envelope().payload().as_ref(), b"3");
}

#[tokio::test]
async fn in_flight_window_bounds_unacked_deliveries() {
    let log = MemLog::with_config(LogConfig {
        max_in_flight: 2,
        ..LogConfig::default()
    });
    let topic = subject("window");
    log.create_topic(&topic, 1).await.unwrap();
    for i in 0..5 {
        log.append(Envelope::new(topic.clone(), i.to_string()))
            .await
            .unwrap();
    }
    let mut member = log
        .join(
            &switchboard_core::Group::new("g").unwrap(),
            std::slice::from_ref(&topic),
        )
        .await
        .unwrap();
    let a = member.next().await.unwrap().unwrap();
    let _b = member.next().await.unwrap().unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), member.next())
            .await
            .is_err(),
        "a third unacked delivery"
    );
    a.ack().await.unwrap();
    let c = member.next().await.unwrap().unwrap();
    assert_eq!(c.position().offset, 2);
}

#[tokio::test]
async fn out_of_order_ack_waits_for_the_gap_and_nack_rewinds() {
    let log = MemLog::new();
    let topic = subject("gap");
    log.create_topic(&topic, 1).await.unwrap();
    for i in 0..3 {
        log.append(Envelope::new(topic.clone(), i.to_string()))
            .await
            .unwrap();
    }
    let group = switchboard_core::Group::new("g").unwrap();
    let mut member = log
        .join(&group, std::slice::from_ref(&topic))
        .await
        .unwrap();
    let d0 = member.next().await.unwrap().unwrap();
    let d1 = member.next().await.unwrap().unwrap();
    let d2 = member.next().await.unwrap().unwrap();
    d1.ack().await.unwrap();
    d0.nack(Duration::ZERO).await.unwrap();
    // Offset 0 comes back, then 2 (still unacked); 1 was acked and is skipped.
    let again: Vec<u64> = vec![
        member.next().await.unwrap().unwrap(),
        member.next().await.unwrap().unwrap(),
    ]
    .into_iter()
    .map(|d| {
        let offset = d.position().offset;
        std::mem::forget(d);
        offset
    })
    .collect();
    assert_eq!(again, [0, 2]);
    drop(d2);
}
