//! The harness on itself: two sides doing the same work must come out near 1.0.

use std::time::Instant;

use switchboard_bench::{Better, Latencies, compare, print_header, rounds};

async fn spin(n: u64) -> switchboard_bench::Sample {
    let started = Instant::now();
    let mut latencies = Latencies::with_capacity(n as usize);
    for _ in 0..n {
        let at = Instant::now();
        tokio::task::yield_now().await;
        latencies.push(at.elapsed());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    vec![
        ("yields/s", rate),
        ("p50 µs", latencies.percentile_us(50.0)),
    ]
}

#[tokio::main]
async fn main() {
    print_header();
    compare(
        "harness self-check: tokio yield against itself",
        rounds(),
        &[
            ("yields/s", Better::Higher, 0.9),
            ("p50 µs", Better::Lower, 1.2),
        ],
        async || spin(100_000).await,
        async || spin(100_000).await,
    )
    .await;
}
