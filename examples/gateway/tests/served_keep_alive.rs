//! Several requests on one kept-alive connection: hyper answers each alone and hands the
//! connection back (`common/connection.rs`), so a stream opened after other requests is still
//! written past hyper, and a request whose body is left unread ends the connection.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{
    LIMIT,
    served::{RawAnswer, Served, parse, read_until, visitor},
};
use crate::common::gateway_config::LimitsConfig;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads one response whose body has a `content-length` off a kept-alive connection.
async fn response(stream: &mut TcpStream) -> RawAnswer {
    let mut bytes = Vec::new();
    let read = async {
        loop {
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = parse(&bytes[..end]);
                let length: usize = head
                    .header("content-length")
                    .unwrap_or_else(|| panic!("no content-length: {head:?}"))
                    .parse()
                    .unwrap();
                if bytes.len() >= end + 4 + length {
                    assert_eq!(bytes.len(), end + 4 + length, "more than one answer");
                    return;
                }
            }
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed within an answer: {}",
                String::from_utf8_lossy(&bytes)
            );
            bytes.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(IO_TIMEOUT, read)
        .await
        .expect("no whole answer");
    parse(&bytes)
}

/// Reads until the server closes the connection.
async fn rest(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut bytes))
        .await
        .expect("the connection was not closed")
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n")
}

fn kept_alive(answer: &RawAnswer) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("connection"), None, "{answer:?}");
}

#[tokio::test]
async fn requests_on_one_connection_are_answered_in_turn_and_it_stays_open() {
    let served = Served::start(&LimitsConfig::default()).await;
    let mut stream = served.connect(visitor(61)).await;
    let channel = format!("switchboard.page.keep-{}", uuid::Uuid::new_v4().simple());
    let publish = served.form_request(
        "POST",
        "/redis/publish",
        format!("channel={channel}&message=hi").as_bytes(),
    );
    for request in [
        get("/ws/count").into_bytes(),
        publish,
        get("/health").into_bytes(),
    ] {
        stream.write_all(&request).await.unwrap();
        kept_alive(&response(&mut stream).await);
    }
    // Pipelined: both heads in one write, answered in order.
    let two = format!("{}{}", get("/ws/count"), get("/health"));
    stream.write_all(two.as_bytes()).await.unwrap();
    let first = response(&mut stream).await;
    kept_alive(&first);
    assert!(first.body.contains("open_streams"), "{first:?}");
    let second = response(&mut stream).await;
    kept_alive(&second);
    assert!(!second.body.contains("open_streams"), "{second:?}");
}

#[tokio::test]
async fn a_stream_opened_after_other_requests_is_written_past_hyper() {
    let served = Served::start(&LimitsConfig::default()).await;
    let you = visitor(62);
    let mut stream = served.connect(you).await;
    stream.write_all(get("/ws/count").as_bytes()).await.unwrap();
    kept_alive(&response(&mut stream).await);
    let channel = format!("switchboard.page.keep-{}", uuid::Uuid::new_v4().simple());
    let open = format!(
        "GET /redis/subscribe?channel={channel} HTTP/1.1\r\nhost: t\r\n\
         connection: keep-alive\r\naccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(open.as_bytes()).await.unwrap();
    let head = read_until(&mut stream, "\r\n\r\n").await;
    // What the writer past hyper says: this connection carries the stream, then closes.
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let published = served
        .send_form(
            you,
            "POST",
            "/redis/publish",
            format!("channel={channel}&message=kept").as_bytes(),
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.body);
    read_until(&mut stream, "<span>kept</span>").await;
}

#[tokio::test]
async fn a_body_left_unread_ends_the_connection_after_its_answer() {
    let served = Served::start(&LimitsConfig::default()).await;
    let mut stream = served.connect(visitor(63)).await;
    // Over the body limit, and only part of it sent: the route refuses without reading it.
    let head = format!(
        "POST /redis/publish HTTP/1.1\r\nhost: t\r\nx-csrf-token: {}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        served.app.state.csrf_token,
        LIMIT * 4
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'a'; 512]).await.unwrap();
    let answer = rest(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
}

#[tokio::test]
async fn a_connection_waiting_for_its_next_request_is_closed_at_shutdown() {
    let served = Served::start(&LimitsConfig::default()).await;
    let mut stream = served.connect(visitor(64)).await;
    stream.write_all(get("/ws/count").as_bytes()).await.unwrap();
    kept_alive(&response(&mut stream).await);
    served.app.shutdown.trigger();
    assert_eq!(rest(&mut stream).await, "");
    tokio::time::timeout(IO_TIMEOUT, served.stopped())
        .await
        .expect("the server did not stop");
}

#[tokio::test]
async fn a_request_asking_to_close_is_answered_and_closed() {
    let served = Served::start(&LimitsConfig::default()).await;
    let mut stream = served.connect(visitor(65)).await;
    stream.write_all(get("/ws/count").as_bytes()).await.unwrap();
    kept_alive(&response(&mut stream).await);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = rest(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
}
