//! Subscriptions, responders and JetStream consumers survive a nats-server restart and resume
//! by themselves. Each test runs its own nats-server on a free port and restarts it; the
//! shared server is never touched.

mod common;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt;
use switchboard_core::{
    BoxError, Envelope, Error, LogConsumer, LogProducer, Publisher, Requester, Responder,
    Subscriber, TopicAdmin, testkit::Names,
};
use switchboard_nats::{JetStreamConfig, JetStreamLog, NatsBus, NatsConfig, StorageType};
use tower::service_fn;

use common::server::OwnServer;

const RECOVERY: Duration = Duration::from_secs(60);

async fn connect(server: &OwnServer) -> async_nats::Client {
    NatsConfig::new(server.url())
        .connect()
        .await
        .expect("connect to the test's own nats-server")
}

/// Retries `attempt` until it succeeds, failing the test after [`RECOVERY`].
async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(err) => {
                assert!(
                    started.elapsed() < RECOVERY,
                    "{what} did not recover within {RECOVERY:?}: {err:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_and_responder_resume_after_restart() {
    let mut server = OwnServer::start();
    let bus = NatsBus::new(connect(&server).await);
    let names = Names::unique();
    let (topic, service) = (names.subject("events"), names.subject("echo"));
    let group = names.group("notifiers");
    let mut events = bus
        .subscribe(&topic.clone().into())
        .await
        .expect("subscribe");
    let echo = service_fn(|msg: Envelope| async move {
        Ok::<_, BoxError>(Bytes::from([b"echo: ".as_slice(), msg.payload()].concat()))
    });
    let serving = bus
        .serve(&service, Some(&group), echo)
        .await
        .expect("serve");

    let reply = bus
        .request(
            Envelope::new(service.clone(), "before"),
            Duration::from_secs(5),
        )
        .await
        .expect("request before the restart");
    assert_eq!(reply.payload.as_ref(), b"echo: before");
    bus.publish(Envelope::new(topic.clone(), "before"))
        .await
        .expect("publish");
    let got = events.next().await.expect("stream open").expect("message");
    assert_eq!(got.payload().as_ref(), b"before");

    server.stop();
    // While the server is down a request fails with a typed error instead of hanging.
    let err = bus
        .request(
            Envelope::new(service.clone(), "down"),
            Duration::from_millis(500),
        )
        .await
        .expect_err("no server, no reply");
    assert!(
        matches!(err, Error::Timeout { .. } | Error::Unavailable(_)),
        "got {err:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();

    // The same responder answers again, without serving anew.
    let reply = eventually("request/reply", || {
        bus.request(
            Envelope::new(service.clone(), "after"),
            Duration::from_secs(1),
        )
    })
    .await;
    assert_eq!(reply.payload.as_ref(), b"echo: after");
    assert!(!serving.is_finished(), "the responder task ended");
    assert_reconnected(bus.client());

    // The same subscription receives again.
    let started = Instant::now();
    loop {
        bus.publish(Envelope::new(topic.clone(), "after"))
            .await
            .expect("publish");
        match tokio::time::timeout(Duration::from_millis(500), events.next()).await {
            Ok(Some(Ok(msg))) if msg.payload().as_ref() == b"after" => break,
            Ok(None) => panic!("subscription ended at the restart"),
            _ => assert!(
                started.elapsed() < RECOVERY,
                "subscription did not resume within {RECOVERY:?}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_consumer_resumes_after_restart_with_nothing_lost() {
    const TOTAL: usize = 100;
    let mut server = OwnServer::start();
    let config = JetStreamConfig {
        storage: StorageType::File,
        ack_wait: Duration::from_secs(3),
        ..Default::default()
    };
    let log = JetStreamLog::with_config(connect(&server).await, config);
    let names = Names::unique();
    let topic = names.subject("durable");
    let group = names.group("processor");
    log.create_topic(&topic, 1).await.expect("create stream");
    for i in 0..TOTAL / 2 {
        log.append(Envelope::new(topic.clone(), i.to_string()))
            .await
            .expect("append");
    }
    let mut member = log
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join");
    let mut acked = BTreeSet::new();
    for _ in 0..TOTAL / 4 {
        let delivery = member.next().await.expect("stream open").expect("delivery");
        acked.insert(number(&delivery));
        delivery.ack().await.expect("ack");
    }

    server.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart();

    // Appends made after the restart, retried with the same envelope until stored.
    for i in TOTAL / 2..TOTAL {
        let msg = Envelope::new(topic.clone(), i.to_string());
        eventually("append", || log.append(msg.clone())).await;
    }
    // The same member stream delivers the rest by itself.
    let started = Instant::now();
    while acked.len() < TOTAL {
        let remaining = RECOVERY.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, member.next()).await {
            Ok(Some(Ok(delivery))) => {
                acked.insert(number(&delivery));
                // An ack racing the restart may fail; the message then comes again.
                let _ = delivery.ack().await;
            }
            Ok(Some(Err(err))) => panic!("member stream failed: {err:?}"),
            Ok(None) => panic!("member stream ended at the restart"),
            Err(_) => panic!(
                "only {} of {TOTAL} delivered after the restart; missing {:?}",
                acked.len(),
                (0..TOTAL)
                    .filter(|i| !acked.contains(i))
                    .collect::<Vec<_>>()
            ),
        }
    }
    assert_eq!(acked, (0..TOTAL).collect::<BTreeSet<_>>());
    assert_reconnected(log.client());
}

/// The client really lost its connection and made a new one.
fn assert_reconnected(client: &async_nats::Client) {
    let connects = client
        .statistics()
        .connects
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        connects >= 2,
        "the client never reconnected ({connects} connects)"
    );
}

fn number(delivery: &switchboard_core::Delivery) -> usize {
    std::str::from_utf8(delivery.envelope().payload())
        .expect("utf-8")
        .parse()
        .expect("number")
}
