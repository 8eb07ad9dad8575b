//! Memory of idle SSE streams in the real gateway: the release `gateway` binary (its own server
//! setup, routes, middleware and in-memory Redis pub/sub) serves N `GET /redis/subscribe`
//! streams that each received one message and then sit idle. The gateway's resident set size
//! (`VmRSS` in `/proc/<pid>/status`) is read after 64 warm-up streams and again once the N
//! streams are open, each having received its message and the gateway counting them all
//! (`open_streams` of `GET /ws/count`); the difference divided by N is the figure. Kernel socket
//! buffers are not in it, and the clients live in this process, not in the gateway's.
//!
//! A stream is written past hyper (`examples/common/event_stream.rs`). A second gateway
//! measures N streams each opened on a keep-alive connection that first had one `GET /ws/count`
//! answered (by hyper, which then handed the connection back); a third, N idle keep-alive
//! connections that each made one `GET /ws/count`: what the server setup costs between
//! requests.
//!
//! Run with `cargo build --release --example gateway --bench gateway_sse_memory &&
//! cargo bench -p switchboard-examples --bench gateway_sse_memory` (`SB_SSE_SUBSCRIBERS=2000`,
//! `SB_SSE_RUNS=3`: each run starts fresh gateways; `SB_GATEWAY_WRAP` profiles them, see
//! `support/gateway_process.rs`).

#[path = "support/gateway_process.rs"]
mod gateway_process;
#[path = "support/raw_http.rs"]
mod raw_http;

use std::net::SocketAddr;

use gateway_process::Gateway;
use raw_http::{csrf_token, keep_alive_get, open_streams, publish, read_until};
use tokio::{io::AsyncWriteExt, net::TcpStream};

const CHANNEL: &str = "switchboard.page.bench";
const WARM: usize = 64;

fn main() {
    let n = setting("SB_SSE_SUBSCRIBERS", 2000);
    let runs = setting("SB_SSE_RUNS", 3);
    check_open_files(n);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut streams, mut reused, mut idle) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        streams.push(runtime.block_on(per_stream(n, Opened::Fresh)));
        reused.push(runtime.block_on(per_stream(n, Opened::AfterARequest)));
        idle.push(runtime.block_on(per_keep_alive(n)));
    }
    let kib = |bytes: &f64| format!("{:.2}", bytes / 1024.0);
    let row = |figures: &mut Vec<f64>| {
        let each: Vec<String> = figures.iter().map(kib).collect();
        figures.sort_by(f64::total_cmp);
        format!(
            "{} | {} KiB",
            each.join(" · "),
            kib(&figures[figures.len() / 2])
        )
    };
    println!(
        "{n} idle connections per run, {runs} runs, release gateway binary (its server setup), \
         in-memory Redis pub/sub; gateway VmRSS growth per connection"
    );
    println!("| connection | each run (KiB) | median |");
    println!("|---|---|---:|");
    println!(
        "| idle SSE stream (`GET /redis/subscribe`, one event received) | {} |",
        row(&mut streams)
    );
    println!(
        "| the same, opened on a keep-alive connection after one `GET /ws/count` | {} |",
        row(&mut reused)
    );
    println!(
        "| idle keep-alive connection (one `GET /ws/count` answered) | {} |",
        row(&mut idle)
    );
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: a number, not {v:?}"))
    })
}

/// The clients' sockets live in this process: say so up front rather than fail midway.
fn check_open_files(n: usize) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok());
    if let Some(soft) = soft {
        let needed = n + WARM + 256;
        assert!(
            soft >= needed,
            "open-files limit {soft} is below {needed}: run `ulimit -n {needed}`"
        );
    }
}

/// How each stream's connection starts.
#[derive(Clone, Copy)]
enum Opened {
    /// A new connection whose first request is the stream's.
    Fresh,
    /// A keep-alive connection that has had one `GET /ws/count` answered first.
    AfterARequest,
}

/// Average bytes of gateway memory per idle SSE stream.
async fn per_stream(n: usize, opened: Opened) -> f64 {
    let label = match opened {
        Opened::Fresh => "stream",
        Opened::AfterARequest => "reused",
    };
    let gateway = Gateway::start(n + WARM + 16, label);
    let addr = gateway.addr;
    let token = csrf_token(addr).await;
    let _warm = open_with_message(addr, &token, WARM, "warm", opened).await;
    let before = gateway.rss_bytes();
    let _streams = open_with_message(addr, &token, n, "hello", opened).await;
    assert_eq!(
        open_streams(addr).await,
        (WARM + n) as u64,
        "the gateway does not count every stream as open"
    );
    let after = gateway.rss_bytes();
    after.saturating_sub(before) as f64 / n as f64
}

/// Opens `n` streams on [`CHANNEL`], publishes `message` and waits until every stream got it.
async fn open_with_message(
    addr: SocketAddr,
    token: &str,
    n: usize,
    message: &str,
    opened: Opened,
) -> Vec<TcpStream> {
    let request = format!(
        "GET /redis/subscribe?channel={CHANNEL} HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n"
    );
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = match opened {
            Opened::Fresh => TcpStream::connect(addr).await.unwrap(),
            Opened::AfterARequest => keep_alive_get(addr, "/ws/count").await,
        };
        stream.write_all(request.as_bytes()).await.unwrap();
        read_until(&mut stream, "200 OK").await;
        streams.push(stream);
    }
    publish(addr, token, CHANNEL, message).await;
    for stream in &mut streams {
        read_until(stream, message).await;
    }
    streams
}

/// Average bytes of gateway memory per idle keep-alive connection.
async fn per_keep_alive(n: usize) -> f64 {
    let gateway = Gateway::start(n + WARM + 16, "keep-alive");
    let addr = gateway.addr;
    let mut warm = Vec::with_capacity(WARM);
    for _ in 0..WARM {
        warm.push(keep_alive_get(addr, "/ws/count").await);
    }
    let before = gateway.rss_bytes();
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        idle.push(keep_alive_get(addr, "/ws/count").await);
    }
    let after = gateway.rss_bytes();
    after.saturating_sub(before) as f64 / n as f64
}
