//! f. A three-node NATS cluster (routes, JetStream, streams with 3 replicas); the services get
//! all three URLs. The node the gateway is connected to is SIGKILLed mid-stream: the JetStream
//! log loses no acknowledged append, and request/reply and subscriptions resume on another node.

use std::{collections::BTreeSet, time::Duration};

use futures::StreamExt;
use switchboard_core::{Envelope, Group, LogConsumer, LogProducer, Topic, TopicAdmin};
use switchboard_nats::{JetStreamConfig, JetStreamLog, NatsConfig};
use tokio::{task::JoinHandle, time::Instant};

use crate::{
    eventually,
    fleet::start_all,
    live::Http,
    load::{Load, Rows},
    probes::{request_answers, results_resume},
    report, serial,
    stack::{Own, Stack},
};

const RECORDS: u64 = 2_000;
const APPENDS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_nats_node_lost() {
    let _serial = serial().await;
    let started = Instant::now();
    let mut stack = Stack::start(
        "f",
        Own {
            postgres: true,
            nats_cluster: true,
        },
    )
    .await;
    let backends = stack.backends.clone();
    let (processor, notifier, gateway) = start_all(&backends).await;
    let http = gateway.http();
    let csrf = http.csrf_token().await;
    let mut results = http.open_sse("/kafka/results").await;

    let log = replicated_log(&backends.nats).await;
    let topic = Topic::new(format!("faults.js.{}", uuid::Uuid::new_v4().simple())).unwrap();
    eventually(
        "a stream with 3 replicas",
        Duration::from_secs(30),
        || async { log.create_topic(&topic, 1).await.ok() },
    )
    .await;
    let mut member = log
        .join(
            &Group::new("faults-f").unwrap(),
            std::slice::from_ref(&topic),
        )
        .await
        .unwrap();
    let writer = append_all(log.clone(), topic.clone());
    let load = Load::start(gateway.port, &csrf, RECORDS);
    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    let mut received = BTreeSet::new();
    while received.len() < APPENDS / 3 {
        received.insert(next_number(&mut member).await);
    }
    rows.wait_for(RECORDS / 4, Duration::from_secs(120)).await;

    // The node the gateway talks to (its chat bridge subscription shows where) dies.
    let cluster = stack.cluster.as_mut().expect("cluster");
    let victim = node_of_gateway(&cluster.monitor_ports).await;
    let also = services_on(cluster.monitor_ports[victim]).await;
    cluster.nodes[victim].kill();
    let killed = Instant::now();
    let request_back = request_answers(&http, &csrf, killed, Duration::from_secs(15)).await;
    let marker = format!("f{}", uuid::Uuid::new_v4().simple());
    let results_back = results_resume(
        &http,
        &csrf,
        &mut results,
        &backends.postgres,
        &marker,
        killed,
    )
    .await;

    let appended = writer.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < appended.len() {
        let next = tokio::time::timeout_at(deadline, next_number(&mut member)).await;
        received.insert(next.unwrap_or_else(|_| {
            panic!(
                "the JetStream member got {} of {} acknowledged appends",
                received.len(),
                appended.len()
            )
        }));
    }
    let lost: Vec<_> = appended.difference(&received).collect();
    let sent = load.finish(Duration::from_secs(300)).await;
    let tally = rows.settle(&sent.ok, Duration::from_secs(180)).await;
    report(
        "f: NATS node lost",
        &[
            format!(
                "killed nats-{} (the gateway's node; also hosting {also} of the services' connections)",
                victim + 1
            ),
            format!(
                "request/reply answered {:.1} s after the kill, processed results on the open stream {:.1} s",
                request_back.as_secs_f64(),
                results_back.as_secs_f64()
            ),
            format!(
                "JetStream (3 replicas): {} appends acknowledged, {} received, {} lost",
                appended.len(),
                received.len(),
                lost.len()
            ),
            tally.summary(&sent),
            format!("took {:.1} s", started.elapsed().as_secs_f64()),
        ],
    );
    assert!(lost.is_empty(), "acknowledged appends lost: {lost:?}");
    assert_eq!(appended.len(), APPENDS);
    assert_eq!(sent.ok.len() as u64, RECORDS, "refused: {:?}", sent.refused);
    tally.assert_exactly_once("f");
    drop((processor, notifier, gateway));
    stack.finish().await;
}

async fn replicated_log(urls: &str) -> JetStreamLog {
    let client = NatsConfig::new(urls).connect().await.unwrap();
    let config = JetStreamConfig {
        replicas: 3,
        ack_wait: Duration::from_secs(3),
        ..JetStreamConfig::default()
    };
    JetStreamLog::with_config(client, config)
}

/// Appends 0..APPENDS in order, each retried with the same envelope (the same message id, so
/// the stream stores it once) until acknowledged; the numbers acknowledged.
fn append_all(log: JetStreamLog, topic: Topic) -> JoinHandle<BTreeSet<usize>> {
    tokio::spawn(async move {
        let mut acked = BTreeSet::new();
        for i in 0..APPENDS {
            let msg = Envelope::new(topic.clone(), i.to_string());
            let deadline = Instant::now() + Duration::from_secs(30);
            while let Err(err) = log.append(msg.clone()).await {
                assert!(
                    Instant::now() < deadline,
                    "append {i} failed for 30 s: {err}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            acked.insert(i);
        }
        acked
    })
}

async fn next_number(member: &mut <JetStreamLog as LogConsumer>::Stream) -> usize {
    let delivery = member
        .next()
        .await
        .expect("the member stream stays open")
        .expect("a delivery");
    let n = std::str::from_utf8(delivery.envelope().payload())
        .unwrap()
        .parse()
        .unwrap();
    // An ack lost with the node comes again; the set absorbs it.
    let _ = delivery.ack().await;
    n
}

/// The node whose clients include the gateway (the one subscribed to the chat bridge).
async fn node_of_gateway(monitor_ports: &[u16]) -> usize {
    for (i, port) in monitor_ports.iter().enumerate() {
        let connz = Http::new(*port).get("/connz?subs=1").await.body;
        if connz.contains("switchboard.chat") {
            return i;
        }
    }
    panic!("no node has the gateway's connection");
}

/// How many of the services' connections a node holds (the suite's own client excluded).
async fn services_on(monitor_port: u16) -> usize {
    let connz = Http::new(monitor_port).get("/connz?subs=1").await.body;
    let report: serde_json::Value = serde_json::from_str(&connz).unwrap();
    report["connections"].as_array().map_or(0, |conns| {
        conns
            .iter()
            .filter(|c| {
                c["subscriptions_list"].as_array().is_some_and(|subs| {
                    subs.iter()
                        .any(|s| s.as_str().is_some_and(|s| s.starts_with("switchboard.")))
                })
            })
            .count()
    })
}
