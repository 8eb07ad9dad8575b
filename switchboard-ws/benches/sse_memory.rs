//! Memory of idle SSE subscribers: N browsers connected to a `ReplayBuffer` stream through
//! `sse_response`, each having received one event, then quiet. Resident memory is measured
//! before and after, in a fresh process, beside a baseline of N bare TCP connections (so the
//! difference is what the HTTP server, the SSE stream and the subscription add per client).
//!
//! Run with `cargo bench -p switchboard-ws --bench sse_memory` (`SB_SSE_SUBSCRIBERS=5000`).

#[allow(dead_code)]
#[path = "support/shared_tcp.rs"]
mod shared_tcp;

use std::time::Duration;

use axum::{Router, routing::get};
use shared_tcp::{open_files_limit, rss_bytes};
use switchboard_ws::{LastEventId, ReplayBuffer, Shutdown, SseEvent, sse_response};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const ROLE: &str = "SB_SSE_ROLE";

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n: usize = std::env::var("SB_SSE_SUBSCRIBERS")
        .unwrap_or_else(|_| "5000".into())
        .parse()
        .expect("SB_SSE_SUBSCRIBERS: a number");
    match std::env::var(ROLE).as_deref() {
        Ok("sse") => println!("{}", runtime.block_on(idle_sse(n))),
        Ok("tcp") => println!("{}", runtime.block_on(bare_tcp(n))),
        Ok("stream") => println!("{}", runtime.block_on(streams_only(n))),
        _ => report(n),
    }
}

/// Runs each measurement in a fresh process and prints the figures.
fn report(n: usize) {
    if let Some(limit) = open_files_limit() {
        let needed = 2 * n as u64 + 256;
        assert!(
            limit >= needed,
            "open-files limit {limit} is below {needed}: run `ulimit -n {needed}`"
        );
    }
    let measure = |role: &str| -> u64 {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .env("SB_SSE_SUBSCRIBERS", n.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{role} run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let sse = measure("sse");
    let tcp = measure("tcp");
    let stream = measure("stream");
    let kib = |bytes: u64| bytes as f64 / n as f64 / 1024.0;
    println!("idle SSE subscribers: {n}, both ends in one process (current-thread runtime)");
    println!("| measure | resident memory per subscriber |");
    println!("|---|---:|");
    println!(
        "| SSE subscriber over loopback (server + client end) | {:.2} KiB |",
        kib(sse)
    );
    println!(
        "| bare TCP connection (server + client end) | {:.2} KiB |",
        kib(tcp)
    );
    println!(
        "| SSE cost above the bare connection | {:.2} KiB |",
        kib(sse.saturating_sub(tcp))
    );
    println!(
        "| of which this crate: response stream + replay subscription, no HTTP | {:.2} KiB |",
        kib(stream)
    );
}

/// Opens `n` clients that send `request` and read until `until` arrives; returns them.
async fn open_clients(addr: std::net::SocketAddr, n: usize, request: &[u8]) -> Vec<TcpStream> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut client = TcpStream::connect(addr).await.unwrap();
        if !request.is_empty() {
            client.write_all(request).await.unwrap();
        }
        clients.push(client);
    }
    clients
}

async fn read_until(client: &mut TcpStream, needle: &str) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let read = tokio::time::timeout(Duration::from_secs(30), client.read(&mut buf))
            .await
            .expect("server answered")
            .unwrap();
        assert!(read > 0, "connection closed");
        seen.extend_from_slice(&buf[..read]);
    }
}

/// Bytes of resident memory added by `n` idle SSE subscribers.
async fn idle_sse(n: usize) -> u64 {
    let buffer = ReplayBuffer::new(1024);
    let shutdown = Shutdown::new();
    let events = buffer.clone();
    let app = Router::new().route(
        "/events",
        get(move |LastEventId(last): LastEventId| async move {
            sse_response(events.subscribe(last.as_deref()), shutdown)
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let request = b"GET /events HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n";

    // Warm up the allocator and the runtime with a few subscribers that stay connected.
    let mut warm = open_clients(addr, 64, request).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    buffer.push(SseEvent::new("warm"));
    for client in &mut warm {
        read_until(client, "data: warm").await;
    }
    let before = rss_bytes();
    let mut clients = open_clients(addr, n, request).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    buffer.push(SseEvent::new("hello"));
    for client in &mut clients {
        read_until(client, "data: hello").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes();
    drop((warm, clients));
    after.saturating_sub(before)
}

/// Bytes of resident memory added by `n` bare loopback TCP connections (both ends held).
async fn bare_tcp(n: usize) -> u64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = tx.send(stream);
        }
    });
    let warm = open_clients(addr, 64, b"").await;
    let mut held = Vec::with_capacity(n + 64);
    for _ in 0..64 {
        held.push(rx.recv().await.unwrap());
    }
    let before = rss_bytes();
    let clients = open_clients(addr, n, b"").await;
    for _ in 0..n {
        held.push(rx.recv().await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes();
    drop((warm, clients, held));
    after.saturating_sub(before)
}

/// Bytes of resident memory added by `n` SSE response bodies (keep-alive timer, shutdown
/// watch, replay subscription), each polled once so it is waiting, with no HTTP server.
async fn streams_only(n: usize) -> u64 {
    use futures::{FutureExt, StreamExt};
    let buffer = ReplayBuffer::new(1024);
    let shutdown = Shutdown::new();
    let open = |count: usize| {
        (0..count)
            .map(|_| {
                let mut body = sse_response(buffer.subscribe(None), shutdown.clone())
                    .into_body()
                    .into_data_stream();
                assert!(body.next().now_or_never().is_none(), "an idle stream waits");
                body
            })
            .collect::<Vec<_>>()
    };
    let warm = open(64);
    let before = rss_bytes();
    let bodies = open(n);
    let after = rss_bytes();
    drop((warm, bodies));
    after.saturating_sub(before)
}
