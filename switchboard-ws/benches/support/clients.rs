//! The client side of the fan-out bench, run as a child process (the open-files limit is per
//! process, and 10k clients plus 10k server sockets exceed one process's 20k).

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};

pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The send timestamp the server put in `"text":"<ns>"`.
fn sent_at(text: &str) -> Option<u64> {
    let start = text.find(r#""text":""#)? + 8;
    let end = start + text[start..].find('"')?;
    text[start..end].parse().ok()
}

struct Report {
    first_sent: u64,
    last_received: u64,
    latencies: Vec<u64>,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"))
}

/// Connects `SB_N` clients to `SB_ADDR`, then for each phase of `SB_PHASES` (message counts) prints
/// `result <deliveries> <first_sent_ns> <last_received_ns> <p50_ns> <p95_ns> <p99_ns>`.
pub(crate) async fn run() {
    let addr = env("SB_ADDR");
    let n: usize = env("SB_N").parse().unwrap();
    let phases: Vec<usize> = env("SB_PHASES")
        .split(',')
        .map(|m| m.parse().unwrap())
        .collect();
    let url = Arc::new(format!("ws://{addr}/ws/connect?room=bench&username=c"));
    let sockets: Vec<_> = futures::stream::iter(0..n)
        .map(|_| {
            let url = url.clone();
            // A small read buffer: tungstenite zeroes it before every read attempt.
            let config = WebSocketConfig::default().read_buffer_size(4096);
            async move {
                connect_async_with_config(url.as_str(), Some(config), true)
                    .await
                    .expect("connect")
                    .0
            }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
    for mut socket in sockets {
        let tx = tx.clone();
        let phases = phases.clone();
        tokio::spawn(async move {
            for m in phases {
                let mut report = Report {
                    first_sent: u64::MAX,
                    last_received: 0,
                    latencies: Vec::with_capacity(m),
                };
                while report.latencies.len() < m {
                    let Some(Ok(msg)) = socket.next().await else {
                        panic!("connection lost");
                    };
                    if let Message::Text(text) = msg {
                        let received = now_ns();
                        let sent = sent_at(&text).expect("a timestamp");
                        report.first_sent = report.first_sent.min(sent);
                        report.latencies.push(received.saturating_sub(sent));
                        report.last_received = received;
                    }
                }
                let _ = tx.send(report);
            }
            while let Some(Ok(_)) = socket.next().await {}
        });
    }
    println!("ready");
    for m in phases {
        let mut first_sent = u64::MAX;
        let mut last_received = 0;
        let mut latencies = Vec::with_capacity(n * m);
        for _ in 0..n {
            let report = rx.recv().await.unwrap();
            first_sent = first_sent.min(report.first_sent);
            last_received = last_received.max(report.last_received);
            latencies.extend(report.latencies);
        }
        latencies.sort_unstable();
        let pct =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "result {} {first_sent} {last_received} {} {} {}",
            latencies.len(),
            pct(0.50),
            pct(0.95),
            pct(0.99)
        );
    }
}
