//! Requests for an event stream, which the server answers past hyper (`common/event_stream.rs`),
//! next to everything else on the same port, which hyper answers: over raw sockets, and with
//! hyper's own HTTP client reading the chunked stream as any real client would.

use std::time::Duration;

use axum::{Router, body::Bytes, http::Request, routing::get};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use switchboard_ws::{LastEventId, ReplayBuffer, SseEvent, sse_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::served::{Served, read_until, visitor};
use crate::common::{gateway_config::LimitsConfig, server::serve_on, shutdown::Shutdown};

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn channel() -> String {
    format!("switchboard.page.streams-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn an_event_stream_is_written_past_hyper_and_gets_what_is_published() {
    let served = Served::start(&LimitsConfig::default()).await;
    let you = visitor(51);
    let channel = channel();
    let (head, mut stream) = served
        .open_sse(you, &format!("/redis/subscribe?channel={channel}"))
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(head.header("connection"), Some("close"));
    assert!(head.header("date").is_some(), "{head:?}");
    // The page's security headers come from the same router as every other answer.
    assert!(head.header("x-content-type-options").is_some(), "{head:?}");

    let published = served
        .send_form(
            you,
            "POST",
            "/redis/publish",
            format!("channel={channel}&message=past-hyper").as_bytes(),
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.body);
    let seen = read_until(&mut stream, "past-hyper").await;
    assert!(seen.contains("event: message"), "{seen}");
}

#[tokio::test]
async fn other_requests_on_the_same_port_are_hyper_s_as_before() {
    let served = Served::start(&LimitsConfig::default()).await;
    let you = visitor(52);
    assert_eq!(served.get(you, "/health").await.status, 200);

    // Keep-alive still works: two requests on one connection, the first head read ahead.
    let mut stream = served.connect(you).await;
    for _ in 0..2 {
        stream
            .write_all(b"GET /ws/count HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        let answer = read_until(&mut stream, "open_streams").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(!answer.contains("connection: close"), "{answer}");
    }

    // A stream asked for without `Accept: text/event-stream` is hyper's, and still a stream.
    let plain = format!(
        "GET /redis/subscribe?channel={} HTTP/1.1\r\nhost: t\r\n\r\n",
        channel()
    );
    let (head, _stream) = served.open(you, &plain).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("connection"), None, "{head:?}");

    // Malformed or oversized heads that ask for a stream are answered by hyper, as before.
    let sse = "accept: text/event-stream\r\n";
    let malformed = served
        .raw(
            you,
            format!("GET /redis/subscribe HTTP/1.1\r\n{sse}bad header\r\n\r\n").as_bytes(),
        )
        .await;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    let huge = format!("x-big: {}\r\n\r\n", "a".repeat(8 * 1024 + 256));
    let oversized = served
        .raw(
            you,
            format!("GET /firehose/stream HTTP/1.1\r\n{sse}{huge}").as_bytes(),
        )
        .await;
    assert_eq!(oversized.status, 431, "{oversized:?}");
}

#[tokio::test]
async fn a_refused_stream_is_answered_whole_and_closed() {
    let served = Served::start(&LimitsConfig::default()).await;
    let mut stream = served.connect(visitor(53)).await;
    stream
        .write_all(b"GET /nats/subscribe?subject=switchboard.chat.x HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(STOP_TIMEOUT, stream.read_to_string(&mut answer))
        .await
        .expect("the refusal was not closed")
        .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400 Bad Request"), "{head}");
    let length = format!("content-length: {}", body.len());
    assert!(head.contains(&length), "{head} / {body}");
    assert!(
        body.contains("switchboard.page"),
        "the refusal names the namespace: {body}"
    );
}

/// A route that replays from `Last-Event-ID`, served by `serve_on` like the gateway.
async fn replaying(buffer: ReplayBuffer, shutdown: Shutdown) -> std::net::SocketAddr {
    let sse = shutdown.sse();
    let router = Router::new().route(
        "/replay",
        get(move |LastEventId(last): LastEventId| async move {
            sse_response(buffer.subscribe(last.as_deref()), sse)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(
        listener,
        router,
        shutdown,
        LimitsConfig::default(),
    ));
    addr
}

#[tokio::test]
async fn a_real_client_resumes_after_last_event_id_and_sees_the_stream_end_on_shutdown() {
    let buffer = ReplayBuffer::new(16);
    let first = buffer.push(SseEvent::new("one"));
    buffer.push(SseEvent::new("two"));
    let shutdown = Shutdown::new();
    let addr = replaying(buffer.clone(), shutdown.clone()).await;

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = Request::get(format!("http://{addr}/replay"))
        .header("accept", "text/event-stream")
        .header("last-event-id", &first)
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(STOP_TIMEOUT, client.request(request))
        .await
        .expect("no response head")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["connection"], "close");
    let mut body = response.into_body();
    let mut seen = String::new();
    let mut next = async || {
        let frame = tokio::time::timeout(STOP_TIMEOUT, body.frame())
            .await
            .expect("the stream went quiet")?
            .expect("the chunked stream is well-formed");
        Some(String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap())
    };
    while !seen.contains("data: two") {
        seen.push_str(&next().await.expect("the stream ended early"));
    }
    assert!(
        !seen.contains("data: one"),
        "replayed what was already seen: {seen}"
    );

    buffer.push(SseEvent::new("three"));
    while !seen.contains("data: three") {
        seen.push_str(&next().await.expect("the stream ended early"));
    }

    shutdown.trigger();
    // The stream ends with `event: end`, then its last chunk: hyper's client reads it to the end.
    while let Some(text) = next().await {
        seen.push_str(&text);
    }
    assert!(seen.contains("event: end\ndata: shutdown"), "{seen}");
}

#[tokio::test]
async fn open_streams_end_on_shutdown_and_the_server_then_stops() {
    let served = Served::start(&LimitsConfig::default()).await;
    let (head, mut stream) = served
        .open_sse(
            visitor(54),
            &format!("/redis/subscribe?channel={}", channel()),
        )
        .await;
    assert_eq!(head.status, 200);
    served.app.shutdown.trigger();
    read_until(&mut stream, "event: end").await;
    let mut rest = Vec::new();
    tokio::time::timeout(STOP_TIMEOUT, stream.read_to_end(&mut rest))
        .await
        .expect("the stream was not closed after its end")
        .unwrap();
    tokio::time::timeout(STOP_TIMEOUT, served.stopped())
        .await
        .expect("the server did not stop once its streams ended");
}
