//! HTTP/1.1 over raw TCP, as a browser's socket would speak it to the gateway: requests that
//! close, keep-alive requests read to the end of their body, and reads bounded in time.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// How long any one answer may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads `stream` until `needle` has arrived; panics when the gateway closes or stays silent.
pub(crate) async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let read = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no `{needle}` from the gateway"))
            .unwrap();
        assert!(
            read > 0,
            "the gateway closed a connection before `{needle}`: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// One request with `connection: close`, answered in full.
pub(crate) async fn request(addr: SocketAddr, request: String) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .expect("the gateway did not finish an answer")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// `GET path` on a connection that stays open: reads the whole answer (by its
/// `content-length`) and returns the idle connection.
pub(crate) async fn keep_alive_get(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let text = read_until(&mut stream, "\r\n\r\n").await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("GET {path} has no content-length: {head}"));
    let mut missing = length.saturating_sub(body.len());
    let mut buf = [0u8; 512];
    while missing > 0 {
        let read = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
            .await
            .expect("the gateway did not finish an answer")
            .unwrap();
        assert!(read > 0, "the gateway closed a keep-alive connection");
        missing = missing.saturating_sub(read);
    }
    stream
}

/// The page's CSRF token.
pub(crate) async fn csrf_token(addr: SocketAddr) -> String {
    let page = request(
        addr,
        "GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n".into(),
    )
    .await;
    let start = page
        .find("x-csrf-token")
        .expect("the page carries its token")
        + "x-csrf-token".len();
    page[start..]
        .split('"')
        .find(|part| part.len() == 32 && part.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("a 32-hex-digit token")
        .to_owned()
}

/// Publishes `message` on the page channel `channel` through `POST /redis/publish`.
pub(crate) async fn publish(addr: SocketAddr, token: &str, channel: &str, message: &str) {
    let body = format!("channel={channel}&message={message}");
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

/// The SSE streams the gateway counts as open (`open_streams` of `GET /ws/count`).
pub(crate) async fn open_streams(addr: SocketAddr) -> u64 {
    let answer = request(
        addr,
        "GET /ws/count HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n".into(),
    )
    .await;
    let (_, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET /ws/count: {answer}"));
    let count: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|err| panic!("GET /ws/count: {err}: {body}"));
    count["open_streams"]
        .as_u64()
        .unwrap_or_else(|| panic!("GET /ws/count has no open_streams: {body}"))
}
