//! NATS against raw async-nats on the same server (`NATS_URL`, default
//! `nats://127.0.0.1:4222`):
//!
//! - pub→sub, 128 B: one publishing and one subscribing connection per side; messages received
//!   per second by the subscriber. The publisher keeps at most [`WINDOW`] messages ahead of the
//!   subscriber, so the server never cuts either side off as a slow consumer.
//! - request/reply, 128 B: one request at a time; the SDK requester against an SDK responder,
//!   raw `Client::request` against a raw responder loop; p50 and p99 of the round trip. Each
//!   round measures both sides, taking turns in blocks of 50 requests ([`round_trips`]).
//!
//! `SB_BENCH_NATS_ONLY=raw` (or `sdk`) runs one side alone, each path with a non-zero size
//! once, and prints its figures without a table: a profile of one side (callgrind) then holds
//! nothing of the other.

use std::{
    cell::RefCell,
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
use switchboard_core::{
    Envelope, Pattern, Publisher, Requester as _, Responder, Serving, Subject, Subscriber,
};
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

/// Serves a fresh subject on `responder` with a raw loop answering each request with its
/// payload; the subject and the loop's task.
async fn raw_responder(responder: &async_nats::Client) -> (String, tokio::task::JoinHandle<()>) {
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
    (subject, serving)
}

/// Serves a fresh subject on `responder` with an echo service.
async fn sdk_responder(responder: &NatsBus) -> (Subject, Serving) {
    let subject = Subject::new(unique("request")).unwrap();
    let echo =
        tower::service_fn(
            |msg: Envelope| async move { Ok::<Bytes, Infallible>(msg.payload().clone()) },
        );
    let serving = responder.serve(&subject, None, echo).await.unwrap();
    (subject, serving)
}

/// One side's requester and the subject its responder serves.
enum Requester<'a> {
    Raw(&'a async_nats::Client, String),
    Sdk(&'a NatsBus, Subject),
}

impl Requester<'_> {
    async fn round_trip(&self, payload: &Bytes) -> Duration {
        let at = Instant::now();
        match self {
            Requester::Raw(client, subject) => {
                let reply = client.request(subject.clone(), payload.clone()).await;
                std::hint::black_box(reply.unwrap());
            }
            Requester::Sdk(bus, subject) => {
                let msg = Envelope::new(subject.clone(), payload.clone());
                std::hint::black_box(bus.request(msg, TIMEOUT).await.unwrap());
            }
        }
        at.elapsed()
    }
}

/// The round trips of each of `sides`, `requests` each, one at a time, the sides taking turns
/// in blocks of [`BLOCK`] requests (`first` starts; the order rotates every block).
///
/// A round trip on this machine takes about 50 µs while its cores are busy and 200 µs once
/// they park between messages, and the load of the other engineers' builds switches between
/// the two within seconds: a round of one side alone took its median from whichever state the
/// machine was in. Blocks of a few milliseconds put both sides through the same states.
async fn round_trips(sides: &[Requester<'_>], requests: usize, first: usize) -> Vec<Sample> {
    const BLOCK: usize = 50;
    let payload = Bytes::from(vec![7u8; 128]);
    let mut latencies: Vec<Latencies> = sides
        .iter()
        .map(|_| Latencies::with_capacity(requests))
        .collect();
    let deadline = Instant::now() + DEADLINE;
    for block in 0..requests.div_ceil(BLOCK) {
        for turn in 0..sides.len() {
            let side = (first + block + turn) % sides.len();
            for _ in 0..BLOCK {
                let rtt = sides[side].round_trip(&payload).await;
                latencies[side].push(rtt);
            }
        }
        if Instant::now() > deadline {
            break;
        }
    }
    latencies.into_iter().map(latency_sample).collect()
}

/// A round of both sides' round trips, raw then SDK.
async fn request_round(
    (raw_requester, raw_responder_client): (&async_nats::Client, &async_nats::Client),
    (sdk_requester, sdk_responder_bus): (&NatsBus, &NatsBus),
    requests: usize,
    sdk_first: bool,
) -> (Sample, Sample) {
    let (raw_subject, raw_serving) = raw_responder(raw_responder_client).await;
    let (sdk_subject, sdk_serving) = sdk_responder(sdk_responder_bus).await;
    let sides = [
        Requester::Raw(raw_requester, raw_subject),
        Requester::Sdk(sdk_requester, sdk_subject),
    ];
    let mut samples = round_trips(&sides, requests, usize::from(sdk_first)).await;
    raw_serving.abort();
    sdk_serving.stop().await;
    let sdk = samples.pop().unwrap();
    (samples.pop().unwrap(), sdk)
}

/// One [`request_round`] handed out a side at a time, as the harness asks for them: the side
/// asked first measures both, the other takes its sample.
#[derive(Default)]
struct Paired {
    raw: RefCell<Option<Sample>>,
    sdk: RefCell<Option<Sample>>,
}

impl Paired {
    async fn side(&self, sdk_side: bool, round: &impl AsyncFn(bool) -> (Sample, Sample)) -> Sample {
        let (mine, other) = if sdk_side {
            (&self.sdk, &self.raw)
        } else {
            (&self.raw, &self.sdk)
        };
        if let Some(sample) = mine.take() {
            return sample;
        }
        let (raw, sdk) = round(sdk_side).await;
        let (sample, rest) = if sdk_side { (sdk, raw) } else { (raw, sdk) };
        *other.borrow_mut() = Some(rest);
        sample
    }
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
                let (subject, serving) = raw_responder(&raw_sub).await;
                let sides = [Requester::Raw(&raw_pub, subject)];
                eprintln!("raw request: {:?}", round_trips(&sides, requests, 0).await);
                serving.abort();
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
                let (subject, serving) = sdk_responder(&sdk_sub).await;
                let sides = [Requester::Sdk(&sdk_pub, subject)];
                eprintln!("sdk request: {:?}", round_trips(&sides, requests, 0).await);
                serving.stop().await;
            }
            return;
        }
        other => panic!("SB_BENCH_NATS_ONLY={other}: expected raw or sdk"),
    }
    let paired = Paired::default();
    let round = async |sdk_first| {
        let (raw, sdk) = ((&raw_pub, &raw_sub), (&sdk_pub, &sdk_sub));
        request_round(raw, sdk, requests, sdk_first).await
    };
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
        async || paired.side(false, &round).await,
        async || paired.side(true, &round).await,
    )
    .await;
}
