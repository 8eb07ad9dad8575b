//! Redis key/value against raw redis-rs on the same server (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`), both over a `ConnectionManager` (the multiplexed connection
//! the SDK uses), 128 B values:
//!
//! - GET and SET latency: one command at a time, p50;
//! - throughput: 50 tasks sharing the connection, each alternating SET and GET, ops/s.

use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::{AsyncCommands, aio::ConnectionManager};
use switchboard_bench::{Better, Latencies, Sample, compare, env, number, print_header, rounds};
use switchboard_core::{Key, KeyValue, Namespace};
use switchboard_redis::{Redis, RedisConfig, RedisKeyValue};

const TASKS: usize = 50;
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `op` `n` times in a row (or until the deadline) and returns its p50.
async fn latency(n: usize, mut op: impl AsyncFnMut()) -> Sample {
    let mut latencies = Latencies::with_capacity(n);
    let deadline = Instant::now() + DEADLINE;
    for _ in 0..n {
        let at = Instant::now();
        op().await;
        latencies.push(at.elapsed());
        if Instant::now() > deadline {
            break;
        }
    }
    vec![("p50 µs", latencies.percentile_us(50.0))]
}

/// Runs [`TASKS`] tasks of `per_task` SET+GET pairs each; ops/s over all of them.
async fn throughput<F>(per_task: usize, task: impl Fn(usize) -> F) -> Sample
where
    F: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS).map(|i| tokio::spawn(task(i))).collect();
    tokio::time::timeout(DEADLINE, futures::future::join_all(tasks))
        .await
        .expect("the 50 tasks did not finish within the deadline");
    let ops = (TASKS * per_task * 2) as f64;
    vec![("ops/s", ops / started.elapsed().as_secs_f64())]
}

struct Raw {
    conn: ConnectionManager,
    keys: Vec<String>,
}

struct Sdk {
    kv: RedisKeyValue,
    keys: Vec<Key>,
}

#[tokio::main]
async fn main() {
    let url = env("REDIS_URL", "redis://127.0.0.1:6379");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let namespace = Namespace::new(format!("bench{}x{nanos}", std::process::id())).unwrap();
    let redis = Redis::connect(RedisConfig::new(url.as_str()))
        .await
        .unwrap_or_else(|err| panic!("Redis at {url}: {err} (set REDIS_URL)"));
    let sdk = Sdk {
        kv: redis.key_value(namespace.clone()),
        keys: (0..TASKS)
            .map(|i| Key::new(format!("k{i}")).unwrap())
            .collect(),
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let raw = Raw {
        conn: ConnectionManager::new(client).await.unwrap(),
        // Other keys than the SDK's, so that neither side reads what the other wrote.
        keys: (0..TASKS)
            .map(|i| format!("switchboard:{namespace}raw:k{i}"))
            .collect(),
    };
    let value = Bytes::from(vec![7u8; 128]);
    for i in 0..TASKS {
        sdk.kv.set(&sdk.keys[i], value.clone(), None).await.unwrap();
        let _: () = raw
            .conn
            .clone()
            .set(&raw.keys[i], value.as_ref())
            .await
            .unwrap();
    }
    let n = number("SB_BENCH_REDIS_OPS", 5_000);
    let per_task = number("SB_BENCH_REDIS_TASK_OPS", 2_000);
    print_header();
    compare(
        "Redis GET, 128 B (raw: redis-rs)",
        rounds(),
        &[("p50 µs", Better::Lower, 1.1)],
        async || {
            latency(n, async || {
                let got: Option<Vec<u8>> = raw.conn.clone().get(&raw.keys[0]).await.unwrap();
                std::hint::black_box(got.unwrap());
            })
            .await
        },
        async || {
            latency(n, async || {
                std::hint::black_box(sdk.kv.get(&sdk.keys[0]).await.unwrap().unwrap());
            })
            .await
        },
    )
    .await;
    compare(
        "Redis SET, 128 B (raw: redis-rs)",
        rounds(),
        &[("p50 µs", Better::Lower, 1.1)],
        async || {
            latency(n, async || {
                let _: () = raw
                    .conn
                    .clone()
                    .set(&raw.keys[0], value.as_ref())
                    .await
                    .unwrap();
            })
            .await
        },
        async || {
            latency(n, async || {
                sdk.kv.set(&sdk.keys[0], value.clone(), None).await.unwrap();
            })
            .await
        },
    )
    .await;
    compare(
        "Redis SET+GET, 50 tasks (raw: redis-rs)",
        rounds(),
        &[("ops/s", Better::Higher, 0.9)],
        async || {
            throughput(per_task, |i| {
                let mut conn = raw.conn.clone();
                let (key, value) = (raw.keys[i].clone(), value.clone());
                async move {
                    for _ in 0..per_task {
                        let _: () = conn.set(&key, value.as_ref()).await.unwrap();
                        let got: Option<Vec<u8>> = conn.get(&key).await.unwrap();
                        std::hint::black_box(got.unwrap());
                    }
                }
            })
            .await
        },
        async || {
            throughput(per_task, |i| {
                let (kv, key, value) = (sdk.kv.clone(), sdk.keys[i].clone(), value.clone());
                async move {
                    for _ in 0..per_task {
                        kv.set(&key, value.clone(), None).await.unwrap();
                        std::hint::black_box(kv.get(&key).await.unwrap().unwrap());
                    }
                }
            })
            .await
        },
    )
    .await;
}
