//! A group's leader that vanishes without leaving: the survivor gets every partition.
//!
//! A static member does not leave its group when it closes, so to the coordinator a closed
//! static leader looks like a SIGKILLed one. On tansu 0.6 the group then keeps the dead member
//! as its leader and never completes a rebalance again, unless the survivor's watchdog repairs
//! it (docs/backends.md); on Apache Kafka the survivor leads the next generation by itself.

mod common;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use switchboard_core::{Envelope, Group, LogConsumer, LogProducer, Topic, TopicAdmin};
use switchboard_kafka::{KafkaConsumer, KafkaDeliveries};
use tokio::time::Instant;

const PARTITIONS: u32 = 4;
/// tansu pauses static members 3 s in each of JoinGroup and SyncGroup; 10 s leaves room.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The partitions a member has received records from, and when it received the last new one.
type Seen = Arc<Mutex<BTreeSet<u32>>>;

fn read(mut stream: KafkaDeliveries) -> (Seen, tokio::task::JoinHandle<KafkaDeliveries>) {
    let seen = Seen::default();
    let partitions = seen.clone();
    let reader = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
                Err(_quiet) => {}
                Ok(Some(delivery)) => {
                    let delivery = delivery.expect("delivery");
                    partitions
                        .lock()
                        .unwrap()
                        .insert(delivery.position().partition);
                    delivery.ack().await.expect("ack");
                }
                Ok(None) => return stream,
            }
            if Arc::strong_count(&partitions) == 1 {
                return stream;
            }
        }
    });
    (seen, reader)
}

async fn wait_for(what: &str, within: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivor_takes_over_the_partitions_of_a_vanished_leader() {
    let config = common::config().with_session_timeout(SESSION_TIMEOUT);
    let kafka = common::Kafka::with_config(config.clone());
    let run = uuid::Uuid::now_v7().simple().to_string();
    let topic = Topic::new(format!("sb-leader-loss-{run}")).unwrap();
    let group = Group::new(format!("sb-leader-loss-{run}")).unwrap();
    kafka.admin.create_topic(&topic, PARTITIONS).await.unwrap();

    // Records on every partition all along, so a member's partitions show in what it reads.
    let producer = kafka.producer.clone();
    let feed_topic = topic.clone();
    let feed = tokio::spawn(async move {
        for i in 0u64.. {
            let record =
                Envelope::new(feed_topic.clone(), i.to_string()).with_key(format!("k{}", i % 32));
            producer.append(record).await.expect("append");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let member = |id: &str| KafkaConsumer::new(&config.clone().with_group_instance_id(id));
    let (member_a, member_b) = (member("a"), member("b"));
    // Both join the group's first generation: a static member added to a stable cooperative
    // group later may wait for partitions on tansu (docs/backends.md).
    let topics = std::slice::from_ref(&topic);
    let (a, b) = tokio::join!(member_a.join(&group, topics), member_b.join(&group, topics));
    let (seen_a, reader_a) = read(a.unwrap());
    let (seen_b, reader_b) = read(b.unwrap());
    wait_for(
        "both members being assigned partitions",
        Duration::from_secs(90),
        || !seen_a.lock().unwrap().is_empty() && !seen_b.lock().unwrap().is_empty(),
    )
    .await;
    // tansu names the leader (a static member's id starts with its instance id); Apache Kafka
    // does not, and there either member may go.
    let leader = kafka.admin.group_leader(&group).await.unwrap();
    let a_leads = leader.as_deref().is_none_or(|id| id.starts_with("a-"));
    eprintln!("the group's leader: {leader:?}");
    let (led, leader_reader, survived, survivor_reader) = if a_leads {
        (seen_a, reader_a, seen_b, reader_b)
    } else {
        (seen_b, reader_b, seen_a, reader_a)
    };

    // Closing a static member commits and does not leave: the leader's session runs out.
    drop(led);
    leader_reader.await.unwrap().close().await.unwrap();
    let gone = Instant::now();
    survived.lock().unwrap().clear();
    let bound = SESSION_TIMEOUT + config.rebalance_stall_timeout() + Duration::from_secs(20);
    wait_for("the survivor reading every partition", bound, || {
        survived.lock().unwrap().len() == PARTITIONS as usize
    })
    .await;
    eprintln!(
        "leader gone: the survivor read all {PARTITIONS} partitions {:.1} s later (session timeout {SESSION_TIMEOUT:?}, bound {bound:?})",
        gone.elapsed().as_secs_f64()
    );
    feed.abort();
    drop(survived);
    survivor_reader.await.unwrap().close().await.unwrap();
}
