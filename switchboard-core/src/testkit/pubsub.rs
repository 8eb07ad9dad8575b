//! Pub/sub cases: at-most-once fan-out with wildcards.

use std::{
    collections::HashSet,
    time::{Duration, UNIX_EPOCH},
};

use super::{Names, PubSubFixture, assert_quiet, next_ok, within};
use crate::{BusCapabilities, Envelope, Publisher, Subject, Subscriber};

const WAIT: Duration = Duration::from_secs(20);

fn numbered(subject: &Subject, i: usize) -> Envelope {
    Envelope::new(subject.clone(), i.to_string())
}

fn number(msg: &Envelope) -> usize {
    std::str::from_utf8(msg.payload())
        .expect("utf-8 payload")
        .parse()
        .expect("numbered payload")
}

/// A message arrives with its subject, payload and headers intact, and its id and timestamp
/// where the fixture states
/// [`keeps_id_and_timestamp`](crate::BusCapabilities::keeps_id_and_timestamp) (otherwise they
/// are the receiver's own).
pub async fn round_trip_keeps_payload_and_headers<F: PubSubFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("round.trip");
    let mut sub = f
        .subscriber()
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let payload: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let sent = Envelope::new(subject.clone(), payload.clone())
        .with_header("trace-id", "abc-123")
        .with_header("x-n", "7");
    f.publisher().publish(sent.clone()).await.expect("publish");
    let got = next_ok(&mut sub, WAIT, "the published message").await;
    assert_eq!(got.subject(), &subject);
    assert_eq!(
        got.payload().as_ref(),
        &payload[..],
        "payload changed in transit"
    );
    assert_envelope_fields(f.capabilities(), &sent, &got);
    for (name, value) in sent.headers().iter() {
        assert_eq!(
            got.headers().get(name),
            Some(value),
            "header {name} lost or changed"
        );
    }
}

/// Checks `got`'s id and timestamp against `sent`'s: kept (to the microsecond) where
/// `capabilities` promise it, the receiver's own otherwise.
fn assert_envelope_fields(capabilities: BusCapabilities, sent: &Envelope, got: &Envelope) {
    let micros = |msg: &Envelope| {
        msg.timestamp()
            .duration_since(UNIX_EPOCH)
            .expect("a timestamp after 1970")
            .as_micros()
    };
    if capabilities.keeps_id_and_timestamp {
        assert_eq!(got.id(), sent.id(), "message id changed in transit");
        assert_eq!(micros(got), micros(sent), "timestamp changed in transit");
    } else {
        assert!(!got.id().is_nil(), "the receiver gives the message an id");
        assert_ne!(
            got.id(),
            sent.id(),
            "the id arrived though the backend states it does not send it"
        );
    }
}

/// 50 concurrent subscribers each receive all of 5,000 messages, in order.
pub async fn fifty_subscribers_each_receive_five_thousand<F: PubSubFixture>(f: &F) {
    const SUBSCRIBERS: usize = 50;
    const MESSAGES: usize = 5_000;
    let names = Names::unique();
    let subject = names.subject("fanout");
    let mut readers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let mut sub = f
            .subscriber()
            .subscribe(&subject.clone().into())
            .await
            .expect("subscribe");
        readers.push(tokio::spawn(async move {
            for expected in 0..MESSAGES {
                let msg = next_ok(&mut sub, Duration::from_secs(60), "fan-out message").await;
                assert_eq!(
                    number(&msg),
                    expected,
                    "fan-out message out of order or missing"
                );
            }
        }));
    }
    let publisher = f.publisher();
    for i in 0..MESSAGES {
        publisher
            .publish(numbered(&subject, i))
            .await
            .expect("publish");
    }
    for reader in readers {
        within(
            Duration::from_secs(120),
            "every subscriber to finish",
            reader,
        )
        .await
        .expect("subscriber task");
    }
}

/// Subscribers of one subject see nothing published to another, including a longer subject
/// that shares its prefix.
pub async fn subjects_are_isolated<F: PubSubFixture>(f: &F) {
    let names = Names::unique();
    let (a, b, a_child) = (
        names.subject("iso.a"),
        names.subject("iso.b"),
        names.subject("iso.a.child"),
    );
    let mut sub_a = f
        .subscriber()
        .subscribe(&a.clone().into())
        .await
        .expect("subscribe a");
    let mut sub_b = f
        .subscriber()
        .subscribe(&b.clone().into())
        .await
        .expect("subscribe b");
    let publisher = f.publisher();
    for i in 0..10 {
        publisher.publish(numbered(&a, i)).await.expect("publish a");
        publisher
            .publish(numbered(&b, 100 + i))
            .await
            .expect("publish b");
        publisher
            .publish(numbered(&a_child, 200 + i))
            .await
            .expect("publish a.child");
    }
    for i in 0..10 {
        let got_a = next_ok(&mut sub_a, WAIT, "message on a").await;
        assert_eq!((got_a.subject(), number(&got_a)), (&a, i));
        let got_b = next_ok(&mut sub_b, WAIT, "message on b").await;
        assert_eq!((got_b.subject(), number(&got_b)), (&b, 100 + i));
    }
    assert_quiet(&mut sub_a, Duration::from_millis(300), "subject a").await;
    assert_quiet(&mut sub_b, Duration::from_millis(300), "subject b").await;
}

/// `*` matches exactly one token and `>` one or more.
pub async fn wildcards_match<F: PubSubFixture>(f: &F) {
    let names = Names::unique();
    let mut one = f
        .subscriber()
        .subscribe(&names.pattern("w.*.created"))
        .await
        .expect("subscribe *");
    let mut rest = f
        .subscriber()
        .subscribe(&names.pattern("w.>"))
        .await
        .expect("subscribe >");
    let publisher = f.publisher();
    let sends = [
        "w.eu.created",
        "w.eu.west.created",
        "w.us.deleted",
        "w",
        "x.eu.created",
        "w.us.created",
    ];
    for (i, suffix) in sends.iter().enumerate() {
        publisher
            .publish(numbered(&names.subject(suffix), i))
            .await
            .expect("publish");
    }
    let mut got_one = Vec::new();
    for _ in 0..2 {
        got_one.push(number(
            &next_ok(&mut one, WAIT, "message matching w.*.created").await,
        ));
    }
    assert_eq!(got_one, [0, 5], "`*` must match exactly one token");
    let mut got_rest = Vec::new();
    for _ in 0..4 {
        got_rest.push(number(
            &next_ok(&mut rest, WAIT, "message matching w.>").await,
        ));
    }
    assert_eq!(got_rest, [0, 1, 2, 5], "`>` must match one or more tokens");
    assert_quiet(&mut one, Duration::from_millis(300), "w.*.created").await;
    assert_quiet(&mut rest, Duration::from_millis(300), "w.>").await;
}

/// Dropping one subscriber mid-stream leaves the others receiving everything.
pub async fn dropped_subscriber_does_not_disturb_others<F: PubSubFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("drop");
    let mut first = f
        .subscriber()
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let mut dropped = f
        .subscriber()
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let mut last = f
        .subscriber()
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let publisher = f.publisher();
    for i in 0..50 {
        publisher
            .publish(numbered(&subject, i))
            .await
            .expect("publish");
    }
    for i in 0..10 {
        assert_eq!(
            number(&next_ok(&mut dropped, WAIT, "message before the drop").await),
            i
        );
    }
    drop(dropped);
    for i in 50..100 {
        publisher
            .publish(numbered(&subject, i))
            .await
            .expect("publish after drop");
    }
    for sub in [&mut first, &mut last] {
        for i in 0..100 {
            assert_eq!(
                number(&next_ok(sub, WAIT, "message around the drop").await),
                i
            );
        }
    }
}

/// 10,000 publishes from 20 concurrent tasks all arrive.
pub async fn concurrent_publishes_lose_nothing<F: PubSubFixture>(f: &F) {
    const TASKS: usize = 20;
    const EACH: usize = 500;
    let names = Names::unique();
    let subject = names.subject("concurrent");
    let mut sub = f
        .subscriber()
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let publisher = f.publisher();
        let subject = subject.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                publisher
                    .publish(numbered(&subject, t * EACH + i))
                    .await
                    .expect("concurrent publish");
            }
        }));
    }
    let mut seen = HashSet::new();
    while seen.len() < TASKS * EACH {
        let msg = next_ok(
            &mut sub,
            Duration::from_secs(60),
            "concurrently published messages",
        )
        .await;
        assert!(
            seen.insert(number(&msg)),
            "message {} delivered twice",
            number(&msg)
        );
    }
    for task in tasks {
        task.await.expect("publisher task");
    }
    assert_eq!(seen.len(), TASKS * EACH);
}

/// The pub/sub and request/reply capability table of `docs/conformance.md`: one row per
/// `(backend, capabilities)`, `✅` where the backend keeps the sender's id and timestamp,
/// `receiver's` where the receiver assigns them.
pub fn capability_table(backends: &[(&str, BusCapabilities)]) -> String {
    let mut table = String::from("| backend | `keeps_id_and_timestamp` |\n|---|---|\n");
    for (backend, caps) in backends {
        let mark = if caps.keeps_id_and_timestamp {
            "✅"
        } else {
            "receiver's"
        };
        table.push_str(&format!("| {backend} | {mark} |\n"));
    }
    table
}
