//! Redis-specific pub/sub behaviour: reconnects, slow subscribers, foreign messages, channel
//! prefixes and unsubscribing.

mod common;

use std::time::Duration;

use futures::StreamExt;
use switchboard_core::{
    Envelope, Error, Publisher, Subject, Subscriber,
    testkit::{Names, assert_quiet, next_ok, within},
};
use switchboard_redis::{Redis, RedisSubscriber};

const WAIT: Duration = Duration::from_secs(20);

fn text(msg: &Envelope) -> String {
    String::from_utf8(msg.payload().to_vec()).expect("utf-8 payload")
}

/// The id of the connection named `name` in `CLIENT LIST`, other than `except`.
async fn client_id(redis: &Redis, name: &str, except: Option<u64>) -> u64 {
    let field = format!("name={name}");
    within(WAIT, "the subscriber's connection in CLIENT LIST", async {
        loop {
            let list: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut redis.connection())
                .await
                .expect("CLIENT LIST");
            let id = list
                .lines()
                .filter(|line| line.split(' ').any(|f| f == field))
                .filter_map(|line| line.strip_prefix("id=")?.split(' ').next()?.parse().ok())
                .find(|id| Some(*id) != except);
            if let Some(id) = id {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Kills exactly one connection, by id.
async fn kill(redis: &Redis, id: u64) {
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut redis.connection())
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "connection {id} was not killed");
}

async fn subscribers_of(redis: &Redis, channel: &str) -> u64 {
    let (_, count): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut redis.connection())
        .await
        .expect("PUBSUB NUMSUB");
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_client_kill_and_nothing_is_replayed() {
    let redis = common::connect().await;
    let subscriber = redis.subscriber().await.expect("subscriber");
    let publisher = redis.publisher();
    let subject = Names::unique().subject("reconnect");
    let mut sub = subscriber
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    publisher
        .publish(Envelope::new(subject.clone(), "before"))
        .await
        .expect("publish");
    assert_eq!(
        text(&next_ok(&mut sub, WAIT, "a message before the kill").await),
        "before"
    );

    // Kill the subscriber's connection, then publish at once. `PUBLISH` answers how many
    // connections took the message: 0 proves it was published while the subscriber was
    // disconnected. If the subscriber was already back (1), it got the message; try again.
    let mut killed = None;
    let mut lost = None;
    for attempt in 0..50 {
        let id = client_id(&redis, subscriber.client_name(), killed).await;
        kill(&redis, id).await;
        killed = Some(id);
        let msg = Envelope::new(subject.clone(), format!("lost-{attempt}"));
        let receivers = publisher.publish_and_count(msg).await.expect("publish");
        if receivers == 0 {
            lost = Some(format!("lost-{attempt}"));
            break;
        }
        let got = next_ok(&mut sub, WAIT, "a message sent after a quick re-subscribe").await;
        assert_eq!(text(&got), format!("lost-{attempt}"));
    }
    let lost = lost.expect("no publish landed while the subscriber was disconnected");

    // Delivery resumes by itself: publish until a message arrives.
    let first = within(WAIT, "delivery to resume after the reconnect", async {
        for i in 0.. {
            let msg = Envelope::new(subject.clone(), format!("after-{i}"));
            publisher.publish(msg).await.expect("publish after kill");
            match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
                Ok(Some(Ok(msg))) => return msg,
                Ok(other) => panic!("expected a message, got {other:?}"),
                Err(_) => continue,
            }
        }
        unreachable!()
    })
    .await;
    assert!(
        text(&first).starts_with("after-"),
        "the message published while disconnected ({lost}) was replayed: got {}",
        text(&first)
    );
    publisher
        .publish(Envelope::new(subject.clone(), "last"))
        .await
        .expect("publish");
    loop {
        let got = text(&next_ok(&mut sub, WAIT, "the last message").await);
        assert_ne!(
            got, lost,
            "a message published while disconnected was replayed"
        );
        if got == "last" {
            break;
        }
    }
    assert!(subscriber.disconnects() >= 1);
    // The new connection is named again, so operators still find it.
    client_id(&redis, subscriber.client_name(), killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_misses_messages_and_is_told_how_many() {
    const SENT: u64 = 200;
    let redis = common::connect_with(common::config().with_subscriber_capacity(8)).await;
    let subscriber = redis.subscriber().await.expect("subscriber");
    let subject = Names::unique().subject("slow");
    let mut slow = subscriber
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let publisher = redis.publisher();
    for i in 0..SENT {
        publisher
            .publish(Envelope::new(subject.clone(), i.to_string()))
            .await
            .expect("publish");
    }
    let (mut received, mut missed, mut lagged) = (Vec::new(), 0, 0);
    while received.len() as u64 + missed < SENT {
        match within(WAIT, "messages or a lag report", slow.next()).await {
            Some(Ok(msg)) => received.push(text(&msg).parse::<u64>().expect("number")),
            Some(Err(Error::Lagged { missed: n })) => {
                missed += n;
                lagged += 1;
            }
            other => panic!("unexpected item {other:?}"),
        }
    }
    assert!(lagged >= 1, "a full queue must be reported");
    assert!(received.len() >= 8, "the queue's 8 messages are kept");
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "kept messages stay in order: {received:?}"
    );
    assert_eq!(received.len() as u64 + missed, SENT);
    // The subscription goes on after lagging.
    publisher
        .publish(Envelope::new(subject.clone(), "after"))
        .await
        .expect("publish");
    assert_eq!(
        text(&next_ok(&mut slow, WAIT, "a message after the lag").await),
        "after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_prefix_keeps_apps_apart() {
    let names = Names::unique();
    let plain = common::connect().await;
    let prefixed = common::connect_with(common::config().with_channel_prefix(names.id())).await;
    let subject = names.subject("prefixed");
    let mut inside = prefixed
        .subscriber()
        .await
        .expect("subscriber")
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let mut outside = plain
        .subscriber()
        .await
        .expect("subscriber")
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let receivers = prefixed
        .publisher()
        .publish_and_count(Envelope::new(subject.clone(), "inside"))
        .await
        .expect("publish");
    assert_eq!(
        receivers, 1,
        "only the prefixed subscriber listens on its channel"
    );
    let got = next_ok(&mut inside, WAIT, "the prefixed message").await;
    assert_eq!(got.subject(), &subject, "the prefix is stripped again");
    assert_quiet(
        &mut outside,
        Duration::from_millis(300),
        "the unprefixed subject",
    )
    .await;
    assert_eq!(
        subscribers_of(&plain, &format!("{}.{subject}", names.id())).await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_dropped_subscription_unsubscribes() {
    let redis = common::connect().await;
    let subscriber: RedisSubscriber = redis.subscriber().await.expect("subscriber");
    let subject: Subject = Names::unique().subject("unsub");
    let first = subscriber
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let mut second = subscriber
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    assert_eq!(
        subscribers_of(&redis, subject.as_str()).await,
        1,
        "one connection"
    );
    drop(first);
    redis
        .publisher()
        .publish(Envelope::new(subject.clone(), "still here"))
        .await
        .expect("publish");
    assert_eq!(
        text(&next_ok(&mut second, WAIT, "a message after a drop").await),
        "still here"
    );
    assert_eq!(subscribers_of(&redis, subject.as_str()).await, 1);
    drop(second);
    within(WAIT, "the server subscription to end", async {
        while subscribers_of(&redis, subject.as_str()).await != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_subscriber_closes_its_connection() {
    let redis = common::connect().await;
    let subscriber = redis.subscriber().await.expect("subscriber");
    let name = subscriber.client_name().to_owned();
    let sub = subscriber
        .subscribe(&Names::unique().subject("closing").into())
        .await
        .expect("subscribe");
    client_id(&redis, &name, None).await;
    drop(subscriber);
    drop(sub);
    within(WAIT, "the subscriber's connection to close", async {
        loop {
            let list: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut redis.connection())
                .await
                .expect("CLIENT LIST");
            if !list.contains(&format!("name={name} ")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}
