//! Limits on what visitors hold open or send, over real sockets: connections, SSE streams and
//! WebSockets per client address (429) and in total (503), all with `Retry-After` and a reason
//! the page shows; slots freed when a connection, stream or socket closes; the rate limit on
//! mutating routes.

use std::time::Duration;

use futures::SinkExt;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_tungstenite::tungstenite::{self, Message};

use super::served::{Served, read_until, visitor};
use crate::common::gateway_config::{LimitsConfig, OpenLimit, RateLimit};

const STREAM: &str = "/redis/subscribe?channel=switchboard.page.limits";

fn limits(sse: OpenLimit, ws: OpenLimit, mutations: RateLimit) -> LimitsConfig {
    LimitsConfig {
        connections: wide(),
        sse,
        ws,
        mutations,
        retry: 7,
    }
}

fn wide() -> OpenLimit {
    OpenLimit {
        client: 100,
        total: 100,
    }
}

fn relaxed() -> RateLimit {
    RateLimit {
        rate: 100,
        burst: 100,
    }
}

/// Waits until `probe` succeeds, failing with `what` after a bound.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sse_streams_are_limited_per_client_and_in_total() {
    let served = Served::start(&limits(
        OpenLimit {
            client: 2,
            total: 3,
        },
        wide(),
        relaxed(),
    ))
    .await;
    let (alice, bob, carol) = (visitor(11), visitor(12), visitor(13));
    let mut held = Vec::new();
    for _ in 0..2 {
        let (answer, stream) = served.open_sse(alice, STREAM).await;
        assert_eq!(answer.status, 200);
        held.push(stream);
    }
    let (refused, _) = served.open_sse(alice, STREAM).await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("7"));
    assert_eq!(refused.header("hx-retarget"), Some("#flash"));
    // The panel that would open one more stream says why, in the page's banner.
    let listen = served
        .get(alice, "/redis/listen?channel=switchboard.page.limits")
        .await;
    assert_eq!(listen.status, 429);
    assert!(
        listen.body.contains("too many open SSE streams"),
        "{}",
        listen.body
    );

    // Another visitor still gets one, then the total is reached for everybody.
    let (answer, bob_stream) = served.open_sse(bob, STREAM).await;
    assert_eq!(answer.status, 200);
    let (full, _) = served.open_sse(carol, STREAM).await;
    assert_eq!(full.status, 503, "{full:?}");
    assert_eq!(full.header("retry-after"), Some("7"));
    assert!(
        full.body.contains("limit of 3 open SSE streams"),
        "{}",
        full.body
    );

    // Closing streams frees their slots.
    drop(held.pop());
    drop(bob_stream);
    eventually("the closed streams' slots to be freed", || {
        let open = served.app.state.open_streams.open();
        async move { open == 1 }
    })
    .await;
    let (answer, _again) = served.open_sse(carol, STREAM).await;
    assert_eq!(answer.status, 200);
}

async fn ws_connect(
    served: &Served,
    from: std::net::IpAddr,
    user: &str,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, tungstenite::Error> {
    let stream = served.connect(from).await;
    let url = format!(
        "ws://{}/ws/connect?username={user}&room=limits",
        served.addr
    );
    tokio_tungstenite::client_async(url, stream)
        .await
        .map(|(ws, _)| ws)
}

fn refused_status(result: Result<impl Sized, tungstenite::Error>) -> (u16, Option<String>) {
    match result {
        Err(tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
        ),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the socket opened"),
    }
}

#[tokio::test]
async fn websockets_are_limited_per_client_and_in_total() {
    let served = Served::start(&limits(
        wide(),
        OpenLimit {
            client: 1,
            total: 2,
        },
        relaxed(),
    ))
    .await;
    let (alice, bob, carol) = (visitor(21), visitor(22), visitor(23));
    let mut first = ws_connect(&served, alice, "alice").await.unwrap();
    assert_eq!(
        refused_status(ws_connect(&served, alice, "alice2").await),
        (429, Some("7".to_owned()))
    );
    let room = served.get(alice, "/ws/room?username=a&room=limits").await;
    assert_eq!(room.status, 429);
    assert!(
        room.body.contains("too many open WebSockets"),
        "{}",
        room.body
    );
    let _bob = ws_connect(&served, bob, "bob").await.unwrap();
    assert_eq!(
        refused_status(ws_connect(&served, carol, "carol").await),
        (503, Some("7".to_owned()))
    );
    // The socket holds its slot until it closes.
    first.send(Message::Close(None)).await.unwrap();
    while let Some(Ok(_)) = futures::StreamExt::next(&mut first).await {}
    eventually("the closed socket's slot to be freed", || {
        let open = served.app.state.open_sockets.open();
        async move { open == 1 }
    })
    .await;
    let _carol = ws_connect(&served, carol, "carol").await.unwrap();
}

#[tokio::test]
async fn mutating_routes_are_rate_limited_per_client() {
    let served = Served::start(&limits(wide(), wide(), RateLimit { rate: 1, burst: 3 })).await;
    let (alice, bob) = (visitor(31), visitor(32));
    let publish = b"channel=switchboard.page.rate&message=m";
    for n in 0..3 {
        let answer = served
            .send_form(alice, "POST", "/redis/publish", publish)
            .await;
        assert_eq!(answer.status, 200, "request {n}: {}", answer.body);
    }
    let refused = served
        .send_form(alice, "POST", "/redis/publish", publish)
        .await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    assert!(
        refused.body.contains("too many requests"),
        "{}",
        refused.body
    );
    let refused = served
        .send_form(alice, "DELETE", "/redis/del", b"key=k")
        .await;
    assert_eq!(refused.status, 429);
    // Reads are not limited, and other visitors have their own bucket.
    for _ in 0..5 {
        assert_eq!(served.get(alice, "/ws/count").await.status, 200);
    }
    let answer = served
        .send_form(bob, "POST", "/redis/publish", publish)
        .await;
    assert_eq!(answer.status, 200);
}

/// A keep-alive connection from `from` that has had one request answered (so the server has
/// accepted and counted it), left open and idle.
async fn answered_connection(served: &Served, from: std::net::IpAddr) -> TcpStream {
    let mut stream = served.connect(from).await;
    stream
        .write_all(b"GET /ws/count HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut stream, "open_streams").await;
    stream
}

#[tokio::test]
async fn connections_are_limited_per_client_and_in_total() {
    let mut config = limits(wide(), wide(), relaxed());
    config.connections = OpenLimit {
        client: 2,
        total: 3,
    };
    let served = Served::start(&config).await;
    let (alice, bob, carol) = (visitor(51), visitor(52), visitor(53));
    let _alice = [
        answered_connection(&served, alice).await,
        answered_connection(&served, alice).await,
    ];
    let refused = served.get(alice, "/ws/count").await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("7"));
    assert_eq!(refused.header("hx-retarget"), Some("#flash"));
    assert!(
        refused.body.contains("too many open connections"),
        "{}",
        refused.body
    );

    let bob_connection = answered_connection(&served, bob).await;
    let full = served.get(carol, "/ws/count").await;
    assert_eq!(full.status, 503, "{full:?}");
    assert_eq!(full.header("retry-after"), Some("7"));
    assert!(
        full.body.contains("limit of 3 open connections"),
        "{}",
        full.body
    );

    // A closed connection frees its place.
    drop(bob_connection);
    eventually("the closed connection's place to be freed", || async {
        served.get(carol, "/ws/count").await.status == 200
    })
    .await;
}
