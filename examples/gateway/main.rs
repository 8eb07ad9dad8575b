//! The gateway, for now an embedded tour of the core flows on the in-memory transports.
//!
//! Run with `cargo run --example gateway`.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use switchboard_core::{
    Envelope, Error, EventStore, FIREHOSE_SUBJECT, Firehose, FirehoseLayer, Flow, Group, Key,
    KeyValue, LogConsumer, LogProducer, Namespace, NewEvent, Pattern, RequestService, Responder,
    Subject, Subscriber,
    mem::{MemBus, MemEventStore, MemKv, MemLog},
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let bus = MemBus::new();
    let mut firehose_events = bus.subscribe(&Pattern::new(FIREHOSE_SUBJECT)?).await?;
    let firehose = Firehose::spawn(bus.clone(), "gateway", Firehose::DEFAULT_CAPACITY);

    // Flow 3: request/reply, the notifier answering in-process.
    let echo = service_fn(|msg: Envelope| async move {
        Ok::<_, Error>(Bytes::from(format!(
            "echo: {}",
            String::from_utf8_lossy(msg.payload())
        )))
    });
    let _notifier = bus
        .serve(
            &Subject::new("switchboard.request")?,
            Some(&Group::new("notifier")?),
            echo,
        )
        .await?;
    let requester = ServiceBuilder::new()
        .layer(FirehoseLayer::new(firehose.clone(), Flow::Nats, "request"))
        .service(RequestService::new(bus.clone()).with_timeout(Duration::from_secs(1)));
    let reply = requester
        .oneshot(Envelope::new(Subject::new("switchboard.request")?, "hello"))
        .await?;
    println!(
        "nats   request/reply: {:?} in {:?}",
        String::from_utf8_lossy(&reply.payload),
        reply.rtt
    );

    // Flow 2: key/value with TTL.
    let kv = MemKv::new().namespace(Namespace::new("redis")?);
    kv.set(
        &Key::new("greeting")?,
        Bytes::from_static(b"hi"),
        Some(Duration::from_secs(300)),
    )
    .await?;
    println!(
        "redis  get greeting: {:?}",
        kv.get(&Key::new("greeting")?).await?
    );

    // Flow 5: produce → consumer group → event store (idempotent on the position).
    let log = MemLog::new();
    let store = MemEventStore::new();
    let topic = Subject::new("switchboard.events")?;
    let position = log
        .append(Envelope::json(topic.clone(), &json!({"order": 1}))?)
        .await?;
    let mut processor = log
        .join(&Group::new("processor")?, std::slice::from_ref(&topic))
        .await?;
    if let Some(delivery) = processor.next().await {
        let delivery = delivery?;
        let event = NewEvent::new("kafka", topic.as_str(), delivery.envelope().decode_json()?)?
            .with_idempotency_key(format!("{topic}/{}", delivery.position()))?;
        let inserted = store.insert(event).await?;
        delivery.ack().await?;
        println!(
            "kafka  produced at {position}, stored as event {}",
            inserted.id
        );
    }

    // Flow 6: the firehose saw the request.
    if let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_secs(1), firehose_events.next()).await
    {
        println!("firehose: {}", String::from_utf8_lossy(event.payload()));
    }
    Ok(())
}
