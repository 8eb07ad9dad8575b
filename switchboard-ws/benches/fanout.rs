//! Fan-out benchmark: one hub, N WebSocket clients over loopback, messages through the hub
//! (rendered once, queued per client, written by each connection's task) and then the same
//! messages as pre-framed bytes written by one raw loop to the very same sockets.
//!
//! Each path runs twice: a burst of M messages sent as fast as possible (throughput), then 50
//! messages paced so each fan-out can finish before the next (delivery latency).
//!
//! Run with `cargo bench -p switchboard-ws --bench fanout` (sizes: `SB_FANOUT_CLIENTS=1000,10000`).
//! Clients run in a child process: each side needs N descriptors, under `ulimit -n` each.

#[path = "support/clients.rs"]
mod clients;
#[allow(dead_code)]
#[path = "support/shared_tcp.rs"]
mod shared_tcp;

use std::{process::Stdio, time::Duration};

use axum::Router;
use bytes::Bytes;
use chrono::Utc;
use clients::now_ns;
use shared_tcp::{TapListener, Taps, cpu_ms, open_files_limit, text_frame, write_all};
use switchboard_ws::{Hub, HubConfig, HubEvent, UpgradeConfig, render_json, ws_route};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};

const ROLE: &str = "SB_FANOUT_ROLE";
/// Messages of each paced (latency) phase.
const PACED: usize = 50;

fn main() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Ok(workers) = std::env::var("SB_FANOUT_WORKERS") {
        builder.worker_threads(workers.parse().expect("SB_FANOUT_WORKERS: a number"));
    }
    let runtime = builder.enable_all().build().unwrap();
    if std::env::var(ROLE).as_deref() == Ok("clients") {
        runtime.block_on(clients::run());
    } else {
        runtime.block_on(server());
    }
}

/// Messages per phase: about a million deliveries for 10k clients, fewer rounds for more.
fn messages_for(clients: usize) -> usize {
    (1_000_000 / clients).clamp(20, 500)
}

struct Phase {
    /// Server CPU milliseconds per 1,000 deliveries.
    cpu_per_1k: f64,
    deliveries: u64,
    per_second: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
}

fn parse_result(line: &str, cpu_ms: u64) -> Phase {
    let fields: Vec<u64> = line
        .strip_prefix("result ")
        .unwrap_or_else(|| panic!("unexpected line from clients: {line}"))
        .split(' ')
        .map(|f| f.parse().unwrap())
        .collect();
    let [deliveries, first_sent, last_received, p50, p95, p99] = fields[..] else {
        panic!("bad result line: {line}");
    };
    let ms = |ns: u64| ns as f64 / 1e6;
    Phase {
        cpu_per_1k: cpu_ms as f64 / (deliveries as f64 / 1000.0),
        deliveries,
        per_second: deliveries as f64 / ((last_received - first_sent) as f64 / 1e9),
        p50_ms: ms(p50),
        p95_ms: ms(p95),
        p99_ms: ms(p99),
    }
}

async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut Lines<R>) -> String {
    tokio::time::timeout(Duration::from_secs(300), lines.next_line())
        .await
        .expect("clients answered within 5 minutes")
        .unwrap()
        .expect("clients exited early")
}

async fn server() {
    let sizes: Vec<usize> = std::env::var("SB_FANOUT_CLIENTS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("SB_FANOUT_CLIENTS: comma-separated numbers")
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("fan-out over loopback, {cores} cores; clients in a child process\n");
    println!(
        "| clients | path | mode | deliveries | delivered/s | p50 ms | p95 ms | p99 ms | server CPU ms / 1k deliveries |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        run(n).await;
    }
}

async fn run(n: usize) {
    let needed = n as u64 + 256;
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= needed,
            "open-files limit {limit} is below {needed}: run `ulimit -n {needed}` first"
        );
    }
    let m = messages_for(n);
    // Presence announcements would cost n² deliveries while n clients join: suppress them.
    let hub = Hub::new(HubConfig {
        client_queue: m + 64,
        ..HubConfig::default()
    })
    .with_renderer(|event: &HubEvent| match event {
        HubEvent::Message { .. } => render_json(event),
        _ => Bytes::new(),
    });
    let quiet = UpgradeConfig {
        ping_interval: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(3600),
        ..UpgradeConfig::default()
    };
    let taps = Taps::default();
    let listener = TapListener {
        inner: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        taps: taps.clone(),
    };
    let addr = listener.inner.local_addr().unwrap();
    let app = Router::new().route("/ws/connect", ws_route(hub.clone(), quiet));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "clients")
        .env("SB_ADDR", addr.to_string())
        .env("SB_N", n.to_string())
        .env("SB_PHASES", format!("{m},{PACED},{m},{PACED}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut lines).await, "ready");
    while hub.presence("bench").online < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let interval = Duration::from_micros(10 * n as u64).max(Duration::from_millis(2));
    let mut results = Vec::new();
    for (mode, count, pause) in [("burst", m, None), ("paced", PACED, Some(interval))] {
        let cpu_before = cpu_ms();
        // Sent from a runtime task, as a connection's task would.
        let sender = hub.clone();
        tokio::spawn(async move {
            for _ in 0..count {
                sender
                    .send("bench", "server", &now_ns().to_string())
                    .await
                    .unwrap();
                if let Some(pause) = pause {
                    tokio::time::sleep(pause).await;
                }
            }
        })
        .await
        .unwrap();
        let line = next_line(&mut lines).await;
        results.push(("hub", mode, parse_result(&line, cpu_ms() - cpu_before)));
    }
    assert_eq!(hub.stats().slow_consumers, 0, "no client may be dropped");

    let sockets = taps.lock().unwrap().clone();
    assert_eq!(sockets.len(), n);
    for (mode, count, pause) in [("burst", m, None), ("paced", PACED, Some(interval))] {
        let cpu_before = cpu_ms();
        let sockets = sockets.clone();
        tokio::spawn(async move {
            for _ in 0..count {
                let payload = render_json(&HubEvent::Message {
                    room: "bench".into(),
                    from: "server".into(),
                    text: now_ns().to_string(),
                    at: Utc::now(),
                });
                let frame = text_frame(&payload);
                for socket in &sockets {
                    write_all(socket, &frame).await.unwrap();
                }
                if let Some(pause) = pause {
                    tokio::time::sleep(pause).await;
                }
            }
        })
        .await
        .unwrap();
        let line = next_line(&mut lines).await;
        results.push(("raw loop", mode, parse_result(&line, cpu_ms() - cpu_before)));
    }

    for (path, mode, phase) in &results {
        println!(
            "| {n} | {path} | {mode} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
            phase.deliveries,
            phase.per_second,
            phase.p50_ms,
            phase.p95_ms,
            phase.p99_ms,
            phase.cpu_per_1k
        );
    }
    let [hub_burst, hub_paced, raw_burst, raw_paced] = [0, 1, 2, 3].map(|i| &results[i].2);
    println!(
        "| {n} | hub ÷ raw | burst | | {:.2}× | | | | {:.2}× |",
        hub_burst.per_second / raw_burst.per_second,
        hub_burst.cpu_per_1k / raw_burst.cpu_per_1k
    );
    println!(
        "| {n} | hub ÷ raw | paced every {interval:?} | | | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
        hub_paced.p50_ms / raw_paced.p50_ms,
        hub_paced.p95_ms / raw_paced.p95_ms,
        hub_paced.p99_ms / raw_paced.p99_ms,
        hub_paced.cpu_per_1k / raw_paced.cpu_per_1k
    );
    hub.close();
    let _ = child.kill().await;
    server.abort();
}
