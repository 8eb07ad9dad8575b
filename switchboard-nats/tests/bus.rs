//! NatsBus behaviours beyond the kit: the wire form, the slow-subscriber bound and typed bad
//! input.

mod common;

use std::time::Duration;

use futures::StreamExt;
use switchboard_core::{
    Envelope, Error, InvalidInput, Publisher, Requester, Subscriber, header, testkit::Names,
};
use switchboard_nats::{BusConfig, NatsBus};

/// What a plain subscriber on the same connection receives of `msg` published by `bus`.
async fn as_plain_client_sees(bus: &NatsBus, msg: Envelope) -> async_nats::Message {
    // One connection: the server handles the `SUB` before the `PUB` that follows it.
    let mut plain = bus
        .client()
        .subscribe(msg.subject().as_str().to_owned())
        .await
        .expect("plain subscribe");
    bus.publish(msg).await.expect("publish");
    tokio::time::timeout(Duration::from_secs(10), plain.next())
        .await
        .expect("the message within 10 s")
        .expect("the plain subscription ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_envelope_goes_out_without_headers() {
    let bus = NatsBus::new(common::client().await);
    let subject = Names::unique().subject("bare");
    let got = as_plain_client_sees(&bus, Envelope::new(subject.clone(), "x")).await;
    assert_eq!(got.headers, None, "a bare PUB has no header block");
    let got = as_plain_client_sees(&bus, Envelope::new(subject, "x").with_key("k")).await;
    let headers = got.headers.expect("the key travels as a header");
    assert_eq!(headers.get(header::KEY).map(|v| v.as_str()), Some("k"));
    assert_eq!(headers.get(header::ID), None);
    assert_eq!(headers.get(header::TIMESTAMP), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opt_in_sends_id_and_timestamp() {
    let config = BusConfig {
        send_id_and_timestamp: true,
        ..BusConfig::default()
    };
    let bus = NatsBus::with_config(common::client().await, config);
    let sent = Envelope::new(Names::unique().subject("ids"), "x");
    let got = as_plain_client_sees(&bus, sent.clone()).await;
    let headers = got.headers.expect("id and timestamp headers");
    let id = sent.id().hyphenated().to_string();
    assert_eq!(
        headers.get(header::ID).map(|v| v.as_str()),
        Some(id.as_str())
    );
    let timestamp = header::format_timestamp(sent.timestamp());
    assert_eq!(
        headers.get(header::TIMESTAMP).map(|v| v.as_str()),
        Some(timestamp.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_misses_overflow_and_is_told_how_much() {
    let bus = NatsBus::with_config(
        common::client().await,
        BusConfig {
            subscriber_capacity: 10,
            ..BusConfig::default()
        },
    );
    let subject = Names::unique().subject("slow");
    let mut slow = bus
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    for i in 0..100 {
        bus.publish(Envelope::new(subject.clone(), i.to_string()))
            .await
            .expect("publish");
    }
    bus.client().flush().await.expect("flush");
    // Let the subscription's pump take in all 100 before anything is read, so the queue of
    // 10 overflows whatever the scheduling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut received, mut missed) = (0, 0);
    while received + missed < 100 {
        match tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
            Ok(Some(Ok(_))) => received += 1,
            Ok(Some(Err(Error::Lagged { missed: n }))) => missed += n,
            other => panic!("after {received} received and {missed} missed: {other:?}"),
        }
    }
    // Nothing is read until all 100 were sent: at least the queue's 10 are kept, the overflow
    // is reported, and together they account for every message.
    assert!(received >= 10, "only {received} kept");
    assert!(missed > 0, "nothing reported missing");
    assert_eq!(received + missed, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_nats_cannot_carry_are_rejected_before_sending() {
    let bus = NatsBus::new(common::client().await);
    let subject = Names::unique().subject("bad");
    let err = bus
        .publish(Envelope::new(subject.clone(), "x").with_header("two\nlines", "v"))
        .await
        .expect_err("invalid header name");
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::InvalidName { .. })
    ));
    let too_big = vec![0u8; bus.client().max_payload() + 1];
    let err = bus
        .request(Envelope::new(subject, too_big), Duration::from_secs(1))
        .await
        .expect_err("payload over the server limit");
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::PayloadTooLarge { .. })
    ));
}
