//! The gateway served for real (`common::server::serve_on` on a loopback port) and a raw
//! HTTP/1.1 client over TCP, so tests see exactly what a visitor's socket sees, from any
//! loopback address (127.0.0.x) to act as several visitors.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    sync::watch,
};

use super::TestApp;
use crate::common::{gateway_config::LimitsConfig, server};

/// A gateway listening on 127.0.0.1.
pub(crate) struct Served {
    pub(crate) app: TestApp,
    pub(crate) addr: SocketAddr,
    /// Turns true when `serve_on` has returned.
    stopped: watch::Receiver<bool>,
}

/// A response as read off the socket.
#[derive(Debug)]
pub(crate) struct RawAnswer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl RawAnswer {
    /// The value of header `name` (lowercase), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

const IO_TIMEOUT: Duration = Duration::from_secs(10);

impl Served {
    pub(crate) async fn start(limits: &LimitsConfig) -> Served {
        let app = TestApp::with_limits(limits).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stopped_tx, stopped) = watch::channel(false);
        let serving = server::serve_on(
            listener,
            app.app.clone(),
            app.shutdown.clone(),
            limits.clone(),
        );
        tokio::spawn(async move {
            serving.await;
            stopped_tx.send_replace(true);
        });
        Served { app, addr, stopped }
    }

    /// Resolves once the server has stopped (after shutdown and draining).
    pub(crate) async fn stopped(&self) {
        self.stopped
            .clone()
            .wait_for(|stopped| *stopped)
            .await
            .expect("the server task failed");
    }

    /// A TCP connection from `from` (a 127.0.0.x address).
    pub(crate) async fn connect(&self, from: IpAddr) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        tokio::time::timeout(IO_TIMEOUT, socket.connect(self.addr))
            .await
            .expect("connect timed out")
            .unwrap_or_else(|err| panic!("the gateway at {} refused: {err}", self.addr))
    }

    /// Sends `request` (a whole HTTP/1.1 request; `Connection: close` is added) and reads the
    /// answer to the end.
    pub(crate) async fn raw(&self, from: IpAddr, request: &[u8]) -> RawAnswer {
        let mut stream = self.connect(from).await;
        let (head, rest) = split_head(request);
        let mut sent = head.to_vec();
        sent.extend_from_slice(b"connection: close\r\n\r\n");
        sent.extend_from_slice(rest);
        stream.write_all(&sent).await.unwrap();
        let mut bytes = Vec::new();
        tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut bytes))
            .await
            .expect("the gateway did not finish its answer")
            .unwrap();
        parse(&bytes)
    }

    /// A GET from `from`.
    pub(crate) async fn get(&self, from: IpAddr, path: &str) -> RawAnswer {
        self.raw(
            from,
            format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes(),
        )
        .await
    }

    /// A urlencoded POST (or other `method`) from `from`, with the page's CSRF header.
    pub(crate) async fn send_form(
        &self,
        from: IpAddr,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> RawAnswer {
        let request = self.form_request(method, path, body);
        self.raw(from, &request).await
    }

    /// The bytes of a urlencoded `method` request with the page's CSRF header.
    pub(crate) fn form_request(&self, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: t\r\nx-csrf-token: {}\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
            self.app.state.csrf_token,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    }

    /// Opens an SSE stream from `from`: the answer's head, and the socket (still open when the
    /// status is 200).
    pub(crate) async fn open_sse(&self, from: IpAddr, path: &str) -> (RawAnswer, TcpStream) {
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n");
        self.open(from, &request).await
    }

    /// Sends `request` on a new connection: the answer's head (and whatever of the body came
    /// with it), and the socket, left open.
    pub(crate) async fn open(&self, from: IpAddr, request: &str) -> (RawAnswer, TcpStream) {
        let mut stream = self.connect(from).await;
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut bytes = Vec::new();
        let mut buf = [0u8; 1024];
        while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
                .await
                .expect("no response head")
                .unwrap();
            assert!(n > 0, "connection closed before the response head");
            bytes.extend_from_slice(&buf[..n]);
        }
        (parse(&bytes), stream)
    }
}

/// Reads `stream` until `needle` arrives; fails after a bound.
pub(crate) async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream closed before `{needle}`");
            seen.extend_from_slice(&buf[..n]);
        }
    };
    if tokio::time::timeout(IO_TIMEOUT, read).await.is_err() {
        panic!(
            "no `{needle}` on the stream; got: {}",
            String::from_utf8_lossy(&seen)
        );
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Loopback address 127.0.0.`n`, a visitor of its own.
pub(crate) fn visitor(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

fn split_head(request: &[u8]) -> (&[u8], &[u8]) {
    let at = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a request head ends with an empty line");
    (&request[..at + 2], &request[at + 4..])
}

/// A response's head and body as text.
pub(crate) fn parse(bytes: &[u8]) -> RawAnswer {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    RawAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
