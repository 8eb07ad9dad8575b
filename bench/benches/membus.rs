//! MemBus pub/sub against `tokio::sync::broadcast`: one publisher, 1 or 16 subscribers, the
//! same `Envelope` value on both sides (each delivery is one clone of it), deliveries/s.
//!
//! Both sides run on one current-thread runtime: the publisher sends bursts of [`BURST`]
//! messages and yields, the subscriber tasks drain; a round ends when every subscriber has seen
//! every message (received or reported missed), or after [`DEADLINE`].

use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard_bench::{Better, Sample, compare, number, print_header, rounds};
use switchboard_core::{Envelope, Error, Pattern, Publisher, Subject, Subscriber, mem::MemBus};
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

/// Deliveries per second over every subscriber, and what was missed.
fn sample(delivered: usize, missed: usize, started: Instant) -> Sample {
    let elapsed = started.elapsed().as_secs_f64();
    vec![
        ("deliveries/s", delivered as f64 / elapsed),
        ("missed", missed as f64),
    ]
}

async fn publish_bursts(messages: usize, mut send: impl AsyncFnMut(Envelope)) {
    let template = envelope();
    for sent in 0..messages {
        send(template.clone()).await;
        if (sent + 1).is_multiple_of(BURST) {
            tokio::task::yield_now().await;
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

async fn raw(subscribers: usize, messages: usize) -> Sample {
    let (tx, _) = broadcast::channel::<Envelope>(CAPACITY);
    let tasks = (0..subscribers)
        .map(|_| {
            let mut rx = tx.subscribe();
            tokio::spawn(async move {
                let (mut delivered, mut missed) = (0, 0);
                while delivered + missed < messages {
                    match rx.recv().await {
                        Ok(msg) => {
                            std::hint::black_box(&msg);
                            delivered += 1;
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => missed += n as usize,
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
                (delivered, missed)
            })
        })
        .collect();
    let started = Instant::now();
    publish_bursts(messages, async |msg| {
        let _ = tx.send(msg);
    })
    .await;
    let (delivered, missed) = join_counts(tasks).await;
    sample(delivered, missed, started)
}

async fn sdk(subscribers: usize, messages: usize, pattern: &Pattern) -> Sample {
    let bus = MemBus::new();
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut sub = bus.subscribe(pattern).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let (mut delivered, mut missed) = (0, 0);
            while delivered + missed < messages {
                match sub.next().await {
                    Some(Ok(msg)) => {
                        std::hint::black_box(&msg);
                        delivered += 1;
                    }
                    Some(Err(Error::Lagged { missed: n })) => missed += n as usize,
                    Some(Err(err)) => panic!("subscription failed: {err}"),
                    None => break,
                }
            }
            (delivered, missed)
        }));
    }
    let started = Instant::now();
    publish_bursts(messages, async |msg| bus.publish(msg).await.unwrap()).await;
    let (delivered, missed) = join_counts(tasks).await;
    sample(delivered, missed, started)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let messages = number("SB_BENCH_MEMBUS_MESSAGES", 2_000_000);
        let exact = Pattern::new("bench.membus.created").unwrap();
        let wildcard = Pattern::new("bench.*.created").unwrap();
        print_header();
        for (path, subscribers, pattern, target) in [
            ("MemBus pub/sub, 1 subscriber", 1, &exact, 0.5),
            ("MemBus pub/sub, 16 subscribers", 16, &exact, 0.8),
            (
                "MemBus pub/sub, 1 subscriber, wildcard pattern",
                1,
                &wildcard,
                0.5,
            ),
        ] {
            // The same number of deliveries whatever the fan-out.
            let messages = messages / subscribers;
            compare(
                &format!("{path} (raw: tokio broadcast)"),
                rounds(),
                &[("deliveries/s", Better::Higher, target)],
                async || raw(subscribers, messages).await,
                async || sdk(subscribers, messages, pattern).await,
            )
            .await;
        }
    });
}
