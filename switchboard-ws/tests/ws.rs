//! The hub through axum with real WebSocket clients over TCP.

mod common;

use std::time::Duration;

use axum::Router;
use common::{Seen, connect, eventually, next_json, next_message, next_seen, say, serve};
use futures::StreamExt;
use switchboard_ws::{Hub, HubConfig, UpgradeConfig, ws_route};
use tokio_tungstenite::tungstenite::{
    self, Message, client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode,
};

fn app(hub: &Hub, config: UpgradeConfig) -> Router {
    Router::new().route("/ws/connect", ws_route(hub.clone(), config))
}

#[tokio::test]
async fn three_clients_see_every_message_in_the_same_order() {
    let hub = Hub::new(HubConfig::default());
    let addr = serve(app(&hub, UpgradeConfig::default())).await;
    let mut clients = Vec::new();
    for (i, name) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let mut client = connect(addr, &format!("username={name}&room=lobby")).await;
        let joined = next_json(&mut client).await;
        assert_eq!(joined["user"], name);
        assert_eq!(joined["online"], i + 1);
        for earlier in &mut clients {
            let seen = next_json(earlier).await;
            assert_eq!(
                (seen["user"].as_str(), seen["online"].as_u64()),
                (Some(name), Some(i as u64 + 1))
            );
        }
        clients.push(client);
    }
    let presence = hub.presence("lobby");
    assert_eq!(presence.online, 3);
    assert_eq!(presence.members, ["alice", "bob", "carol"]);

    const PER_CLIENT: usize = 20;
    for round in 0..PER_CLIENT {
        for (i, client) in clients.iter_mut().enumerate() {
            say(client, &format!("{i}:{round}")).await;
        }
    }
    let mut orders = Vec::new();
    for client in &mut clients {
        let mut order = Vec::new();
        for _ in 0..3 * PER_CLIENT {
            let msg = next_message(client).await;
            order.push(msg["text"].as_str().unwrap().to_owned());
        }
        for sender in 0..3 {
            let from_sender: Vec<_> = order
                .iter()
                .filter(|t| t.starts_with(&format!("{sender}:")))
                .collect();
            let expected: Vec<_> = (0..PER_CLIENT).map(|r| format!("{sender}:{r}")).collect();
            assert_eq!(
                from_sender,
                expected.iter().collect::<Vec<_>>(),
                "per-sender order"
            );
        }
        orders.push(order);
    }
    assert_eq!(
        orders[0], orders[1],
        "every client sees the hub's one order"
    );
    assert_eq!(orders[1], orders[2]);

    drop(clients.pop());
    let left = next_json(&mut clients[0]).await;
    assert_eq!(
        (
            left["type"].as_str(),
            left["user"].as_str(),
            left["online"].as_u64()
        ),
        (Some("left"), Some("carol"), Some(2))
    );
    eventually("presence of 2", || hub.presence("lobby").online == 2).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_4000_and_others_get_everything() {
    let hub = Hub::new(HubConfig {
        client_queue: 8,
        max_text_bytes: 128 * 1024,
        ..HubConfig::default()
    });
    let addr = serve(app(&hub, UpgradeConfig::default())).await;
    let mut slow = connect(addr, "username=slow").await;
    assert_eq!(next_json(&mut slow).await["user"], "slow");
    let mut fast = Vec::new();
    for name in ["fast1", "fast2"] {
        let mut client = connect(addr, &format!("username={name}")).await;
        next_json(&mut client).await;
        fast.push(client);
    }
    eventually("3 online", || hub.presence("lobby").online == 3).await;

    // `slow` stops reading. Big messages fill the TCP buffers, then its queue of 8. The fast
    // clients read every burst of 4, so they stay within their queue of 8.
    let filler = "x".repeat(64 * 1024);
    let mut sent = 0usize;
    let mut received = [0usize; 2];
    let mut after = 0;
    while after < 8 {
        assert!(sent < 2_000, "the slow client was never disconnected");
        let text = if hub.stats().slow_consumers == 0 {
            filler.as_str()
        } else {
            after += 1;
            "after"
        };
        for _ in 0..4 {
            hub.send("lobby", "sender", &format!("{sent} {text}"))
                .await
                .unwrap();
            sent += 1;
        }
        for (client, received) in fast.iter_mut().zip(&mut received) {
            while *received < sent {
                let n = next_message_or_left(client).await;
                assert_eq!(
                    n,
                    Some(*received),
                    "fast clients get every message in order"
                );
                *received += 1;
            }
        }
    }
    assert_eq!(
        hub.stats().slow_consumers,
        1,
        "only the slow client was dropped"
    );
    assert_eq!(hub.presence("lobby").members, ["fast1", "fast2"]);

    // When `slow` reads again it finds an in-order prefix of the messages, then close 4000.
    let mut expected = 0usize;
    let frame = loop {
        match next_seen(&mut slow).await {
            Seen::Text(text) => {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "message" {
                    let n: usize = value["text"]
                        .as_str()
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert_eq!(n, expected, "slow client's prefix is in order");
                    expected += 1;
                }
            }
            Seen::Closed(frame) => break frame.expect("a close frame"),
        }
    };
    assert_eq!(u16::from(frame.code), 4000);
    assert_eq!(frame.reason.as_str(), "slow consumer");
    assert!(expected < sent, "the slow client missed the tail");
}

/// Reads the next message's number, skipping the expected presence events.
async fn next_message_or_left(client: &mut common::Client) -> Option<usize> {
    loop {
        let value = next_json(client).await;
        match value["type"].as_str() {
            Some("message") => {
                return value["text"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .ok();
            }
            Some("left") => assert_eq!(value["user"], "slow"),
            Some("joined") => assert_eq!(value["user"], "fast2"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn cross_origin_handshake_is_refused_with_403() {
    let hub = Hub::new(HubConfig::default());
    let config = UpgradeConfig {
        allowed_origins: vec!["https://chat.example.com".to_owned()],
        ..UpgradeConfig::default()
    };
    let addr = serve(app(&hub, config)).await;
    let request = |origin: &str| {
        let mut request = format!("ws://{addr}/ws/connect?username=eve")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
        request
    };
    match tokio_tungstenite::connect_async(request("https://evil.example.net")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(hub.presence("lobby").online, 0, "refused before joining");
    let (mut ok, _) = tokio_tungstenite::connect_async(request("https://chat.example.com"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ok).await["user"], "eve");
}

#[tokio::test]
async fn oversized_message_closes_with_1009() {
    let hub = Hub::new(HubConfig::default());
    let config = UpgradeConfig {
        max_message_bytes: 1024,
        ..UpgradeConfig::default()
    };
    let addr = serve(app(&hub, config)).await;
    let mut client = connect(addr, "username=big").await;
    next_json(&mut client).await;
    say(&mut client, &"a".repeat(1000)).await;
    assert_eq!(
        next_message(&mut client).await["text"]
            .as_str()
            .unwrap()
            .len(),
        1000
    );
    say(&mut client, &"a".repeat(4096)).await;
    match next_seen(&mut client).await {
        Seen::Closed(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected close 1009, got {other:?}"),
    }
    eventually("client removed", || hub.presence("lobby").online == 0).await;
}

#[tokio::test]
async fn usernames_are_sanitised_or_generated() {
    let hub = Hub::new(HubConfig::default());
    let config = UpgradeConfig {
        max_username_chars: 5,
        ..UpgradeConfig::default()
    };
    let addr = serve(app(&hub, config)).await;
    let mut a = connect(addr, "username=%20%20al%07ice%0Awonderland%20&room=r").await;
    assert_eq!(next_json(&mut a).await["user"], "alice");
    let mut b = connect(addr, "room=r").await;
    let user = next_json(&mut b).await["user"].as_str().unwrap().to_owned();
    assert!(user.starts_with("guest-"), "{user}");
    say(&mut b, "<img src=x onerror=alert(1)>").await;
    let msg = next_message(&mut a).await;
    assert_eq!(
        msg["text"], "<img src=x onerror=alert(1)>",
        "carried as data"
    );
    assert_eq!(msg["from"], user.as_str());
}

#[tokio::test]
async fn pings_keep_a_reading_client_alive_and_silence_times_out() {
    let hub = Hub::new(HubConfig::default());
    let config = UpgradeConfig {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..UpgradeConfig::default()
    };
    let addr = serve(app(&hub, config)).await;
    let mut alive = connect(addr, "username=alive").await;
    next_json(&mut alive).await;
    // Reading answers pings with pongs, which count as activity.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(1200);
    while let Ok(Some(msg)) = tokio::time::timeout_at(until, alive.next()).await {
        match msg.unwrap() {
            Message::Ping(_) => pings += 1,
            Message::Close(frame) => panic!("closed while answering pings: {frame:?}"),
            _ => {}
        }
    }
    assert!(pings >= 3, "saw {pings} pings");
    assert_eq!(hub.presence("lobby").online, 1);

    // A client that stops answering (does not read, so sends no pongs) is closed with 4001.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let frame = loop {
        match next_seen(&mut alive).await {
            Seen::Closed(frame) => break frame.expect("close frame"),
            Seen::Text(_) => continue,
        }
    };
    assert_eq!(u16::from(frame.code), 4001);
    assert_eq!(hub.presence("lobby").online, 0);
}

#[tokio::test]
async fn closing_the_hub_closes_sockets_with_1001() {
    let hub = Hub::new(HubConfig::default());
    let addr = serve(app(&hub, UpgradeConfig::default())).await;
    let mut client = connect(addr, "username=a").await;
    next_json(&mut client).await;
    hub.close();
    match next_seen(&mut client).await {
        Seen::Closed(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected 1001, got {other:?}"),
    }
}

#[tokio::test]
async fn binary_messages_close_with_1003() {
    let hub = Hub::new(HubConfig::default());
    let addr = serve(app(&hub, UpgradeConfig::default())).await;
    let mut client = connect(addr, "username=bin").await;
    next_json(&mut client).await;
    futures::SinkExt::send(&mut client, Message::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    match next_seen(&mut client).await {
        Seen::Closed(Some(frame)) => assert_eq!(frame.code, CloseCode::Unsupported),
        other => panic!("expected close 1003, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_close_gets_its_reply_and_leaves() {
    let hub = Hub::new(HubConfig::default());
    let addr = serve(app(&hub, UpgradeConfig::default())).await;
    let mut client = connect(addr, "username=bye").await;
    next_json(&mut client).await;
    client.close(None).await.unwrap();
    match next_seen(&mut client).await {
        Seen::Closed(_) => {}
        other => panic!("expected the close reply, got {other:?}"),
    }
    assert!(client.next().await.is_none(), "closed cleanly");
    eventually("client removed", || hub.presence("lobby").online == 0).await;
}
