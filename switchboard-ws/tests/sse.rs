//! SSE responses: keep-alives, `Last-Event-ID` resume, and a clean end on shutdown.

use std::time::Duration;

use axum::{Router, body::Body, http::Request, routing::get};
use futures::{StreamExt, stream};
use switchboard_ws::{
    LastEventId, ReplayBuffer, Shutdown, SseConfig, SseEvent, no_replay, sse_response_with,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

fn fast_keep_alive() -> SseConfig {
    SseConfig {
        keep_alive: Duration::from_millis(50),
    }
}

fn app(buffer: ReplayBuffer, shutdown: Shutdown) -> Router {
    Router::new().route(
        "/events",
        get(move |LastEventId(last): LastEventId| async move {
            sse_response_with(
                buffer.subscribe(last.as_deref()),
                shutdown,
                fast_keep_alive(),
            )
        }),
    )
}

/// Reads the body until `done` holds for the text so far (10 s at most).
async fn read_until(body: Body, done: impl Fn(&str) -> bool) -> String {
    let mut chunks = body.into_data_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&text) {
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(chunk)) => text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
            Ok(None) => panic!("body ended early: {text:?}"),
            Err(_) => panic!("timed out; got {text:?}"),
        }
    }
    text
}

fn get_events(last_event_id: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/events");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn keep_alive_comments_arrive_while_quiet() {
    let response = app(ReplayBuffer::new(8), Shutdown::new())
        .oneshot(get_events(None))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = read_until(response.into_body(), |t| t.matches(":\n\n").count() >= 3).await;
    assert!(!text.contains("data:"), "only comments: {text:?}");
}

#[tokio::test]
async fn last_event_id_resumes_with_what_was_missed() {
    let buffer = ReplayBuffer::new(100);
    let shutdown = Shutdown::new();
    let ids: Vec<String> = (1..=5)
        .map(|i| buffer.push(SseEvent::new(format!("event {i}")).named("tick")))
        .collect();

    // The browser saw up to event 2, then reconnected.
    let response = app(buffer.clone(), shutdown.clone())
        .oneshot(get_events(Some(&ids[1])))
        .await
        .unwrap();
    let body = response.into_body();
    let pushed = buffer.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        pushed.push(SseEvent::new("event 6").named("tick"));
    });
    let text = read_until(body, |t| t.contains("event 6")).await;
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data, ["event 3", "event 4", "event 5", "event 6"]);
    assert!(text.contains(&format!("id: {}\n", ids[2])), "{text}");
    assert!(text.contains("event: tick\n"));
    assert!(!text.contains("event: reset"));
}

#[tokio::test]
async fn an_id_that_cannot_be_replayed_gets_a_reset_first() {
    let buffer = ReplayBuffer::new(2);
    let old = buffer.push(SseEvent::new("old"));
    for i in 0..5 {
        buffer.push(SseEvent::new(format!("newer {i}")));
    }
    let response = app(buffer.clone(), Shutdown::new())
        .oneshot(get_events(Some(&old)))
        .await
        .unwrap();
    let text = read_until(response.into_body(), |t| t.contains("\n\n")).await;
    assert!(text.starts_with("event: reset\n"), "{text:?}");

    // A source that cannot replay says so too.
    let mut events = no_replay(Some("41"), stream::iter([SseEvent::new("live")])).boxed();
    assert_eq!(events.next().await.unwrap().event.as_deref(), Some("reset"));
    assert_eq!(events.next().await.unwrap().data, "live");
    let mut fresh = no_replay(None, stream::iter([SseEvent::new("live")])).boxed();
    assert_eq!(fresh.next().await.unwrap().data, "live");
}

#[tokio::test]
async fn shutdown_ends_every_stream_with_an_end_event_over_tcp() {
    let buffer = ReplayBuffer::new(16);
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        axum::serve(listener, app(buffer.clone(), shutdown.clone()))
            .with_graceful_shutdown(shutdown.wait())
            .into_future(),
    );
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /events HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        clients.push(tcp);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    buffer.push(SseEvent::new("before shutdown"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.trigger();
    for mut tcp in clients {
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw))
            .await
            .expect("the server closed the connection")
            .unwrap();
        let text = dechunk(&String::from_utf8(raw).unwrap());
        assert!(text.contains("data: before shutdown"), "{text}");
        assert!(text.contains("event: end\ndata: shutdown\n\n"), "{text}");
    }
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("graceful shutdown completes")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_exhausted_source_ends_with_complete_and_odd_text_is_made_safe() {
    let events = stream::iter([SseEvent::new("line 1\r\nline 2")
        .named("bad\nname")
        .with_id("7\r")]);
    let response = sse_response_with(events, Shutdown::new(), fast_keep_alive());
    let text = read_until(response.into_body(), |t| t.contains("event: end")).await;
    assert!(text.contains("event: badname\n"), "{text:?}");
    assert!(text.contains("id: 7\n"), "{text:?}");
    assert!(text.contains("data: line 1\ndata: line 2\n"), "{text:?}");
    assert!(text.ends_with("event: end\ndata: complete\n\n"), "{text:?}");
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(raw: &str) -> String {
    let (head, mut rest) = raw.split_once("\r\n\r\n").expect("a complete head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}
