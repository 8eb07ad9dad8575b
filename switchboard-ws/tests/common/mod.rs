//! Helpers shared by the socket tests: a server on loopback and real WebSocket clients.
#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, time::Duration};

use axum::Router;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::CloseFrame},
};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Serves `router` on 127.0.0.1 (a free port) for the rest of the test.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Opens `/ws/connect?{query}`.
pub async fn connect(addr: SocketAddr, query: &str) -> Client {
    let url = format!("ws://{addr}/ws/connect?{query}");
    connect_async(url).await.expect("websocket handshake").0
}

/// What a client saw next: a text frame, or the close frame.
#[derive(Debug)]
pub enum Seen {
    Text(String),
    Closed(Option<CloseFrame>),
}

/// The next text or close frame (pings are answered by tungstenite while reading).
pub async fn next_seen(client: &mut Client) -> Seen {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("nothing received within 10 s");
        match msg {
            Some(Ok(Message::Text(text))) => return Seen::Text(text.to_string()),
            Some(Ok(Message::Close(frame))) => return Seen::Closed(frame),
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("websocket error: {err}"),
            None => return Seen::Closed(None),
        }
    }
}

/// The next text frame, as JSON.
pub async fn next_json(client: &mut Client) -> Value {
    match next_seen(client).await {
        Seen::Text(text) => serde_json::from_str(&text).unwrap(),
        Seen::Closed(frame) => panic!("closed unexpectedly: {frame:?}"),
    }
}

/// Skips presence events until the next chat message.
pub async fn next_message(client: &mut Client) -> Value {
    loop {
        let value = next_json(client).await;
        if value["type"] == "message" {
            return value;
        }
    }
}

/// Sends a text frame.
pub async fn say(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.unwrap();
}

/// Polls `check` until it holds, for up to 10 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
