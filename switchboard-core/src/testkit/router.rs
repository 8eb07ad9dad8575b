//! Consumer-router cases: each layer of [`crate::consume`] over a backend's durable log.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;
use tower::{Service, ServiceBuilder, ServiceExt, limit::ConcurrencyLimitLayer, service_fn};

use super::{LogFixture, Names, assert_quiet, assigned::await_assigned, next_ok, within};
use crate::{
    BoxError, Envelope, Error, Group, LogConsumer, LogProducer, Namespace, Topic,
    consume::{
        BatchLayer, DEAD_LETTER_ATTEMPTS, DEAD_LETTER_POSITION, DEAD_LETTER_REASON,
        DEAD_LETTER_TOPIC, DeadLetterLayer, DedupeLayer, Incoming, KeyOrderLayer, Outcome,
        RedeliverLayer, Router, RouterStats,
    },
    forward::Append,
    layer::{Backoff, RetryLayer, TimeoutLayer},
    mem::MemKv,
};

/// The longest any case waits for its deliveries to be worked.
const LIMIT: Duration = Duration::from_secs(60);

/// Counts events and lets a shutdown future wait for a number of them.
#[derive(Clone)]
struct Counter(Arc<watch::Sender<usize>>);

impl Counter {
    fn new() -> Self {
        Counter(Arc::new(watch::channel(0).0))
    }

    fn bump(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    /// Resolves once `n` events were counted; fails the case after [`LIMIT`].
    fn reaches(&self, n: usize, what: &'static str) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            within(LIMIT, what, rx.wait_for(|count| *count >= n))
                .await
                .expect("counter alive");
        }
    }
}

fn transient(what: &'static str) -> Error {
    Error::transient(std::io::Error::other(what))
}

fn numbered(topic: &Topic, key: &str, n: usize) -> Envelope {
    Envelope::new(topic.clone(), n.to_string()).with_key(key)
}

fn number(req: &Incoming) -> usize {
    std::str::from_utf8(req.envelope().payload())
        .expect("utf-8 payload")
        .parse()
        .expect("numbered payload")
}

/// A topic of the case's own with one partition, and its group.
async fn topic_and_group<F: LogFixture>(f: &F, names: &Names, name: &str) -> (Topic, Group) {
    let topic = names.subject(name);
    f.create_topic(&topic, 1).await;
    (topic, names.group(name))
}

/// Joins `group` and waits for the member's assignment ([`await_assigned`]).
async fn join_assigned<F: LogFixture>(
    f: &F,
    topic: &Topic,
    group: &Group,
) -> Result<<F::Consumer as LogConsumer>::Stream, String> {
    let member = f
        .consumer()
        .join(group, std::slice::from_ref(topic))
        .await
        .expect("join");
    let mut members = [member];
    await_assigned(f, topic, &mut members).await?;
    let [member] = members;
    Ok(member)
}

/// Joins `group` once it has its partition, appends `messages`, then routes until `until`
/// resolves.
async fn route<F, S>(
    f: &F,
    topic: &Topic,
    group: &Group,
    messages: Vec<Envelope>,
    router: Router<S>,
    until: impl Future<Output = ()> + Send,
) -> RouterStats
where
    F: LogFixture,
    S: Service<Incoming> + Send,
    S::Response: Into<Outcome>,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let member = join_assigned(f, topic, group)
        .await
        .expect("a new group has nothing but the probe");
    let producer = f.producer();
    for msg in messages {
        producer.append(msg).await.expect("append");
    }
    within(LIMIT, "the router to stop", router.run(member, until))
        .await
        .expect("router")
}

/// After routing, the group gets nothing more: everything was acked. A probe appended on
/// joining again comes first, and nothing follows it.
async fn assert_all_acked<F: LogFixture>(f: &F, topic: &Topic, group: &Group) {
    let mut again = join_assigned(f, topic, group)
        .await
        .unwrap_or_else(|unacked| panic!("every message was acked, but {unacked}"));
    let quiet = Duration::from_millis(500);
    assert_quiet(&mut again, quiet, "a group whose messages were all acked").await;
}

/// A service answering `Ok` is acked; the group gets nothing more.
pub async fn handled_deliveries_are_acked<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "acked").await;
    let handled = Counter::new();
    let count = handled.clone();
    let service = service_fn(move |_: Incoming| {
        count.bump();
        async { Ok::<_, Error>(()) }
    });
    let messages = (0..10).map(|n| numbered(&topic, "k", n)).collect();
    let until = handled.reaches(10, "ten handled deliveries");
    let stats = route(f, &topic, &group, messages, Router::new(service), until).await;
    assert_eq!(stats.handled, 10, "{stats:?}");
    assert_all_acked(f, &topic, &group).await;
}

/// [`RedeliverLayer`]: a failed call is nacked with a backoff and comes again, attempt by
/// attempt, until it succeeds.
pub async fn redeliver_layer_retries_by_nack_delay<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "redeliver").await;
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let (seen, handled) = (attempts.clone(), Counter::new());
    let done = handled.clone();
    let handler = service_fn(move |req: Incoming| {
        seen.lock().unwrap().push(req.attempt());
        let done = done.clone();
        async move {
            if req.attempt() < 3 {
                return Err(transient("not yet"));
            }
            done.bump();
            Ok(())
        }
    });
    let service = ServiceBuilder::new()
        .layer(RedeliverLayer::new(Backoff::new(Duration::from_millis(50))))
        .service(handler);
    let until = handled.reaches(1, "the third attempt to succeed");
    let messages = vec![numbered(&topic, "k", 0)];
    let stats = route(f, &topic, &group, messages, Router::new(service), until).await;
    assert_eq!(*attempts.lock().unwrap(), [1, 2, 3]);
    assert_eq!((stats.redelivered, stats.handled), (2, 1), "{stats:?}");
    assert_all_acked(f, &topic, &group).await;
}

/// [`RetryLayer`] retries in place: the delivery is made once, the handler called until it
/// succeeds.
pub async fn retry_layer_retries_in_place<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "inplace").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (counter, handled) = (calls.clone(), Counter::new());
    let done = handled.clone();
    let handler = service_fn(move |req: Incoming| {
        let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let done = done.clone();
        async move {
            assert_eq!(req.attempt(), 1, "retried in place, not redelivered");
            if call < 3 {
                return Err(transient("flaky"));
            }
            done.bump();
            Ok(())
        }
    });
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(5, Duration::from_millis(10)))
        .service(handler);
    let until = handled.reaches(1, "the in-place retry to succeed");
    let messages = vec![numbered(&topic, "k", 0)];
    let stats = route(f, &topic, &group, messages, Router::new(service), until).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!((stats.handled, stats.redelivered), (1, 0), "{stats:?}");
}

/// [`DeadLetterLayer`]: a message failing `max_attempts` deliveries, and one failing with a
/// permanent error at once, reach the dead-letter topic with reason and attempt headers, and
/// are acked.
pub async fn dead_letter_after_max_attempts<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "poison").await;
    let (dead, dead_group) = topic_and_group(f, &names, "dead").await;
    let dead_lettered = Counter::new();
    let handler = service_fn(|req: Incoming| async move {
        match number(&req) {
            0 => Err::<(), _>(transient("store unavailable")),
            _ => Err(Error::backend("cannot parse")),
        }
    });
    let service = ServiceBuilder::new()
        .layer(RedeliverLayer::new(Backoff::new(Duration::from_millis(20))))
        .layer(DeadLetterLayer::new(Append(f.producer()), dead.clone(), 3))
        .service(handler);
    let mut dead_letters = f
        .consumer()
        .join(&dead_group, std::slice::from_ref(&dead))
        .await
        .expect("join the dead-letter topic");
    let seen = dead_lettered.clone();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..2 {
            let delivery = next_ok(&mut dead_letters, LIMIT, "a dead letter").await;
            got.push(delivery.envelope().clone());
            delivery.ack().await.expect("ack dead letter");
            seen.bump();
        }
        got
    });
    let sent = vec![numbered(&topic, "a", 0), numbered(&topic, "b", 1)];
    let ids: Vec<_> = sent.iter().map(Envelope::id).collect();
    let until = dead_lettered.reaches(2, "two dead letters");
    let stats = route(f, &topic, &group, sent, Router::new(service), until).await;
    let mut got = reader.await.expect("dead-letter reader");
    got.sort_by_key(|msg| msg.payload().clone());
    for (msg, (id, attempts, reason)) in got.iter().zip([
        (ids[0], "3", "backend error: store unavailable"),
        (ids[1], "1", "backend error: cannot parse"),
    ]) {
        assert_eq!(msg.subject(), &dead);
        assert_eq!(msg.id(), id, "the dead letter keeps the envelope id");
        let header = |name| msg.headers().get(name);
        assert_eq!(header(DEAD_LETTER_ATTEMPTS), Some(attempts));
        assert_eq!(header(DEAD_LETTER_REASON), Some(reason));
        assert_eq!(header(DEAD_LETTER_TOPIC), Some(topic.as_str()));
        assert!(header(DEAD_LETTER_POSITION).is_some_and(|p| p.contains('@')));
    }
    assert_eq!(
        (stats.dead_lettered, stats.redelivered),
        (2, 2),
        "{stats:?}"
    );
    assert_all_acked(f, &topic, &group).await;
}

/// [`DedupeLayer`]: a message handled once and delivered again (its ack was lost) is acked as
/// a duplicate without running the handler again.
pub async fn dedupe_skips_a_handled_id<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "dedupe").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = service_fn(move |_: Incoming| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Error>(()) }
    });
    let seen = MemKv::new().namespace(Namespace::new("seen").expect("namespace"));
    let dedupe = ServiceBuilder::new()
        .layer(DedupeLayer::new(seen, Duration::from_secs(60)))
        .service(handler);
    // The first delivery's work is done, then it is nacked as if the ack had been lost.
    let settled = Counter::new();
    let count = settled.clone();
    let lost_ack = service_fn(move |req: Incoming| {
        let (dedupe, count) = (dedupe.clone(), count.clone());
        async move {
            let attempt = req.attempt();
            let outcome = dedupe.oneshot(req).await?;
            count.bump();
            Ok::<_, Error>(match attempt {
                1 => Outcome::Redeliver {
                    after: Duration::ZERO,
                },
                _ => outcome,
            })
        }
    });
    let until = settled.reaches(2, "the delivery and its redelivery");
    let messages = vec![numbered(&topic, "k", 0)];
    let stats = route(f, &topic, &group, messages, Router::new(lost_ack), until).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!((stats.redelivered, stats.duplicates), (1, 1), "{stats:?}");
    assert_all_acked(f, &topic, &group).await;
}

/// [`KeyOrderLayer`]: keys are worked in parallel, each key in order, also across a failure
/// and its redelivery.
pub async fn keys_in_parallel_each_key_in_order<F: LogFixture>(f: &F) {
    const KEYS: usize = 4;
    const PER_KEY: usize = 25;
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "keyed").await;
    let worked: Arc<Mutex<HashMap<String, Vec<usize>>>> = Arc::default();
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handled = Counter::new();
    let (log, done) = (worked.clone(), handled.clone());
    let (now, max) = (running.clone(), peak.clone());
    let handler = service_fn(move |req: Incoming| {
        let (log, done, now, max) = (log.clone(), done.clone(), now.clone(), max.clone());
        async move {
            let key = req.envelope().key().expect("keyed").to_owned();
            let n = number(&req);
            // Key 0's fifth message fails once, late: its successors must wait for it.
            if key == "key-0" && n == 5 && req.attempt() == 1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Err(transient("fails once"));
            }
            let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(inside, Ordering::SeqCst);
            // Even messages take longer: run side by side, a key's messages would finish
            // out of order.
            let work = if n.is_multiple_of(2) { 8 } else { 1 };
            tokio::time::sleep(Duration::from_millis(work)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            let mut log = log.lock().unwrap();
            let before = log.entry(key.clone()).or_default();
            if !before.contains(&n) {
                assert!(
                    (0..n).all(|m| before.contains(&m)),
                    "{key} message {n} worked before an earlier one: {before:?}"
                );
                before.push(n);
                done.bump();
            }
            Ok(())
        }
    });
    let service = ServiceBuilder::new()
        .layer(KeyOrderLayer::new().with_failure_delay(Duration::from_millis(50)))
        .layer(RedeliverLayer::new(Backoff::new(Duration::from_millis(50))))
        .service(handler);
    let messages = (0..KEYS * PER_KEY)
        .map(|i| numbered(&topic, &format!("key-{}", i % KEYS), i / KEYS))
        .collect();
    let until = handled.reaches(KEYS * PER_KEY, "every keyed message worked");
    let router = Router::new(service).with_max_in_flight(16);
    let stats = route(f, &topic, &group, messages, router, until).await;
    let worked = worked.lock().unwrap();
    for key in 0..KEYS {
        let got = &worked[&format!("key-{key}")];
        assert_eq!(*got, (0..PER_KEY).collect::<Vec<_>>(), "key-{key}");
    }
    assert!(
        peak.load(Ordering::SeqCst) > 1,
        "different keys never ran in parallel"
    );
    assert!(stats.redelivered >= 1, "{stats:?}");
}

/// [`TimeoutLayer`]: a call that hangs fails as a timeout and its redelivery succeeds.
pub async fn timeout_layer_fails_a_hung_call<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "timeout").await;
    let handled = Counter::new();
    let done = handled.clone();
    let handler = service_fn(move |req: Incoming| {
        let done = done.clone();
        async move {
            if req.attempt() == 1 {
                std::future::pending::<()>().await;
            }
            done.bump();
            Ok::<_, Error>(())
        }
    });
    let service = ServiceBuilder::new()
        .layer(RedeliverLayer::new(Backoff::new(Duration::from_millis(10))))
        .layer(TimeoutLayer::new(Duration::from_millis(200)))
        .service(handler);
    let until = handled.reaches(1, "the redelivery after a timeout");
    let messages = vec![numbered(&topic, "k", 0)];
    let stats = route(f, &topic, &group, messages, Router::new(service), until).await;
    assert_eq!((stats.redelivered, stats.handled), (1, 1), "{stats:?}");
}

/// `tower::limit::ConcurrencyLimitLayer` caps the calls in flight below the router's cap.
pub async fn concurrency_limit_caps_calls<F: LogFixture>(f: &F) {
    const TOTAL: usize = 20;
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "limit").await;
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handled = Counter::new();
    let (now, max, done) = (running.clone(), peak.clone(), handled.clone());
    let handler = service_fn(move |_: Incoming| {
        let (now, max, done) = (now.clone(), max.clone(), done.clone());
        async move {
            let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(inside, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            done.bump();
            Ok::<_, Error>(())
        }
    });
    let service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(2))
        .service(handler);
    let messages = (0..TOTAL)
        .map(|n| numbered(&topic, &format!("k{n}"), n))
        .collect();
    let until = handled.reaches(TOTAL, "every message handled");
    let router = Router::new(service).with_max_in_flight(16);
    let stats = route(f, &topic, &group, messages, router, until).await;
    assert_eq!(stats.handled, TOTAL as u64, "{stats:?}");
    assert_eq!(peak.load(Ordering::SeqCst), 2, "at most two calls at once");
}

/// Shutdown stops taking deliveries, and the stream's deliveries are worked until then.
pub async fn shutdown_returns_once_in_flight_calls_settle<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "shutdown").await;
    let started = Counter::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let (begun, ended) = (started.clone(), finished.clone());
    let handler = service_fn(move |_: Incoming| {
        let (begun, ended) = (begun.clone(), ended.clone());
        async move {
            begun.bump();
            tokio::time::sleep(Duration::from_millis(200)).await;
            ended.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(())
        }
    });
    let until = started.reaches(1, "the first call to start");
    let messages = vec![numbered(&topic, "k", 0)];
    let stats = route(f, &topic, &group, messages, Router::new(handler), until).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the call in flight ran to the end"
    );
    assert_eq!(stats.handled, 1, "and was acked: {stats:?}");
    assert_all_acked(f, &topic, &group).await;
}

/// Nacks settled out of offset order — a later message's before an earlier one's — both
/// bring their message again: the log must not take the earlier nack as stale once it has
/// rewound to the later one.
pub async fn nacks_settled_out_of_order_all_come_again<F: LogFixture>(f: &F) {
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "nackorder").await;
    let later_nacked = Counter::new();
    let handled: Arc<Mutex<Vec<usize>>> = Arc::default();
    let done = Counter::new();
    let (nacked, seen, count) = (later_nacked.clone(), handled.clone(), done.clone());
    let handler = service_fn(move |req: Incoming| {
        let (nacked, seen, count) = (nacked.clone(), seen.clone(), count.clone());
        async move {
            let n = number(&req);
            if req.attempt() == 1 {
                match n {
                    // The earlier message fails only once the later one has answered.
                    0 => nacked.reaches(1, "the later message's nack").await,
                    _ => nacked.bump(),
                }
                return Ok::<_, Error>(Outcome::Redeliver {
                    after: Duration::ZERO,
                });
            }
            let mut seen = seen.lock().unwrap();
            if !seen.contains(&n) {
                seen.push(n);
                count.bump();
            }
            Ok(Outcome::Handled)
        }
    });
    let messages = vec![numbered(&topic, "a", 0), numbered(&topic, "b", 1)];
    let until = done.reaches(2, "both nacked messages to come again");
    let router = Router::new(handler).with_max_in_flight(2);
    let stats = route(f, &topic, &group, messages, router, until).await;
    let mut handled = handled.lock().unwrap().clone();
    handled.sort_unstable();
    assert_eq!(handled, [0, 1]);
    assert!(stats.redelivered >= 2, "{stats:?}");
    assert_all_acked(f, &topic, &group).await;
}

/// A batch service that records each batch's numbers, and fails the first `fail` batches.
fn recording_batches(
    fail: usize,
    batches: Arc<Mutex<Vec<Vec<usize>>>>,
    handled: Counter,
) -> impl Service<Vec<Incoming>, Response = Vec<Outcome>, Error = Error, Future: Send>
+ Clone
+ Send
+ 'static {
    let calls = Arc::new(AtomicUsize::new(0));
    service_fn(move |batch: Vec<Incoming>| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        let (batches, handled) = (batches.clone(), handled.clone());
        async move {
            if call < fail {
                return Err(transient("store unavailable"));
            }
            let numbers: Vec<usize> = batch.iter().map(number).collect();
            for _ in &numbers {
                handled.bump();
            }
            batches.lock().unwrap().push(numbers);
            Ok(vec![Outcome::Handled; batch.len()])
        }
    })
}

/// [`BatchLayer`]: a partition's backlog is worked in batches of at most the maximum, in
/// order, each message once, and acked.
pub async fn batch_layer_works_a_backlog_in_order<F: LogFixture>(f: &F) {
    const TOTAL: usize = 60;
    const MAX: usize = 16;
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "batched").await;
    let (batches, handled) = (Arc::<Mutex<Vec<Vec<usize>>>>::default(), Counter::new());
    let service = ServiceBuilder::new()
        .layer(BatchLayer::new(MAX, Duration::from_millis(20)))
        .service(recording_batches(0, batches.clone(), handled.clone()));
    let messages = (0..TOTAL)
        .map(|n| numbered(&topic, &format!("k{}", n % 3), n))
        .collect();
    let until = handled.reaches(TOTAL, "every message worked in a batch");
    let router = Router::new(service).with_max_in_flight(64);
    let stats = route(f, &topic, &group, messages, router, until).await;
    let batches = batches.lock().unwrap().clone();
    let worked: Vec<usize> = batches.iter().flatten().copied().collect();
    assert_eq!(worked, (0..TOTAL).collect::<Vec<_>>(), "in order, once");
    assert!(batches.iter().all(|b| b.len() <= MAX), "{batches:?}");
    assert!(
        batches.iter().any(|b| b.len() > 1),
        "never batched: {batches:?}"
    );
    assert_eq!(stats.handled, TOTAL as u64, "{stats:?}");
    assert_all_acked(f, &topic, &group).await;
}

/// [`BatchLayer`]: a failed batch is redelivered, and the partition's messages are still
/// worked in order, none skipped.
pub async fn batch_layer_redelivers_a_failed_batch_in_order<F: LogFixture>(f: &F) {
    const TOTAL: usize = 30;
    let names = Names::unique();
    let (topic, group) = topic_and_group(f, &names, "batchfail").await;
    let (batches, handled) = (Arc::<Mutex<Vec<Vec<usize>>>>::default(), Counter::new());
    let batch = BatchLayer::new(8, Duration::from_millis(20))
        .with_backoff(Backoff::new(Duration::from_millis(50)));
    let service = ServiceBuilder::new()
        .layer(batch)
        .service(recording_batches(1, batches.clone(), handled.clone()));
    let messages = (0..TOTAL).map(|n| numbered(&topic, "k", n)).collect();
    let until = handled.reaches(TOTAL, "every message worked after the failed batch");
    let router = Router::new(service).with_max_in_flight(32);
    let stats = route(f, &topic, &group, messages, router, until).await;
    let worked: Vec<usize> = batches.lock().unwrap().iter().flatten().copied().collect();
    let mut first_times = Vec::new();
    for n in &worked {
        if !first_times.contains(n) {
            first_times.push(*n);
        }
    }
    assert_eq!(
        first_times,
        (0..TOTAL).collect::<Vec<_>>(),
        "worked in order after the failure: {worked:?}"
    );
    assert!(stats.redelivered >= 1, "{stats:?}");
    assert_all_acked(f, &topic, &group).await;
}
