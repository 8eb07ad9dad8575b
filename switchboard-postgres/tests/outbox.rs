//! The transactional outbox against live PostgreSQL (`DATABASE_URL`): commit and rollback,
//! order per key, two relays sharing a table, LISTEN/NOTIFY, and a relay process killed
//! between publishing and marking, with JetStream (`NATS_URL`) deduplicating the re-send.

mod common;

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::TestSchema;
use serde_json::json;
use sqlx::PgPool;
use switchboard_core::{
    Envelope, ErrorKind, Event, EventStore, Group, LogConsumer, NewEvent, Result, Subject,
    Subscriber, TopicAdmin,
    announce::AnnounceInsert,
    forward::{Append, Forward, Publish},
    testkit::{Names, assert_quiet, next_ok, traced, within},
    trace,
};
use switchboard_nats::{JetStreamConfig, JetStreamLog, NatsBus, NatsConfig, StorageType};
use switchboard_postgres::{
    PgEventStore,
    outbox::{self, Delivered, OutboxRelay, RelayConfig},
};
use tokio::sync::watch;
use tracing::Instrument;

/// Records what it is asked to forward, by relay, and counts it.
#[derive(Clone)]
struct Recorder {
    relay: &'static str,
    sent: Arc<Mutex<Vec<(&'static str, Envelope)>>>,
    count: Arc<watch::Sender<usize>>,
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            relay: "relay",
            sent: Arc::default(),
            count: Arc::new(watch::channel(0).0),
        }
    }

    /// The same record, for another relay.
    fn named(&self, relay: &'static str) -> Self {
        Recorder {
            relay,
            ..self.clone()
        }
    }

    async fn reaches(&self, n: usize, what: &str) {
        let mut rx = self.count.subscribe();
        within(Duration::from_secs(30), what, rx.wait_for(|c| *c >= n))
            .await
            .expect("counter alive");
    }

    fn sent(&self) -> Vec<(&'static str, Envelope)> {
        self.sent.lock().unwrap().clone()
    }
}

impl Forward for Recorder {
    async fn forward(&self, msg: Envelope) -> Result<()> {
        // A little latency, so two relays interleave.
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.sent.lock().unwrap().push((self.relay, msg));
        self.count.send_modify(|c| *c += 1);
        Ok(())
    }
}

fn subject() -> Subject {
    Subject::new("shop.orders.created").unwrap()
}

async fn pending(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn quick() -> RelayConfig {
    RelayConfig {
        batch_size: 10,
        poll_interval: Duration::from_millis(200),
        ..RelayConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_messages_are_relayed_once_in_order_with_everything_kept() {
    let schema = TestSchema::migrated().await;
    let pool = &schema.pool;
    let msgs: Vec<Envelope> = (0..3)
        .map(|n| {
            Envelope::new(subject(), format!("order {n}"))
                .with_key("customer-7")
                .with_header("trace", format!("t{n}"))
        })
        .collect();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO events (source, topic) VALUES ('shop', 'orders')")
        .execute(&mut *tx)
        .await
        .unwrap();
    outbox::enqueue_many(&mut tx, &msgs).await.unwrap();
    outbox::enqueue(&mut tx, &msgs[0]).await.unwrap(); // the same id again adds nothing
    tx.commit().await.unwrap();

    let recorder = Recorder::new();
    let relay = OutboxRelay::new(pool.clone(), recorder.clone()).with_config(quick());
    let report = relay.relay_batch().await.unwrap();
    assert_eq!((report.forwarded, report.held_back), (3, 0));
    let sent: Vec<Envelope> = recorder.sent().into_iter().map(|(_, m)| m).collect();
    for (got, want) in sent.iter().zip(&msgs) {
        assert_eq!(got.id(), want.id());
        assert_eq!(got.subject(), want.subject());
        assert_eq!(got.key(), Some("customer-7"));
        assert_eq!(got.headers(), want.headers());
        assert_eq!(got.payload(), want.payload());
        let micros = |m: &Envelope| {
            m.timestamp()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros()
        };
        assert_eq!(micros(got), micros(want), "the envelope's time is kept");
    }
    assert_eq!(pending(pool).await, 0, "forwarded rows are marked");
    let marked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(marked, 3);
    assert_eq!(relay.relay_batch().await.unwrap().forwarded, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_transaction_publishes_nothing() {
    let schema = TestSchema::migrated().await;
    let pool = &schema.pool;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO events (source, topic) VALUES ('shop', 'orders')")
        .execute(&mut *tx)
        .await
        .unwrap();
    outbox::enqueue(&mut tx, &Envelope::new(subject(), "rolled back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let committed = Envelope::new(subject(), "committed");
    let mut tx = pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, &committed).await.unwrap();
    tx.commit().await.unwrap();

    let recorder = Recorder::new();
    let relay = OutboxRelay::new(pool.clone(), recorder.clone()).with_config(quick());
    assert_eq!(relay.relay_batch().await.unwrap().forwarded, 1);
    let sent = recorder.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.id(), committed.id(), "only the committed message");
    assert_eq!(
        outbox_rows(pool).await,
        1,
        "the rolled-back row was never stored"
    );
}

async fn outbox_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_announced_commits_the_row_and_its_message_together() {
    let schema = TestSchema::migrated().await;
    let pool = &schema.pool;
    let store = PgEventStore::new(pool.clone());
    let event = NewEvent::new("web", "orders", json!({ "n": 1 }))
        .unwrap()
        .with_idempotency_key("order-1")
        .unwrap();
    let stored = store
        .insert_announced(event.clone(), &subject())
        .await
        .unwrap();
    assert_eq!(store.get(stored.id).await.unwrap().as_ref(), Some(&stored));
    // The same idempotency key again: the same row, and no second announcement.
    let again = store.insert_announced(event, &subject()).await.unwrap();
    assert_eq!(again, stored);
    assert_eq!(outbox_rows(pool).await, 1);
    // A value the database rejects: a typed error, and neither a row nor a message.
    let bad = NewEvent::new("web", "orders", json!({ "text": "nul \u{0}" })).unwrap();
    let err = store.insert_announced(bad, &subject()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert_eq!(store.page(None, 10).await.unwrap().events.len(), 1);
    assert_eq!(outbox_rows(pool).await, 1);

    let recorder = Recorder::new();
    let relay = OutboxRelay::new(pool.clone(), recorder.clone());
    assert_eq!(relay.relay_batch().await.unwrap().forwarded, 1);
    let (_, announced) = recorder.sent().remove(0);
    assert_eq!(announced.subject(), &subject());
    assert_eq!(announced.key(), Some("orders"));
    assert_eq!(announced.decode_json::<Event>().unwrap(), stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_never_both_send_a_row_and_keep_each_key_in_order() {
    const TOTAL: usize = 400;
    const KEYS: usize = 50;
    let schema = TestSchema::migrated().await;
    let pool = &schema.pool;
    for chunk in (0..TOTAL).collect::<Vec<_>>().chunks(40) {
        let msgs: Vec<Envelope> = chunk
            .iter()
            .map(|n| Envelope::new(subject(), n.to_string()).with_key(format!("k{}", n % KEYS)))
            .collect();
        let mut tx = pool.begin().await.unwrap();
        outbox::enqueue_many(&mut tx, &msgs).await.unwrap();
        tx.commit().await.unwrap();
    }
    let recorder = Recorder::new();
    let (stop, stopped) = watch::channel(false);
    let mut relays = Vec::new();
    for name in ["a", "b"] {
        let config = RelayConfig {
            delivered: if name == "a" {
                Delivered::Mark
            } else {
                Delivered::Delete
            },
            ..quick()
        };
        let relay = OutboxRelay::new(pool.clone(), recorder.named(name)).with_config(config);
        let mut stopped = stopped.clone();
        relays.push(tokio::spawn(async move {
            relay
                .run(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
                .unwrap()
        }));
    }
    recorder.reaches(TOTAL, "every row relayed").await;
    stop.send(true).unwrap();
    let mut by_relay = Vec::new();
    for relay in relays {
        by_relay.push(relay.await.unwrap());
    }
    let sent = recorder.sent();
    println!(
        "two relays: {} rows, relay a sent {}, relay b sent {}",
        sent.len(),
        by_relay[0],
        by_relay[1]
    );
    assert_eq!(sent.len(), TOTAL, "no row sent twice");
    let ids: HashSet<_> = sent.iter().map(|(_, m)| m.id()).collect();
    assert_eq!(ids.len(), TOTAL);
    assert!(
        by_relay.iter().all(|n| *n > 0),
        "both relays took part: {by_relay:?}"
    );
    let mut last: HashMap<String, usize> = HashMap::new();
    for (_, msg) in &sent {
        let n: usize = std::str::from_utf8(msg.payload()).unwrap().parse().unwrap();
        if let Some(before) = last.insert(msg.key().unwrap().to_owned(), n) {
            assert!(n > before, "{:?}: {n} sent after {before}", msg.key());
        }
    }
    assert_eq!(pending(pool).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_an_idle_relay() {
    let schema = TestSchema::migrated().await;
    let pool = schema.pool.clone();
    let enqueue_one = |payload: &'static str| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            outbox::enqueue(&mut tx, &Envelope::new(subject(), payload))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    };
    enqueue_one("before").await;
    let recorder = Recorder::new();
    let config = RelayConfig {
        poll_interval: Duration::from_secs(3600),
        ..RelayConfig::default()
    };
    let relay = OutboxRelay::new(pool.clone(), recorder.clone()).with_config(config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await
    });
    // The relay drains after it starts listening, so once this row is out it listens.
    recorder
        .reaches(1, "the row enqueued before the relay started")
        .await;
    enqueue_one("after").await;
    recorder
        .reaches(2, "a notified relay (its poll interval is an hour)")
        .await;
    stop.send(()).unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 2);
}

/// The schema the relay child process works in.
const CHILD_SCHEMA: &str = "SB_OUTBOX_CHILD_SCHEMA";

fn jetstream_config() -> JetStreamConfig {
    JetStreamConfig {
        stream_prefix: "SBTEST_".into(),
        storage: StorageType::Memory,
        ..JetStreamConfig::default()
    }
}

async fn jetstream() -> JetStreamLog {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    match NatsConfig::new(&url).connect().await {
        Ok(client) => JetStreamLog::with_config(client, jetstream_config()),
        Err(err) => panic!(
            "cannot reach NATS at {url} ({err:?}); start it with `scripts/test` or \
             `nats-server -js`, or set NATS_URL"
        ),
    }
}

/// Forwards, says so on stdout, then hangs: the parent kills the process right there,
/// after the publish and before the mark.
struct DiesAfterPublish(Append<JetStreamLog>);

impl Forward for DiesAfterPublish {
    async fn forward(&self, msg: Envelope) -> Result<()> {
        let id = msg.id();
        self.0.forward(msg).await?;
        println!("published {id}");
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the relay process that `relay_killed_between_publish_and_mark_resends_once` starts and kills"]
async fn relay_child_process() {
    let schema = std::env::var(CHILD_SCHEMA).expect("run by the parent test");
    let pool = switchboard_postgres::PgConfig::new(common::database_url())
        .schema(&schema)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let log = jetstream().await;
    let relay = OutboxRelay::new(pool, DiesAfterPublish(Append(log)));
    relay.relay_batch().await.unwrap();
    unreachable!("the forward never returns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_between_publish_and_mark_resends_once() {
    let schema = TestSchema::migrated().await;
    let pool = &schema.pool;
    let names = Names::unique();
    let topic = names.subject("outbox");
    let log = jetstream().await;
    log.create_topic(&topic, 1).await.expect("create stream");
    let msg = Envelope::new(topic.clone(), "exactly one copy").with_key("k");
    let mut tx = pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, &msg).await.unwrap();
    tx.commit().await.unwrap();

    // A relay process publishes the row to JetStream and is killed before it marks it.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "relay_child_process", "--ignored", "--nocapture"])
        .env(CHILD_SCHEMA, &schema.name)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the relay process");
    let stdout = child.stdout.take().unwrap();
    let published = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(std::io::Result::ok)
            .find(|line| line.starts_with("published "))
    });
    let line = within(
        Duration::from_secs(60),
        "the relay process to publish",
        published,
    )
    .await
    .unwrap()
    .expect("the relay process said it published");
    assert_eq!(line, format!("published {}", msg.id()));
    child.kill().expect("kill -9 the relay process");
    child.wait().unwrap();
    // Its transaction died with it: the row is still pending, and is sent again.
    assert_eq!(pending(pool).await, 1);
    let relay = OutboxRelay::new(pool.clone(), Append(log.clone()));
    let report = within(Duration::from_secs(30), "the second relay", async {
        loop {
            // The server may take a moment to end the killed backend and free its row lock.
            let report = relay.relay_batch().await.unwrap();
            if report.forwarded > 0 {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(report.forwarded, 1, "the row was sent a second time");
    assert_eq!(pending(pool).await, 0);

    // JetStream deduplicated the re-send on the envelope id: one copy.
    let mut stream = log
        .context()
        .get_stream(log.stream_name(&topic))
        .await
        .expect("stream");
    let stored = stream.info().await.expect("stream info").state.messages;
    println!("relay killed between publish and mark: sent 2 times, stored {stored}");
    assert_eq!(stored, 1);
    let mut member = log
        .join(
            &Group::new(format!("{}-g", names.id())).unwrap(),
            std::slice::from_ref(&topic),
        )
        .await
        .expect("join");
    let delivery = next_ok(&mut member, Duration::from_secs(10), "the relayed message").await;
    assert_eq!(delivery.envelope().id(), msg.id());
    delivery.ack().await.unwrap();
    assert_quiet(&mut member, Duration::from_secs(1), "a second copy").await;
    drop(member);
    log.delete_topic(&topic).await.expect("delete stream");
}

/// A message enqueued under a span is relayed to NATS in that span's trace: the enqueue's
/// producer span is a child of it, the relay forwards the row in a span of that one, and the
/// message on NATS carries the context of the relay's publish span, a child of the relay's.
#[test]
fn the_relay_continues_the_trace_of_the_enqueue() {
    traced::run(async {
        let schema = TestSchema::migrated().await;
        let pool = &schema.pool;
        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let bus = NatsBus::connect(&url)
            .await
            .unwrap_or_else(|err| panic!("cannot reach NATS at {url} ({err:?}); set NATS_URL"));
        let subject = Names::unique().subject("outbox");
        let mut sub = bus.subscribe(&subject.clone().into()).await.unwrap();

        let checkout = tracing::info_span!("checkout");
        let parent = traced::context_of(&checkout);
        async {
            let mut tx = pool.begin().await.unwrap();
            outbox::enqueue(&mut tx, &Envelope::new(subject.clone(), "order"))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        .instrument(checkout)
        .await;
        let relay = OutboxRelay::new(pool.clone(), Publish(bus.clone())).with_config(quick());
        assert_eq!(relay.relay_batch().await.unwrap().forwarded, 1);
        let got = next_ok(&mut sub, Duration::from_secs(10), "the relayed message").await;
        assert_eq!(trace::trace_id(got.headers()), Some(parent.trace_id()));

        let spans = traced::ended();
        let named = |name: String| {
            spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
                panic!(
                    "no span {name}: {:?}",
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
        };
        let enqueue = named(format!("enqueue {subject}"));
        let relayed = named(format!("process {subject}"));
        let publish = named(format!("publish {subject}"));
        assert_eq!(
            enqueue.parent_span_id,
            parent.span_id(),
            "enqueue ← checkout"
        );
        assert_eq!(
            relayed.parent_span_id,
            enqueue.span_context.span_id(),
            "relay ← enqueue"
        );
        assert_eq!(
            publish.parent_span_id,
            relayed.span_context.span_id(),
            "publish ← relay"
        );
        let carried = got.headers().get(trace::TRACEPARENT).unwrap_or_default();
        assert_eq!(
            carried.split('-').nth(2),
            Some(publish.span_context.span_id().to_string().as_str()),
            "the message carries the publish span's context: {carried}"
        );
    });
}
