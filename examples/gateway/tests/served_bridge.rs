//! Two gateways bridged as in production (`chat::BRIDGE_PREFIX`, a key from `cluster.key`),
//! with real WebSocket clients: chat crosses between them, and bridge messages that are not
//! sealed under the cluster key (a forged "admin" line, a gateway with another key) reach no
//! client and are counted in `/ws/count`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use switchboard_core::{Envelope, Publisher, Subject, mem::MemBus};
use tokio_tungstenite::tungstenite::Message;

use super::served::{Served, visitor};
use crate::{
    chat,
    common::gateway_config::{ClusterConfig, LimitsConfig, Secret},
};

fn cluster(secret: &str) -> ClusterConfig {
    ClusterConfig {
        key: Some(Secret(secret.to_owned())),
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn join(served: &Served, user: &str) -> Socket {
    let url = format!("ws://{}/ws/connect?username={user}&room=lobby", served.addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next text frame holding `needle`; fails after a bound, naming what never came.
async fn next_with(ws: &mut Socket, needle: &str) -> String {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.contains(needle) => return text.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("socket ended waiting for `{needle}`: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no `{needle}` arrived"))
}

#[tokio::test]
async fn only_sealed_bridge_messages_reach_clients() {
    let bus = MemBus::new();
    let prefix = Subject::new(chat::BRIDGE_PREFIX).unwrap();
    let key = chat::bridge_key(&cluster("a cluster secret shared by both")).unwrap();
    let (a, b) = (
        Served::start(&LimitsConfig::default()).await,
        Served::start(&LimitsConfig::default()).await,
    );
    let _bridge_a = a
        .app
        .state
        .hub
        .bridge(bus.clone(), &prefix, &key)
        .await
        .unwrap();
    let _bridge_b = b
        .app
        .state
        .hub
        .bridge(bus.clone(), &prefix, &key)
        .await
        .unwrap();
    // A gateway with another key shares the bus but not the cluster.
    let stranger = Served::start(&LimitsConfig::default()).await;
    let other_key = chat::bridge_key(&cluster("some other cluster's secret")).unwrap();
    let _bridge_c = stranger
        .app
        .state
        .hub
        .bridge(bus.clone(), &prefix, &other_key)
        .await
        .unwrap();

    let mut alice = join(&a, "alice").await;
    next_with(&mut alice, "alice joined").await;
    let mut bob = join(&b, "bob").await;
    next_with(&mut bob, "bob joined").await;
    next_with(&mut alice, "bob joined").await;

    // Forged: what issue 10 sent through /nats/request, now straight onto the bridge subject.
    let forged = serde_json::json!({
        "node": "intruder", "kind": "message", "room": "lobby", "from": "admin",
        "text": "forged line", "at": "2026-01-01T00:00:00Z",
    });
    bus.publish(Envelope::json(Subject::new("switchboard.chat.chat").unwrap(), &forged).unwrap())
        .await
        .unwrap();
    let mut mallory = join(&stranger, "mallory").await;
    next_with(&mut mallory, "mallory joined").await;
    mallory
        .send(Message::text("from the wrong cluster"))
        .await
        .unwrap();

    alice.send(Message::text("hello bob")).await.unwrap();
    let line = next_with(&mut bob, "hello bob").await;
    assert!(!line.contains("forged") && !line.contains("wrong cluster"));

    // Counted, and visible over HTTP: one forged line plus the stranger's join and message
    // (and its heartbeats) on each gateway.
    // Counted, and visible over HTTP: the forged line, and the stranger's hello, snapshot,
    // join and message, on each gateway.
    for served in [&a, &b] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let answer = served.get(visitor(1), "/ws/count").await;
            let rejected =
                serde_json::from_str::<serde_json::Value>(&answer.body).unwrap()["bridge_rejected"]
                    .as_u64()
                    .unwrap();
            if rejected >= 5 {
                assert!(served.app.state.hub.stats().bridge_rejected >= rejected);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {rejected} bridge messages were counted as rejected"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Nothing forged reached a client on either side: the next line each sees is genuine.
    bob.send(Message::text("hello alice")).await.unwrap();
    let line = next_with(&mut alice, "hello alice").await;
    assert!(!line.contains("admin"));
}
