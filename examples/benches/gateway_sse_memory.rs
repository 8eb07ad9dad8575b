//! Memory of idle SSE streams in the real gateway: the release `gateway` binary (its own server
//! setup, routes, middleware and in-memory Redis pub/sub) serves N `GET /redis/subscribe`
//! streams that each received one message and then sit idle. The gateway's resident memory is
//! read from `/proc/<pid>/statm` before and after; the clients live in this process and are not
//! counted.
//!
//! Run with `cargo build --release --example gateway && cargo bench -p switchboard-examples
//! --bench gateway_sse_memory` (`SB_SSE_SUBSCRIBERS=5000`).

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const CHANNEL: &str = "switchboard.page.bench";
const WARM: usize = 64;

fn main() {
    let n: usize = std::env::var("SB_SSE_SUBSCRIBERS")
        .unwrap_or_else(|_| "5000".into())
        .parse()
        .expect("SB_SSE_SUBSCRIBERS: a number");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut gateway = Gateway::start(n + WARM + 16);
    let per_stream = runtime.block_on(measure(&gateway, n));
    gateway.stop();
    println!(
        "idle SSE streams: {n}, release gateway binary (its server setup), in-memory Redis pub/sub"
    );
    println!("| measure | gateway resident memory per stream |");
    println!("|---|---:|");
    println!(
        "| idle `GET /redis/subscribe` stream | {:.2} KiB |",
        per_stream / 1024.0
    );
}

struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    /// Starts the release gateway on a free port with room for `streams` open streams.
    fn start(streams: usize) -> Gateway {
        let exe = std::env::current_exe().unwrap();
        let release = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let binary: PathBuf = release.join("examples").join("gateway");
        assert!(
            binary.exists(),
            "{} is missing: run `cargo build --release --example gateway` first",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let limit = streams.to_string();
        let child = Command::new(binary)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("GATEWAY_SERVER_PORT", port.to_string())
            .env("GATEWAY_LIMITS_SSE_CLIENT", &limit)
            .env("GATEWAY_LIMITS_SSE_TOTAL", &limit)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Gateway {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn rss_bytes(&self) -> u64 {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Average bytes of gateway memory per idle stream.
async fn measure(gateway: &Gateway, n: usize) -> f64 {
    let token = csrf_token(gateway.addr).await;
    let mut warm = open(gateway.addr, WARM).await;
    publish(gateway.addr, &token, "warm").await;
    for stream in &mut warm {
        read_until(stream, "warm").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = gateway.rss_bytes();
    let mut streams = open(gateway.addr, n).await;
    publish(gateway.addr, &token, "hello").await;
    for stream in &mut streams {
        read_until(stream, "hello").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = gateway.rss_bytes();
    drop((warm, streams));
    after.saturating_sub(before) as f64 / n as f64
}

async fn open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let request = format!(
        "GET /redis/subscribe?channel={CHANNEL} HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n"
    );
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        read_until(&mut stream, "200 OK").await;
        streams.push(stream);
    }
    streams
}

async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no `{needle}` from the gateway"))
            .unwrap();
        assert!(
            read > 0,
            "the gateway closed a stream: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// One request with `connection: close`, answered in full.
async fn request(addr: SocketAddr, request: String) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The page's CSRF token, once the gateway answers (bounded wait).
async fn csrf_token(addr: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = request(
        addr,
        "GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n".into(),
    )
    .await;
    let start = page
        .find("x-csrf-token")
        .expect("the page carries its token")
        + 12;
    page[start..]
        .split('"')
        .find(|part| part.len() == 32 && part.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("a 32-hex-digit token")
        .to_owned()
}

async fn publish(addr: SocketAddr, token: &str, message: &str) {
    let body = format!("channel={CHANNEL}&message={message}");
    let answer = request(
        addr,
        format!(
            "POST /redis/publish HTTP/1.1\r\nhost: bench\r\nconnection: close\r\nx-csrf-token: {token}\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "publish failed: {answer}"
    );
}
