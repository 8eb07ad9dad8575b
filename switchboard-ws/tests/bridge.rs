//! Two hubs bridged over a pub/sub transport, with real WebSocket clients on each node.

mod common;
#[path = "common/nats.rs"]
mod nats;

use std::time::Duration;

use axum::Router;
use common::{Client, connect, eventually, next_json, next_message, say, serve};
use switchboard_core::{Envelope, Publisher, Subject, Subscriber, mem::MemBus};
use switchboard_ws::{BridgeKey, Hub, HubConfig, UpgradeConfig, fuzzing, ws_route};

/// The cluster key every node of these tests shares.
fn key() -> BridgeKey {
    BridgeKey::new("switchboard-ws test cluster key").unwrap()
}

/// Fast heartbeats; a TTL long enough that a loaded machine never expires a live node.
fn config() -> HubConfig {
    HubConfig {
        heartbeat_interval: Duration::from_millis(100),
        presence_ttl: Duration::from_secs(3),
        ..HubConfig::default()
    }
}

async fn node(hub: &Hub) -> std::net::SocketAddr {
    serve(Router::new().route(
        "/ws/connect",
        ws_route(hub.clone(), UpgradeConfig::default()),
    ))
    .await
}

fn unique_prefix() -> Subject {
    Subject::new(format!("sbws-test.{}", uuid::Uuid::now_v7().simple())).unwrap()
}

/// A message sent on node A reaches a client on node B exactly once (and never returns to A
/// twice), and presence merges across the nodes.
async fn exactly_once_across_nodes<T>(transport_a: T, transport_b: T)
where
    T: Publisher + Subscriber + Clone + 'static,
{
    let prefix = unique_prefix();
    let (hub_a, hub_b) = (Hub::new(config()), Hub::new(config()));
    let _bridge_a = hub_a.bridge(transport_a, &prefix, &key()).await.unwrap();
    let _bridge_b = hub_b.bridge(transport_b, &prefix, &key()).await.unwrap();
    let (addr_a, addr_b) = (node(&hub_a).await, node(&hub_b).await);

    let mut alice: Client = connect(addr_a, "username=alice").await;
    assert_eq!(next_json(&mut alice).await["online"], 1);
    eventually("node b to see alice", || {
        hub_b.presence("lobby").online == 1
    })
    .await;
    let mut bob = connect(addr_b, "username=bob").await;
    assert_eq!(
        next_json(&mut bob).await["online"],
        2,
        "bob's join counts alice on node a"
    );
    let joined = next_json(&mut alice).await;
    assert_eq!(
        (joined["user"].as_str(), joined["online"].as_u64()),
        (Some("bob"), Some(2))
    );
    for hub in [&hub_a, &hub_b] {
        assert_eq!(hub.presence("lobby").members, ["alice", "bob"]);
    }

    // Each message once per client, in order: a duplicate or an echo would show up in between.
    for text in ["a1", "a2", "a3"] {
        say(&mut alice, text).await;
    }
    say(&mut bob, "b1").await;
    for client in [&mut alice, &mut bob] {
        let mut from_a = Vec::new();
        let mut from_b = Vec::new();
        while from_a.len() + from_b.len() < 4 {
            let msg = next_message(client).await;
            let text = msg["text"].as_str().unwrap().to_owned();
            if msg["from"] == "alice" {
                from_a.push(text)
            } else {
                from_b.push(text)
            }
        }
        assert_eq!(from_a, ["a1", "a2", "a3"]);
        assert_eq!(from_b, ["b1"]);
    }
    say(&mut alice, "last").await;
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            next_message(client).await["text"],
            "last",
            "no duplicate before it"
        );
    }

    drop(bob);
    let left = next_json(&mut alice).await;
    assert_eq!(
        (
            left["type"].as_str(),
            left["user"].as_str(),
            left["online"].as_u64()
        ),
        (Some("left"), Some("bob"), Some(1))
    );
    assert_eq!(
        hub_a.stats().slow_consumers + hub_b.stats().slow_consumers,
        0
    );
}

#[tokio::test]
async fn bridged_over_the_in_memory_bus() {
    let bus = MemBus::new();
    exactly_once_across_nodes(bus.clone(), bus).await;
}

#[tokio::test]
async fn bridged_over_nats() {
    // One connection per node, as two gateway processes would have.
    exactly_once_across_nodes(
        nats::NatsPubSub::connect().await,
        nats::NatsPubSub::connect().await,
    )
    .await;
}

#[tokio::test]
async fn presence_of_a_vanished_node_expires() {
    let bus = MemBus::new();
    let prefix = unique_prefix();
    let short_ttl = HubConfig {
        presence_ttl: Duration::from_millis(500),
        ..config()
    };
    let (hub_a, hub_b) = (Hub::new(short_ttl.clone()), Hub::new(short_ttl));
    let _bridge_a = hub_a.bridge(bus.clone(), &prefix, &key()).await.unwrap();
    let bridge_b = hub_b.bridge(bus.clone(), &prefix, &key()).await.unwrap();
    let mut alice = hub_a.join("lobby", "alice").await.unwrap();
    let _bob = hub_b.join("lobby", "bob").await.unwrap();
    let _bea = hub_b.join("lobby", "bea").await.unwrap();
    eventually("a to see 3", || hub_a.presence("lobby").online == 3).await;

    // Node b dies without a word: its heartbeats stop, and a forgets its members after the TTL.
    drop(bridge_b);
    eventually("b's presence to expire", || {
        hub_a.presence("lobby").online == 1
    })
    .await;
    let mut left = Vec::new();
    while left.len() < 2 {
        let bytes = futures::StreamExt::next(&mut alice).await.unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if value["type"] == "left" {
            left.push(value["user"].as_str().unwrap().to_owned());
        }
    }
    left.sort();
    assert_eq!(left, ["bea", "bob"]);
}

#[tokio::test]
async fn a_closed_bridge_says_goodbye_at_once() {
    let bus = MemBus::new();
    let prefix = unique_prefix();
    let slow_expiry = HubConfig {
        presence_ttl: Duration::from_secs(3600),
        ..HubConfig::default()
    };
    let (hub_a, hub_b) = (Hub::new(slow_expiry.clone()), Hub::new(slow_expiry));
    let _bridge_a = hub_a.bridge(bus.clone(), &prefix, &key()).await.unwrap();
    let bridge_b = hub_b.bridge(bus.clone(), &prefix, &key()).await.unwrap();
    assert!(matches!(
        hub_b.bridge(bus.clone(), &prefix, &key()).await,
        Err(switchboard_ws::WsError::AlreadyBridged)
    ));
    let _bob = hub_b.join("lobby", "bob").await.unwrap();
    eventually("a to see bob", || hub_a.presence("lobby").online == 1).await;
    bridge_b.close().await.unwrap();
    eventually("a to forget bob", || hub_a.presence("lobby").online == 0).await;
    // b is detached: its messages stay local now.
    let _ = hub_b.send("lobby", "bob", "local only").await;
    assert_eq!(hub_a.presence("lobby").online, 0);
}

#[tokio::test]
async fn a_node_joining_later_learns_existing_presence() {
    let bus = MemBus::new();
    let prefix = unique_prefix();
    let (hub_a, hub_b) = (
        Hub::new(HubConfig::default()),
        Hub::new(HubConfig::default()),
    );
    let _bridge_a = hub_a.bridge(bus.clone(), &prefix, &key()).await.unwrap();
    let _alice = hub_a.join("lobby", "alice").await.unwrap();
    // b attaches after alice joined; its hello makes a answer with a snapshot at once, long
    // before the default 5 s heartbeat.
    let _bridge_b = hub_b.bridge(bus.clone(), &prefix, &key()).await.unwrap();
    eventually("b to learn about alice", || {
        hub_b.presence("lobby").members == ["alice"]
    })
    .await;
}

/// Bridge messages that are not sealed under the cluster key reach no client: forged chat
/// (unsealed, or sealed under another key, or moved to another subject), malformed payloads.
/// Each is dropped and counted; a genuine message after them still arrives.
#[tokio::test]
async fn forged_bridge_messages_are_dropped_and_counted() {
    let bus = MemBus::new();
    let prefix = unique_prefix();
    let hub = Hub::new(config());
    let _bridge = hub.bridge(bus.clone(), &prefix, &key()).await.unwrap();
    let mut alice = hub.join("lobby", "alice").await.unwrap();
    futures::StreamExt::next(&mut alice).await.unwrap(); // her own join
    let chat = Subject::new(format!("{prefix}.chat")).unwrap();
    let forged = |from: &str| {
        serde_json::to_vec(&serde_json::json!({
            "node": "intruder", "kind": "message", "room": "lobby", "from": from,
            "text": "forged", "at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    };
    let other_key = BridgeKey::new("not the cluster's key at all").unwrap();
    let presence = format!("{prefix}.presence");
    let payloads: Vec<Vec<u8>> = vec![
        forged("admin"),
        fuzzing::seal(&other_key, chat.as_str(), &forged("admin")),
        fuzzing::seal(&key(), &presence, &forged("admin")),
        fuzzing::seal(&key(), chat.as_str(), b"not json"),
        b"short".to_vec(),
    ];
    let forged_count = payloads.len() as u64;
    for payload in payloads {
        bus.publish(Envelope::new(chat.clone(), payload))
            .await
            .unwrap();
    }
    eventually("every forged message to be counted", || {
        hub.stats().bridge_rejected == forged_count
    })
    .await;
    let genuine = fuzzing::seal(&key(), chat.as_str(), &forged("bob"));
    bus.publish(Envelope::new(chat, genuine)).await.unwrap();
    let got = futures::StreamExt::next(&mut alice).await.unwrap();
    let got: serde_json::Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(
        got["from"], "bob",
        "the first message alice sees is the genuine one"
    );
    assert_eq!(hub.stats().bridge_rejected, forged_count);
}
