//! Durable-log cases: at-least-once delivery with explicit ack.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;

use super::{
    LogFixture, Names,
    assigned::{await_assigned, is_probe},
    next_ok, within,
};
use crate::{Delivery, Envelope, LogConsumer, LogProducer, Topic};

fn numbered(topic: &Topic, key: Option<String>, i: usize) -> Envelope {
    let msg = Envelope::new(topic.clone(), i.to_string());
    match key {
        Some(key) => msg.with_key(key),
        None => msg,
    }
}

fn number(delivery: &Delivery) -> usize {
    std::str::from_utf8(delivery.envelope().payload())
        .expect("utf-8 payload")
        .parse()
        .expect("numbered payload")
}

async fn append_all<F: LogFixture>(f: &F, topic: &Topic, range: std::ops::Range<usize>) {
    let producer = f.producer();
    for i in range {
        producer
            .append(numbered(topic, None, i))
            .await
            .expect("append");
    }
}

/// One member of a fresh group on a fresh topic of `partitions` named after `case`, and
/// `count` numbered messages appended after the join.
async fn one_member<F: LogFixture>(
    f: &F,
    case: &str,
    partitions: u32,
    count: usize,
) -> <F::Consumer as LogConsumer>::Stream {
    let names = Names::unique();
    let topic = names.subject(case);
    f.create_topic(&topic, partitions).await;
    let member = f
        .consumer()
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    append_all(f, &topic, 0..count).await;
    member
}

/// Appends return distinct positions, increasing within a partition.
pub async fn append_returns_positions<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let topic = names.subject("positions");
    f.create_topic(&topic, 1).await;
    let producer = f.producer();
    let mut last = None;
    for i in 0..10 {
        let position = producer
            .append(numbered(&topic, Some("k".into()), i))
            .await
            .expect("append");
        assert_eq!(position.partition, 0);
        if let Some(last) = last {
            assert!(
                position.offset > last,
                "offsets must increase: {last} then {}",
                position.offset
            );
        }
        last = Some(position.offset);
    }
}

/// A nacked delivery comes back, marked as a further attempt; once acked it does not.
pub async fn nack_leads_to_redelivery<F: LogFixture>(f: &F) {
    let mut member = one_member(f, "nack", 1, 1).await;
    let wait = f.redelivery_timeout();
    let first = next_ok(&mut member, wait, "the first delivery").await;
    assert_eq!((number(&first), first.attempt()), (0, 1));
    let id = first.envelope().id();
    first.nack(Duration::from_millis(100)).await.expect("nack");
    let again = next_ok(&mut member, wait, "the redelivery after nack").await;
    assert_eq!(number(&again), 0);
    assert_eq!(
        again.envelope().id(),
        id,
        "a redelivery is the same message"
    );
    assert!(
        again.attempt() >= 2,
        "redelivery must count as a further attempt"
    );
    again.ack().await.expect("ack");
    match tokio::time::timeout(Duration::from_millis(500), member.next()).await {
        Err(_) => {}
        Ok(Some(Ok(extra))) => panic!("acked message delivered again: {extra:?}"),
        Ok(Some(Err(err))) => panic!("error after ack: {err}"),
        Ok(None) => panic!("the member's stream ended"),
    }
}

/// A nacked delivery does not come back before its delay has passed.
pub async fn nack_delay_is_honoured<F: LogFixture>(f: &F) {
    let mut member = one_member(f, "delay", 1, 1).await;
    let wait = f.redelivery_timeout();
    let first = next_ok(&mut member, wait, "the first delivery").await;
    let delay = Duration::from_millis(1500);
    let nacked_at = std::time::Instant::now();
    first.nack(delay).await.expect("nack");
    let again = next_ok(&mut member, wait + delay, "the delayed redelivery").await;
    let waited = nacked_at.elapsed();
    assert!(
        waited >= delay.mul_f32(0.9),
        "redelivered after {waited:?}, before the {delay:?} nack delay"
    );
    assert_eq!(number(&again), 0);
    again.ack().await.expect("ack");
}

/// A delivery dropped without ack or nack counts as a nack and comes back.
pub async fn dropped_delivery_is_redelivered<F: LogFixture>(f: &F) {
    let mut member = one_member(f, "dropped", 1, 2).await;
    let wait = f.redelivery_timeout();
    let first = next_ok(&mut member, wait, "the first delivery").await;
    assert_eq!(number(&first), 0);
    drop(first);
    // Offset 1 may already be on its way when the drop rewinds the partition, so it may come
    // before, after or on both sides of the redelivery of 0.
    let (mut redelivered, mut acked_one) = (false, false);
    while !(redelivered && acked_one) {
        let delivery = next_ok(&mut member, wait, "the dropped delivery to come back").await;
        match number(&delivery) {
            0 => {
                assert!(
                    delivery.attempt() > 1,
                    "a redelivery must count as a further attempt"
                );
                redelivered = true;
            }
            _ => acked_one = true,
        }
        delivery.ack().await.expect("ack");
    }
}

/// Deliveries that were never acked go to the next member once their consumer is gone.
pub async fn unacked_delivery_returns_after_consumer_dropped<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let topic = names.subject("unacked");
    let group = names.group("g");
    f.create_topic(&topic, 1).await;
    append_all(f, &topic, 0..3).await;
    let wait = f.redelivery_timeout();
    {
        let mut crashed = f
            .consumer()
            .join(&group, std::slice::from_ref(&topic))
            .await
            .expect("join");
        let first = next_ok(&mut crashed, wait, "delivery 0").await;
        assert_eq!(number(&first), 0);
        first.ack().await.expect("ack");
        for expected in 1..3 {
            let unacked = next_ok(&mut crashed, wait, "an unacked delivery").await;
            assert_eq!(number(&unacked), expected);
            // A crash: the delivery is neither acked, nacked nor dropped.
            std::mem::forget(unacked);
        }
    }
    let mut next = f
        .consumer()
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("rejoin");
    let mut got = Vec::new();
    while got.len() < 2 {
        let delivery = next_ok(
            &mut next,
            wait + f.settle_time(),
            "the unacked deliveries on the next member",
        )
        .await;
        got.push(number(&delivery));
        delivery.ack().await.expect("ack");
    }
    assert_eq!(
        got,
        [1, 2],
        "exactly the unacked deliveries come back, in order"
    );
}

/// Members that come and go, each acking part of the log, together see every message.
pub async fn no_loss_across_consumer_restarts<F: LogFixture>(f: &F) {
    const TOTAL: usize = 120;
    let names = Names::unique();
    let topic = names.subject("restarts");
    let group = names.group("g");
    f.create_topic(&topic, 2).await;
    append_all(f, &topic, 0..TOTAL / 2).await;
    let mut acked = HashSet::new();
    let mut restarts = 0;
    while acked.len() < TOTAL {
        restarts += 1;
        assert!(
            restarts <= 20,
            "no progress after {restarts} restarts: {} of {TOTAL} acked",
            acked.len()
        );
        let mut member = f
            .consumer()
            .join(&group, std::slice::from_ref(&topic))
            .await
            .expect("join");
        for _ in 0..25 {
            let Ok(Some(delivery)) =
                tokio::time::timeout(f.redelivery_timeout() + f.settle_time(), member.next()).await
            else {
                break;
            };
            let delivery = delivery.expect("delivery");
            acked.insert(number(&delivery));
            delivery.ack().await.expect("ack");
        }
        if restarts == 1 {
            append_all(f, &topic, TOTAL / 2..TOTAL).await;
        }
        drop(member);
    }
    assert_eq!(acked, (0..TOTAL).collect::<HashSet<_>>());
}

/// Messages that share a key arrive in the order they were appended.
pub async fn order_is_kept_per_key<F: LogFixture>(f: &F) {
    const KEYS: usize = 10;
    const PER_KEY: usize = 100;
    let names = Names::unique();
    let topic = names.subject("order");
    f.create_topic(&topic, 4).await;
    let mut member = f
        .consumer()
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    let producer = f.producer();
    for i in 0..KEYS * PER_KEY {
        let key = format!("key-{}", i % KEYS);
        producer
            .append(numbered(&topic, Some(key), i / KEYS))
            .await
            .expect("append");
    }
    let mut next_per_key: HashMap<String, usize> = HashMap::new();
    for _ in 0..KEYS * PER_KEY {
        let delivery = next_ok(&mut member, Duration::from_secs(30), "keyed deliveries").await;
        let key = delivery.envelope().key().expect("key kept").to_owned();
        let expected = next_per_key.entry(key.clone()).or_default();
        assert_eq!(number(&delivery), *expected, "key {key} out of order");
        *expected += 1;
        delivery.ack().await.expect("ack");
    }
    assert!(next_per_key.values().all(|&n| n == PER_KEY));
}

/// Two groups each see every message; the two members of one group split it between them.
pub async fn groups_each_see_everything_members_split<F: LogFixture>(f: &F) {
    const TOTAL: usize = 200;
    let names = Names::unique();
    let topic = names.subject("groups");
    f.create_topic(&topic, 4).await;
    let (split, whole) = (names.group("split"), names.group("whole"));
    let received: Arc<Mutex<HashMap<&'static str, Vec<usize>>>> = Arc::default();
    let join = async |group| {
        f.consumer()
            .join(group, std::slice::from_ref(&topic))
            .await
            .expect("join")
    };
    let mut splits = vec![join(&split).await, join(&split).await];
    let mut wholes = vec![join(&whole).await];
    await_assigned(f, &topic, &mut splits)
        .await
        .expect("the split group's assignment");
    await_assigned(f, &topic, &mut wholes)
        .await
        .expect("the whole group's assignment");
    let labels = ["split-1", "split-2", "whole"];
    let members: Vec<_> = labels
        .into_iter()
        .zip(splits.into_iter().chain(wholes))
        .collect();
    let producer = f.producer();
    for i in 0..TOTAL {
        producer
            .append(numbered(&topic, Some(format!("k{i}")), i))
            .await
            .expect("append");
    }
    let done = |received: &HashMap<&str, Vec<usize>>| {
        let split_total = received.get("split-1").map_or(0, Vec::len)
            + received.get("split-2").map_or(0, Vec::len);
        split_total >= TOTAL && received.get("whole").map_or(0, Vec::len) >= TOTAL
    };
    let mut tasks = Vec::new();
    for (label, mut stream) in members {
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(delivery) = stream.next().await {
                let delivery = delivery.expect("delivery");
                if is_probe(&delivery) {
                    delivery.ack().await.expect("ack a probe");
                    continue;
                }
                let finished = {
                    let mut all = received.lock().unwrap();
                    all.entry(label).or_default().push(number(&delivery));
                    done(&all)
                };
                delivery.ack().await.expect("ack");
                if finished {
                    break;
                }
            }
            stream
        }));
    }
    within(
        Duration::from_secs(60),
        "both groups to receive every message",
        async {
            while !done(&received.lock().unwrap()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
    for task in tasks {
        task.abort();
    }
    let received = received.lock().unwrap();
    let all: HashSet<usize> = (0..TOTAL).collect();
    let whole: HashSet<usize> = received["whole"].iter().copied().collect();
    assert_eq!(whole, all, "the second group must see every message");
    let one: HashSet<usize> = received
        .get("split-1")
        .into_iter()
        .flatten()
        .copied()
        .collect();
    let two: HashSet<usize> = received
        .get("split-2")
        .into_iter()
        .flatten()
        .copied()
        .collect();
    assert!(
        !one.is_empty() && !two.is_empty(),
        "both members must get a share: {} and {}",
        one.len(),
        two.len()
    );
    assert!(
        one.is_disjoint(&two),
        "members of one group must not both get a message"
    );
    assert_eq!(
        &one | &two,
        all,
        "the members together must see every message"
    );
}

/// After a nack, the rest of the partition. With
/// [`rewind_on_nack`](crate::LogCapabilities::rewind_on_nack) every later message comes again
/// after the nacked one, in order; otherwise each still arrives (nothing is lost).
pub async fn nack_and_partition_order<F: LogFixture>(f: &F) {
    const LATER: usize = 3;
    let rewinds = f.consumer().capabilities().rewind_on_nack;
    let mut member = one_member(f, "rewind", 1, LATER + 1).await;
    let wait = f.redelivery_timeout();
    let first = next_ok(&mut member, wait, "the first delivery").await;
    assert_eq!(number(&first), 0);
    first.nack(Duration::ZERO).await.expect("nack");
    // Deliveries that were on their way before the redelivery; a rewinding log sends them
    // again after it, so they stay unsettled until the end.
    let (mut before, mut held, mut after) = (Vec::new(), Vec::new(), Vec::new());
    let mut redelivered = false;
    let later = || 1..=LATER;
    while !(redelivered && later().all(|n| after.contains(&n) || (!rewinds && before.contains(&n))))
    {
        let delivery = next_ok(&mut member, wait, "the partition after a nack").await;
        let n = number(&delivery);
        if redelivered {
            after.push(n);
            delivery.ack().await.expect("ack");
        } else if n == 0 {
            redelivered = true;
            delivery.ack().await.expect("ack");
        } else {
            before.push(n);
            if rewinds {
                held.push(delivery);
            } else {
                delivery.ack().await.expect("ack");
            }
        }
    }
    for delivery in held {
        delivery.ack().await.expect("ack");
    }
    if rewinds {
        let mut firsts: Vec<usize> = Vec::new();
        for n in after {
            if !firsts.contains(&n) {
                firsts.push(n);
            }
        }
        assert_eq!(
            firsts,
            later().collect::<Vec<_>>(),
            "after the nacked message comes back, the rest of its partition follows in order"
        );
    }
}

/// Two members of one group, keyed messages over four partitions. With
/// [`per_key_order_multi_member`](crate::LogCapabilities::per_key_order_multi_member) each
/// key's messages go to one member, in order; otherwise the members together see every one.
pub async fn per_key_order_across_members<F: LogFixture>(f: &F) {
    const KEYS: usize = 8;
    const PER_KEY: usize = 25;
    let strict = f.consumer().capabilities().per_key_order_multi_member;
    let names = Names::unique();
    let topic = names.subject("keyorder");
    let group = names.group("g");
    f.create_topic(&topic, 4).await;
    type Seen = Arc<Mutex<Vec<(usize, String, usize)>>>;
    let seen: Seen = Arc::default();
    let mut members = Vec::new();
    for _ in 0..2 {
        members.push(
            f.consumer()
                .join(&group, std::slice::from_ref(&topic))
                .await
                .expect("join"),
        );
    }
    await_assigned(f, &topic, &mut members)
        .await
        .expect("the group's assignment");
    let mut tasks = Vec::new();
    for (member, mut stream) in members.into_iter().enumerate() {
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(delivery) = stream.next().await {
                let delivery = delivery.expect("delivery");
                if is_probe(&delivery) {
                    delivery.ack().await.expect("ack a probe");
                    continue;
                }
                let key = delivery.envelope().key().expect("key kept").to_owned();
                seen.lock().unwrap().push((member, key, number(&delivery)));
                delivery.ack().await.expect("ack");
            }
        }));
    }
    let producer = f.producer();
    for i in 0..KEYS * PER_KEY {
        producer
            .append(numbered(
                &topic,
                Some(format!("key-{}", i % KEYS)),
                i / KEYS,
            ))
            .await
            .expect("append");
    }
    let complete = |seen: &[(usize, String, usize)]| {
        let distinct: HashSet<(&str, usize)> = seen.iter().map(|(_, k, n)| (&**k, *n)).collect();
        distinct.len() >= KEYS * PER_KEY
    };
    within(
        Duration::from_secs(60),
        "the group to receive every message",
        async {
            while !complete(&seen.lock().unwrap()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
    for task in tasks {
        task.abort();
    }
    if !strict {
        return;
    }
    let seen = seen.lock().unwrap();
    for key in (0..KEYS).map(|k| format!("key-{k}")) {
        let of_key: Vec<&(usize, String, usize)> =
            seen.iter().filter(|(_, k, _)| *k == key).collect();
        let members: HashSet<usize> = of_key.iter().map(|(m, _, _)| *m).collect();
        assert_eq!(members.len(), 1, "{key} went to both members");
        let order: Vec<usize> = of_key.iter().map(|(_, _, n)| *n).collect();
        assert_eq!(
            order,
            (0..PER_KEY).collect::<Vec<_>>(),
            "{key} out of order"
        );
    }
}

/// The capability table of `docs/conformance.md`: one row per `(backend, capabilities)`,
/// `✅` where the backend promises (and the kit checks) the capability, `weaker` where the kit
/// checks the weaker guarantee.
pub fn capability_table(backends: &[(&str, crate::LogCapabilities)]) -> String {
    let mark = |promised: bool| if promised { "✅" } else { "weaker" };
    let mut table = String::from(
        "| backend | `rewind_on_nack` | `per_key_order_multi_member` |\n|---|---|---|\n",
    );
    for (backend, caps) in backends {
        table.push_str(&format!(
            "| {backend} | {} | {} |\n",
            mark(caps.rewind_on_nack),
            mark(caps.per_key_order_multi_member)
        ));
    }
    table
}
