//! MemBus pub/sub against `tokio::sync::broadcast`: one publisher, 1 or 16 subscribers, the
//! same `Envelope` value on both sides (each delivery is one clone of it), deliveries/s.
//!
//! Both sides run on one current-thread runtime: the publisher sends bursts of [`BURST`]
//! messages and yields, the subscriber tasks drain; a round ends when every subscriber has seen
//! every message (received or reported missed), or after [`DEADLINE`].
//!
//! A subscriber task takes at most tokio's cooperative budget (128 messages) per turn, so by
//! default the publisher outruns it and both sides drop what overflows their 16,384-message
//! bound (the `missed` figure of each round). With `SB_BENCH_MEMBUS_WINDOW=n` the publisher
//! instead yields until the slowest subscriber is within `n` messages, and nothing is missed.
//!
//! Each figure comes by the clock and per second of this thread's CPU time: both sides run on
//! it, so the second leaves out what other processes on a shared machine took.
//! `SB_BENCH_MEMBUS_CASES` (a comma list of `1`, `16`, `wildcard`) picks the cases to run.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use switchboard_bench::{Better, Sample, compare, env, number, print_header, rounds};
use switchboard_core::{
    Envelope, Error, Pattern, Publisher, Subject, Subscriber,
    mem::{MemBus, MemSubscription},
};
use tokio::sync::broadcast;

const BURST: usize = 256;
const CAPACITY: usize = 16 * 1024;
const DEADLINE: Duration = Duration::from_secs(30);

fn envelope() -> Envelope {
    Envelope::new(
        Subject::new("bench.membus.created").unwrap(),
        vec![7u8; 128],
    )
}

/// Nanoseconds this thread has run on a CPU (Linux), which leaves out the time other
/// processes on a shared machine took.
fn cpu_ns() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// When a round started, by the clock and on this thread's CPU time.
struct Start {
    wall: Instant,
    cpu: Option<f64>,
}

impl Start {
    fn now() -> Start {
        Start {
            wall: Instant::now(),
            cpu: cpu_ns(),
        }
    }

    /// Deliveries per second over every subscriber (by the clock, and per second on the CPU:
    /// both sides run on this one thread), and what was missed.
    fn sample(self, delivered: usize, missed: usize) -> Sample {
        let wall = self.wall.elapsed().as_secs_f64();
        let mut sample = vec![
            ("deliveries/s", delivered as f64 / wall),
            ("missed", missed as f64),
        ];
        if let (Some(start), Some(end)) = (self.cpu, cpu_ns()) {
            sample.push(("deliveries/CPU-s", delivered as f64 / ((end - start) / 1e9)));
        }
        sample
    }
}

/// What each subscriber has seen (received or missed); with a window, the publisher waits on
/// the slowest.
struct Progress {
    seen: Vec<AtomicUsize>,
    window: Option<usize>,
}

impl Progress {
    fn new(subscribers: usize, window: Option<usize>) -> Arc<Progress> {
        Arc::new(Progress {
            seen: (0..subscribers).map(|_| AtomicUsize::new(0)).collect(),
            window,
        })
    }

    async fn wait_for(&self, sent: usize) {
        let Some(window) = self.window else { return };
        while self
            .seen
            .iter()
            .any(|seen| sent - seen.load(Ordering::Relaxed) > window)
        {
            tokio::task::yield_now().await;
        }
    }
}

/// A subscription of either side: the next message (`Ok`), a count of missed ones (`Err`), or
/// `None` at the end.
trait Receive: Send + 'static {
    fn receive(&mut self) -> impl Future<Output = Option<Result<Envelope, usize>>> + Send;
}

impl Receive for broadcast::Receiver<Envelope> {
    async fn receive(&mut self) -> Option<Result<Envelope, usize>> {
        match self.recv().await {
            Ok(msg) => Some(Ok(msg)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Err(n as usize)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Receive for MemSubscription {
    async fn receive(&mut self) -> Option<Result<Envelope, usize>> {
        match self.next().await? {
            Ok(msg) => Some(Ok(msg)),
            Err(Error::Lagged { missed }) => Some(Err(missed as usize)),
            Err(err) => panic!("subscription failed: {err}"),
        }
    }
}

/// Subscriber `me`'s task: counts what it receives and misses until it has seen `messages`.
fn count(
    progress: Arc<Progress>,
    me: usize,
    messages: usize,
    mut rx: impl Receive,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let (mut delivered, mut missed) = (0, 0);
        while delivered + missed < messages {
            match rx.receive().await {
                Some(Ok(msg)) => {
                    std::hint::black_box(&msg);
                    delivered += 1;
                }
                Some(Err(n)) => missed += n,
                None => break,
            }
            progress.seen[me].store(delivered + missed, Ordering::Relaxed);
        }
        (delivered, missed)
    })
}

async fn publish_bursts(messages: usize, progress: &Progress, mut send: impl AsyncFnMut(Envelope)) {
    let template = envelope();
    for sent in 0..messages {
        send(template.clone()).await;
        if (sent + 1).is_multiple_of(BURST) {
            tokio::task::yield_now().await;
            progress.wait_for(sent + 1).await;
        }
    }
}

async fn join_counts(tasks: Vec<tokio::task::JoinHandle<(usize, usize)>>) -> (usize, usize) {
    let all = futures::future::join_all(tasks);
    let results = tokio::time::timeout(DEADLINE, all)
        .await
        .expect("a subscriber did not see every message within the deadline");
    results
        .into_iter()
        .map(Result::unwrap)
        .fold((0, 0), |(d, m), (d2, m2)| (d + d2, m + m2))
}

async fn raw(subscribers: usize, messages: usize, window: Option<usize>) -> Sample {
    let (tx, _) = broadcast::channel::<Envelope>(CAPACITY);
    let progress = Progress::new(subscribers, window);
    let tasks = (0..subscribers)
        .map(|me| count(progress.clone(), me, messages, tx.subscribe()))
        .collect();
    let started = Start::now();
    publish_bursts(messages, &progress, async |msg| {
        let _ = tx.send(msg);
    })
    .await;
    let (delivered, missed) = join_counts(tasks).await;
    started.sample(delivered, missed)
}

async fn sdk(
    subscribers: usize,
    messages: usize,
    pattern: &Pattern,
    window: Option<usize>,
) -> Sample {
    let bus = MemBus::new();
    let progress = Progress::new(subscribers, window);
    let mut tasks = Vec::with_capacity(subscribers);
    for me in 0..subscribers {
        let sub = bus.subscribe(pattern).await.unwrap();
        tasks.push(count(progress.clone(), me, messages, sub));
    }
    let started = Start::now();
    publish_bursts(messages, &progress, async |msg| {
        bus.publish(msg).await.unwrap()
    })
    .await;
    let (delivered, missed) = join_counts(tasks).await;
    started.sample(delivered, missed)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let messages = number("SB_BENCH_MEMBUS_MESSAGES", 2_000_000);
        let window = Some(number("SB_BENCH_MEMBUS_WINDOW", 0)).filter(|&w| w > 0);
        let cases = env("SB_BENCH_MEMBUS_CASES", "1,16,wildcard");
        let exact = Pattern::new("bench.membus.created").unwrap();
        let wildcard = Pattern::new("bench.*.created").unwrap();
        print_header();
        for (case, path, subscribers, pattern, target) in [
            ("1", "MemBus pub/sub, 1 subscriber", 1, &exact, 0.5),
            ("16", "MemBus pub/sub, 16 subscribers", 16, &exact, 0.8),
            (
                "wildcard",
                "MemBus pub/sub, 1 subscriber, wildcard pattern",
                1,
                &wildcard,
                0.5,
            ),
        ] {
            if !cases.split(',').any(|c| c == case) {
                continue;
            }
            // The same number of deliveries whatever the fan-out.
            let messages = messages / subscribers;
            let mut figures = vec![("deliveries/s", Better::Higher, target)];
            if cpu_ns().is_some() {
                figures.push(("deliveries/CPU-s", Better::Higher, target));
            }
            compare(
                &format!("{path} (raw: tokio broadcast)"),
                rounds(),
                &figures,
                async || raw(subscribers, messages, window).await,
                async || sdk(subscribers, messages, pattern, window).await,
            )
            .await;
        }
    });
}
