//! The page namespace and UTF-8 checks, over real sockets: what a hostile visitor tried in
//! issue 10 (forged chat through `/nats/request`, reading `switchboard.>`, publishing to another
//! application's Redis channel, storing invalid UTF-8) is refused with a 400, and nothing is
//! written.

use std::time::Duration;

use switchboard_core::{Envelope, EventStore, Publisher, Subject, Subscriber};

use super::served::{Served, read_until, visitor};
use crate::common::gateway_config::LimitsConfig;

#[tokio::test]
async fn internal_subjects_and_foreign_channels_are_unreachable() {
    let served = Served::start(&LimitsConfig::default()).await;
    let me = visitor(1);
    // Nothing a visitor sends may land on the bridge, presence, heartbeats, results or the
    // firehose; a subscriber on each internal subject proves nothing arrived.
    let mut internal = served
        .app
        .backends
        .bus
        .subscriber
        .subscribe(&switchboard_core::Pattern::new("switchboard.>").unwrap())
        .await
        .unwrap();
    let mut redis_all = served
        .app
        .backends
        .pubsub
        .subscriber
        .subscribe(&switchboard_core::Pattern::new(">").unwrap())
        .await
        .unwrap();
    for subject in [
        "switchboard.chat.chat",
        "switchboard.chat.presence",
        "switchboard.health.gateway",
        "switchboard.processed",
        "switchboard.firehose",
        "orders.new",
    ] {
        let answer = served
            .send_form(
                me,
                "POST",
                "/nats/request",
                format!("subject={subject}&message=%7B%22forged%22%3Atrue%7D").as_bytes(),
            )
            .await;
        assert_eq!(answer.status, 400, "{subject}: {}", answer.body);
        assert!(answer.body.contains("switchboard.page."), "{}", answer.body);
        let answer = served
            .send_form(
                me,
                "POST",
                "/redis/publish",
                format!("channel={subject}&message=m").as_bytes(),
            )
            .await;
        assert_eq!(answer.status, 400, "{subject}: {}", answer.body);
        assert!(answer.body.contains("page namespace"), "{}", answer.body);
    }
    for path in [
        "/nats/subscribe?subject=switchboard.%3E",
        "/nats/subscribe?subject=%3E",
        "/nats/subscribe?subject=*.chat.chat",
        "/redis/subscribe?channel=other.app.%3E",
    ] {
        let (answer, _) = served.open_sse(me, path).await;
        assert_eq!(answer.status, 400, "{path}");
    }
    // Inside the namespace, wildcards work over a real SSE stream.
    let (answer, mut stream) = served
        .open_sse(me, "/nats/subscribe?subject=switchboard.page.%3E")
        .await;
    assert_eq!(answer.status, 200);
    served
        .app
        .backends
        .bus
        .publisher
        .publish(Envelope::new(
            Subject::new("switchboard.page.demo").unwrap(),
            "inside",
        ))
        .await
        .unwrap();
    read_until(&mut stream, "inside").await;
    // The internal subscriber saw only that page message (and the services' own traffic),
    // never a visitor's forged one.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(msg)) =
        tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut internal)).await
    {
        let msg = msg.unwrap();
        assert!(
            !String::from_utf8_lossy(msg.payload()).contains("forged"),
            "a forged message reached {}",
            msg.subject()
        );
    }
    assert!(
        tokio::time::timeout(
            Duration::from_millis(100),
            futures::StreamExt::next(&mut redis_all)
        )
        .await
        .is_err(),
        "nothing was published on Redis"
    );
}

#[tokio::test]
async fn fields_that_are_not_utf8_are_refused_and_nothing_is_stored() {
    let served = Served::start(&LimitsConfig::default()).await;
    let me = visitor(1);
    for (body, field) in [
        (&b"source=web&topic=%FF%FE&payload=%7B%7D"[..], "topic"),
        (&b"source=web&topic=demo&payload=\"\xC3\""[..], "payload"),
        (&b"source=w\xE9b&topic=demo&payload=1"[..], "source"),
    ] {
        let answer = served.send_form(me, "POST", "/events", body).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(
            answer
                .body
                .contains(&format!("field `{field}` is not valid UTF-8")),
            "{}",
            answer.body
        );
    }
    let answer = served
        .send_form(me, "POST", "/redis/set", b"key=k&value=%C3%28")
        .await;
    assert_eq!(answer.status, 400);
    let answer = served.get(me, "/redis/get?key=%FF").await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("field `key`"), "{}", answer.body);
    let store = &served.app.backends.store.store;
    assert!(store.page(None, 10).await.unwrap().events.is_empty());
    let key = switchboard_core::Key::new("k").unwrap();
    assert!(
        switchboard_core::KeyValue::get(&served.app.state.kv, &key)
            .await
            .unwrap()
            .is_none()
    );
    // Valid UTF-8 beyond ASCII is stored as sent.
    let answer = served
        .send_form(
            me,
            "POST",
            "/events",
            "source=web&topic=caf%C3%A9&payload=1".as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page = store.page(None, 10).await.unwrap();
    assert_eq!(page.events[0].topic, "café");
}
