//! Interop cases: what a plain client of the backend sends is delivered, and what
//! Switchboard sends a plain client can read. The plain side is the backend's own client
//! library, driven through [`PlainPubSubFixture`], [`PlainLogFixture`] and
//! [`PlainRequestFixture`].

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tower::{ServiceExt, service_fn};

use super::{
    Names, PlainLogFixture, PlainMessage, PlainPubSubFixture, PlainRequestFixture, next_ok, within,
};
use crate::{
    BoxError, BusCapabilities, Envelope, JSON, LogConsumer, LogProducer, Publisher, RequestService,
    Responder, Subject, Subscriber, header,
};

const WAIT: Duration = Duration::from_secs(20);

/// Payloads a plain client sends: text, and bytes that are neither UTF-8 nor a frame.
fn plain_payloads() -> [Bytes; 2] {
    [
        Bytes::from_static(b"plain-hello"),
        Bytes::from((0..=255u8).rev().collect::<Vec<u8>>()),
    ]
}

/// An SDK message carrying every kind of metadata.
fn sdk_message(subject: Subject) -> Envelope {
    Envelope::new(
        subject,
        Bytes::from_static(br#"{"n":7,"text":"from switchboard"}"#),
    )
    .with_key("customer-7")
    .with_header(header::CONTENT_TYPE, JSON)
    .with_header("x-tenant", "acme")
}

/// Checks what a plain client of `sent` saw: the payload unchanged and, where the transport
/// has headers, the metadata under the vocabulary's names; the id and timestamp only where
/// `capabilities` say they travel.
fn assert_plain_reads(capabilities: BusCapabilities, sent: &Envelope, got: &PlainMessage) {
    assert_eq!(
        got.payload,
        sent.payload(),
        "a plain client must read the payload unchanged, with no framing"
    );
    if got.headers.is_none() {
        return;
    }
    assert_eq!(
        got.key.as_deref().or(got.header(header::KEY)),
        sent.key(),
        "key, as the transport's key or the key header"
    );
    assert_eq!(got.header(header::CONTENT_TYPE), Some(JSON), "content type");
    assert_eq!(got.header("x-tenant"), Some("acme"), "user header");
    if !capabilities.keeps_id_and_timestamp {
        for field in [header::ID, header::TIMESTAMP] {
            assert_eq!(got.header(field), None, "{field} sent though not promised");
        }
        return;
    }
    let id = sent.id().hyphenated().to_string();
    assert_eq!(got.header(header::ID), Some(id.as_str()), "id header");
    if let Some(micros) = got.header(header::TIMESTAMP) {
        let at = header::parse_timestamp(micros).expect("a timestamp in microseconds");
        let sent_at = sent.timestamp().duration_since(UNIX_EPOCH).unwrap();
        let got_at = at.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(got_at.as_micros(), sent_at.as_micros(), "timestamp header");
    }
}

/// Checks messages a plain client sent as Switchboard delivered them.
fn assert_delivered_plain(sent: &[Bytes], got: &[Envelope]) {
    let payloads: Vec<&Bytes> = got.iter().map(Envelope::payload).collect();
    assert_eq!(
        payloads,
        sent.iter().collect::<Vec<_>>(),
        "payloads of a plain client must arrive unchanged, in order"
    );
    for msg in got {
        assert!(!msg.id().is_nil(), "a plain message gets an id");
        assert!(
            msg.headers().is_empty(),
            "a plain message without headers gains none: {:?}",
            msg.headers()
        );
    }
    assert_ne!(
        got[0].id(),
        got[1].id(),
        "each plain message gets its own id"
    );
}

/// A plain publisher's messages reach a Switchboard subscriber, payload unchanged, with a
/// fresh id each.
pub async fn plain_publish_is_delivered<F: PlainPubSubFixture>(f: &F) {
    let subject = Names::unique().subject("plain.in");
    let mut sub = f
        .subscriber()
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let sent = plain_payloads();
    for payload in &sent {
        f.plain_publish(&subject, payload.clone()).await;
    }
    let mut got = Vec::new();
    for _ in &sent {
        let msg = next_ok(&mut sub, WAIT, "a message from the plain publisher").await;
        assert_eq!(msg.subject(), &subject);
        got.push(msg);
    }
    assert_delivered_plain(&sent, &got);
}

/// A plain subscriber reads a Switchboard message: payload unchanged, metadata in headers.
pub async fn plain_subscriber_reads_sdk_message<F: PlainPubSubFixture>(f: &F) {
    let subject = Names::unique().subject("plain.out");
    let mut plain = f.plain_subscribe(&subject).await;
    let sent = sdk_message(subject);
    f.publisher().publish(sent.clone()).await.expect("publish");
    let got = within(WAIT, "the plain subscriber's message", plain.next())
        .await
        .expect("the plain subscription ended");
    assert_plain_reads(f.capabilities(), &sent, &got);
}

/// Records a plain producer appended are delivered to a group, payload unchanged, each with
/// its own id.
pub async fn plain_append_is_delivered<F: PlainLogFixture>(f: &F) {
    let names = Names::unique();
    let topic = names.subject("plain.in");
    f.create_topic(&topic, 1).await;
    let sent = plain_payloads();
    for payload in &sent {
        f.plain_append(&topic, payload.clone()).await;
    }
    let mut member = f
        .consumer()
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    let mut got = Vec::new();
    for _ in &sent {
        let delivery = next_ok(&mut member, WAIT, "a plain producer's record").await;
        got.push(delivery.envelope().clone());
        delivery.ack().await.expect("ack");
    }
    assert_delivered_plain(&sent, &got);
}

/// A plain reader of the log reads a Switchboard append: payload unchanged, metadata in
/// headers.
pub async fn plain_reader_reads_sdk_append<F: PlainLogFixture>(f: &F) {
    let topic = Names::unique().subject("plain.out");
    f.create_topic(&topic, 1).await;
    let sent = sdk_message(topic.clone());
    f.producer().append(sent.clone()).await.expect("append");
    let got = within(WAIT, "the plain reader", f.plain_read(&topic, 1)).await;
    assert_eq!(got.len(), 1, "one record appended, read {got:?}");
    assert_plain_reads(BusCapabilities::WHOLE_ENVELOPE, &sent, &got[0]);
}

/// A plain requester is answered by a Switchboard responder, which sees the request's
/// payload unchanged with a fresh id.
pub async fn plain_requester_gets_sdk_reply<F: PlainRequestFixture>(f: &F) {
    let subject = Names::unique().subject("plain.request");
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let echo = service_fn(move |msg: Envelope| {
        let _ = seen_tx.send(msg.clone());
        async move {
            let mut body = b"echo: ".to_vec();
            body.extend_from_slice(msg.payload());
            Ok::<_, BoxError>(Bytes::from(body))
        }
    });
    let _serving = f
        .responder()
        .serve(&subject, None, echo)
        .await
        .expect("serve");
    let reply = within(
        WAIT,
        "the reply to a plain request",
        f.plain_request(&subject, Bytes::from_static(b"plain-hi")),
    )
    .await;
    assert_eq!(reply.payload.as_ref(), b"echo: plain-hi");
    let request = seen.recv().await.expect("the responder saw the request");
    assert_eq!(request.payload().as_ref(), b"plain-hi");
    assert!(!request.id().is_nil(), "a plain request gets an id");
}

/// A Switchboard requester is answered by a plain responder, which reads the request's
/// payload unchanged with its metadata in headers.
pub async fn sdk_requester_gets_plain_reply<F: PlainRequestFixture>(f: &F) {
    let subject = Names::unique().subject("plain.serve");
    let mut plain = f.plain_serve(&subject).await;
    let sent = sdk_message(subject);
    let reply = RequestService::new(f.requester())
        .with_timeout(WAIT)
        .oneshot(sent.clone())
        .await
        .expect("request to the plain responder");
    let mut expected = b"echo: ".to_vec();
    expected.extend_from_slice(sent.payload());
    assert_eq!(reply.payload.as_ref(), &expected[..]);
    let request = within(WAIT, "the request the plain responder saw", plain.next())
        .await
        .expect("the plain responder stopped");
    assert_plain_reads(f.capabilities(), &sent, &request);
}
