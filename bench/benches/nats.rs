//! NATS against raw async-nats on the same server (`NATS_URL`, default
//! `nats://127.0.0.1:4222`):
//!
//! - pub→sub, 128 B: one publishing and one subscribing connection per side; messages received
//!   per second by the subscriber. The publisher keeps at most [`WINDOW`] messages ahead of the
//!   subscriber, so the server never cuts either side off as a slow consumer.
//! - request/reply, 128 B: one request at a time; the SDK requester against an SDK responder,
//!   raw `Client::request` against a raw responder loop; p50 and p99 of the round trip.
//!
//! `SB_BENCH_NATS_ONLY=raw` (or `sdk`) runs one side alone, each path with a non-zero size
//! once, and prints its figures without a table: a profile of one side (callgrind) then holds
//! nothing of the other.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt;
use switchboard_bench::{Better, Latencies, Sample, compare, env, number, print_header, rounds};
use switchboard_core::{Envelope, Pattern, Publisher, Requester, Responder, Subject, Subscriber};
use switchboard_nats::NatsBus;
use tokio::sync::Notify;

const WINDOW: usize = 8 * 1024;
const DEADLINE: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(5);

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("bench.{what}.{}x{nanos}", std::process::id())
}

/// Waits until the server has processed this client's earlier commands: `flush` only writes
/// the socket, so a subscription is known to the server once a message to our own inbox,
/// sent after it, comes back (what the SDK does before `subscribe` and `serve` return).
async fn settled(client: &async_nats::Client) {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.unwrap();
    client.publish(inbox, Bytes::new()).await.unwrap();
    client.flush().await.unwrap();
    tokio::time::timeout(TIMEOUT, echo.next())
        .await
        .expect("the server did not echo within the timeout");
}

/// What the subscriber has received so far; the publisher waits on it to stay within the window.
#[derive(Default)]
struct Progress {
    received: AtomicUsize,
    moved: Notify,
}

impl Progress {
    fn received(&self) {
        let n = self.received.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(256) {
            self.moved.notify_one();
        }
    }

    /// Waits until the subscriber is within the window of `sent`; false if it stopped moving.
    async fn wait_for(&self, sent: usize) -> bool {
        while sent - self.received.load(Ordering::Relaxed) > WINDOW {
            if tokio::time::timeout(Duration::from_secs(2), self.moved.notified())
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// Publishes `messages` through `publish` within the window, then waits for the subscriber
/// task to report its count; returns msg/s as seen by the subscriber.
async fn throughput(
    messages: usize,
    progress: Arc<Progress>,
    subscriber: tokio::task::JoinHandle<()>,
    mut publish: impl AsyncFnMut(),
) -> Sample {
    let started = Instant::now();
    for sent in 1..=messages {
        publish().await;
        if sent.is_multiple_of(256) && !progress.wait_for(sent).await {
            break;
        }
    }
    let _ = tokio::time::timeout(DEADLINE, subscriber).await;
    let received = progress.received.load(Ordering::Relaxed);
    vec![
        ("msg/s", received as f64 / started.elapsed().as_secs_f64()),
        ("lost", (messages - received) as f64),
    ]
}

async fn raw_throughput(
    publisher: &async_nats::Client,
    subscriber: &async_nats::Client,
    messages: usize,
) -> Sample {
    let subject = unique("pubsub");
    let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
    settled(subscriber).await;
    let progress = Arc::new(Progress::default());
    let counting = progress.clone();
    let task = tokio::spawn(async move {
        for _ in 0..messages {
            let Some(msg) = sub.next().await else { break };
            std::hint::black_box(&msg);
            counting.received();
        }
    });
    let subject = async_nats::Subject::from(subject);
    let payload = Bytes::from(vec![7u8; 128]);
    let sample = throughput(messages, progress, task, async || {
        publisher
            .publish(subject.clone(), payload.clone())
            .await
            .unwrap()
    })
    .await;
    publisher.flush().await.unwrap();
    sample
}

async fn sdk_throughput(publisher: &NatsBus, subscriber: &NatsBus, messages: usize) -> Sample {
    let subject = Subject::new(unique("pubsub")).unwrap();
    let mut sub = subscriber
        .subscribe(&Pattern::from(subject.clone()))
        .await
        .unwrap();
    let progress = Arc::new(Progress::default());
    let counting = progress.clone();
    let task = tokio::spawn(async move {
        for _ in 0..messages {
            let Some(msg) = sub.next().await else { break };
            std::hint::black_box(&msg.unwrap());
            counting.received();
        }
    });
    let template = Envelope::new(subject, vec![7u8; 128]);
    let sample = throughput(messages, progress, task, async || {
        publisher.publish(template.clone()).await.unwrap()
    })
    .await;
    publisher.client().flush().await.unwrap();
    sample
}

fn latency_sample(mut latencies: Latencies) -> Sample {
    vec![
        ("p50 µs", latencies.percentile_us(50.0)),
        ("p99 µs", latencies.percentile_us(99.0)),
    ]
}

async fn raw_request(
    requester: &async_nats::Client,
    responder: &async_nats::Client,
    requests: usize,
) -> Sample {
    let subject = unique("request");
    let mut sub = responder.subscribe(subject.clone()).await.unwrap();
    settled(responder).await;
    let replier = responder.clone();
    let serving = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                replier.publish(reply, msg.payload).await.unwrap();
            }
        }
    });
    let payload = Bytes::from(vec![7u8; 128]);
    let mut latencies = Latencies::with_capacity(requests);
    let deadline = Instant::now() + DEADLINE;
    for _ in 0..requests {
        let at = Instant::now();
        let reply = requester
            .request(subject.clone(), payload.clone())
            .await
            .unwrap();
        latencies.push(at.elapsed());
        std::hint::black_box(reply);
        if Instant::now() > deadline {
            break;
        }
    }
    serving.abort();
    latency_sample(latencies)
}

async fn sdk_request(requester: &NatsBus, responder: &NatsBus, requests: usize) -> Sample {
    let subject = Subject::new(unique("request")).unwrap();
    let echo =
        tower::service_fn(
            |msg: Envelope| async move { Ok::<Bytes, Infallible>(msg.payload().clone()) },
        );
    let serving = responder.serve(&subject, None, echo).await.unwrap();
    let payload = Bytes::from(vec![7u8; 128]);
    let mut latencies = Latencies::with_capacity(requests);
    let deadline = Instant::now() + DEADLINE;
    for _ in 0..requests {
        let at = Instant::now();
        let reply = requester
            .request(Envelope::new(subject.clone(), payload.clone()), TIMEOUT)
            .await
            .unwrap();
        latencies.push(at.elapsed());
        std::hint::black_box(reply);
        if Instant::now() > deadline {
            break;
        }
    }
    serving.stop().await;
    latency_sample(latencies)
}

#[tokio::main]
async fn main() {
    let url = env("NATS_URL", "nats://127.0.0.1:4222");
    let connect = async || {
        async_nats::connect(url.as_str())
            .await
            .unwrap_or_else(|err| panic!("NATS at {url}: {err} (set NATS_URL)"))
    };
    let (raw_pub, raw_sub) = (connect().await, connect().await);
    let (sdk_pub, sdk_sub) = (
        NatsBus::connect(&url).await.unwrap(),
        NatsBus::connect(&url).await.unwrap(),
    );
    let messages = number("SB_BENCH_NATS_MESSAGES", 300_000);
    let requests = number("SB_BENCH_NATS_REQUESTS", 4_000);
    match env("SB_BENCH_NATS_ONLY", "").as_str() {
        "" => {}
        "raw" => {
            if messages > 0 {
                eprintln!(
                    "raw pub→sub: {:?}",
                    raw_throughput(&raw_pub, &raw_sub, messages).await
                );
            }
            if requests > 0 {
                eprintln!(
                    "raw request: {:?}",
                    raw_request(&raw_pub, &raw_sub, requests).await
                );
            }
            return;
        }
        "sdk" => {
            if messages > 0 {
                eprintln!(
                    "sdk pub→sub: {:?}",
                    sdk_throughput(&sdk_pub, &sdk_sub, messages).await
                );
            }
            if requests > 0 {
                eprintln!(
                    "sdk request: {:?}",
                    sdk_request(&sdk_pub, &sdk_sub, requests).await
                );
            }
            return;
        }
        other => panic!("SB_BENCH_NATS_ONLY={other}: expected raw or sdk"),
    }
    print_header();
    compare(
        "NATS pub→sub, 128 B (raw: async-nats)",
        rounds(),
        &[("msg/s", Better::Higher, 0.9)],
        async || raw_throughput(&raw_pub, &raw_sub, messages).await,
        async || sdk_throughput(&sdk_pub, &sdk_sub, messages).await,
    )
    .await;
    compare(
        "NATS request/reply, 128 B (raw: async-nats)",
        rounds(),
        &[
            ("p50 µs", Better::Lower, 1.05),
            ("p99 µs", Better::Lower, 1.2),
        ],
        async || raw_request(&raw_pub, &raw_sub, requests).await,
        async || sdk_request(&sdk_pub, &sdk_sub, requests).await,
    )
    .await;
}
