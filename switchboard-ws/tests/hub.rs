//! The hub driven without a socket, through `Hub::join` handles.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use switchboard_ws::{ClientHandle, Disconnect, Hub, HubConfig, HubEvent, WsError};

async fn next_json(client: &mut ClientHandle) -> Value {
    let bytes = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("no message within 5 s")
        .expect("client stream ended");
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn join_send_presence_and_leave() {
    let hub = Hub::new(HubConfig::default());
    let mut alice = hub.join("lobby", "alice").await.unwrap();
    assert_eq!(next_json(&mut alice).await["online"], 1);
    let mut bob = hub.join(" lobby ", " bob\n").await.unwrap();
    assert_eq!(bob.room(), "lobby");
    assert_eq!(bob.username(), "bob");
    let joined = next_json(&mut alice).await;
    assert_eq!(
        (joined["type"].as_str(), joined["user"].as_str()),
        (Some("joined"), Some("bob"))
    );
    assert_eq!(joined["online"], 2);
    assert_eq!(next_json(&mut bob).await["online"], 2);

    let presence = hub.presence("lobby");
    assert_eq!(presence.online, 2);
    assert_eq!(presence.members, ["alice", "bob"]);

    hub.send("lobby", "alice", "<script>x</script>")
        .await
        .unwrap();
    for client in [&mut alice, &mut bob] {
        let msg = next_json(client).await;
        assert_eq!(msg["type"], "message");
        assert_eq!(msg["from"], "alice");
        assert_eq!(msg["text"], "<script>x</script>", "text is carried as data");
    }

    drop(bob);
    let left = next_json(&mut alice).await;
    assert_eq!(
        (left["type"].as_str(), left["online"].as_u64()),
        (Some("left"), Some(1))
    );
    assert_eq!(hub.presence("lobby").members, ["alice"]);
    assert_eq!(hub.presence("elsewhere").online, 0);
}

#[tokio::test]
async fn every_recipient_shares_one_rendered_buffer() {
    let hub = Hub::new(HubConfig::default()).with_renderer(|event: &HubEvent| match event {
        HubEvent::Message { from, text, .. } => format!("{from}: {text}").into(),
        _ => bytes::Bytes::from_static(b"presence"),
    });
    let mut a = hub.join("r", "a").await.unwrap();
    let mut b = hub.join("r", "b").await.unwrap();
    a.next().await;
    a.next().await;
    b.next().await;
    hub.send("r", "a", "hello").await.unwrap();
    let (got_a, got_b) = (a.next().await.unwrap(), b.next().await.unwrap());
    assert_eq!(got_a, "a: hello");
    assert_eq!(
        got_a.as_ptr(),
        got_b.as_ptr(),
        "rendered once, shared by every client"
    );
}

#[tokio::test]
async fn a_client_that_does_not_keep_up_is_disconnected_without_blocking_others() {
    let hub = Hub::new(HubConfig {
        client_queue: 4,
        ..HubConfig::default()
    });
    let slow = hub.join("lobby", "slow").await.unwrap();
    let mut fast = hub.join("lobby", "fast").await.unwrap();
    assert_eq!(next_json(&mut fast).await["online"], 2);
    // `slow` has its own join and fast's join queued; two more fill its queue of 4.
    for i in 0..20 {
        hub.send("lobby", "fast", &format!("m{i}")).await.unwrap();
        let got = next_json(&mut fast).await;
        if got["type"] == "left" {
            assert_eq!(got["user"], "slow");
            assert_eq!(got["online"], 1);
            let again = next_json(&mut fast).await;
            assert_eq!(again["text"], format!("m{i}"));
        } else {
            assert_eq!(got["text"], format!("m{i}"));
        }
    }
    assert_eq!(
        slow.disconnected(),
        Some(Disconnect::SlowConsumer { capacity: 4 })
    );
    assert_eq!(slow.disconnected().unwrap().close_code(), 4000);
    assert_eq!(hub.stats().slow_consumers, 1);
    assert_eq!(hub.presence("lobby").members, ["fast"]);
    let mut slow = slow;
    assert!(slow.next().await.is_none(), "queued messages are discarded");
}

#[tokio::test]
async fn bad_input_is_refused_with_typed_errors() {
    let hub = Hub::new(HubConfig {
        max_text_bytes: 8,
        ..HubConfig::default()
    });
    assert!(matches!(hub.join("\n", "a").await, Err(WsError::EmptyRoom)));
    assert!(matches!(
        hub.join(&"r".repeat(100), "a").await,
        Err(WsError::RoomTooLong {
            chars: 100,
            limit: 64
        })
    ));
    assert!(matches!(
        hub.send("r", "a", "123456789").await,
        Err(WsError::MessageTooLarge { size: 9, limit: 8 })
    ));
    assert!(matches!(
        hub.send("r", "a", "  ").await,
        Err(WsError::EmptyMessage)
    ));
    let guest = hub.join("r", "\u{7}\u{8}").await.unwrap();
    assert!(
        guest.username().starts_with("guest-"),
        "{}",
        guest.username()
    );
}

#[tokio::test]
async fn closing_the_hub_disconnects_everyone() {
    let hub = Hub::new(HubConfig::default());
    let mut alice = hub.join("lobby", "alice").await.unwrap();
    let watch = alice.watch();
    hub.close();
    assert_eq!(watch.wait().await, Disconnect::HubClosed);
    assert_eq!(watch.get().unwrap().close_code(), 1001);
    assert!(alice.next().await.is_none());
    assert!(matches!(
        hub.join("lobby", "bob").await,
        Err(WsError::Closed)
    ));
    assert!(matches!(
        hub.send("lobby", "bob", "hi").await,
        Err(WsError::Closed)
    ));
}

#[tokio::test]
async fn a_renderer_returning_nothing_suppresses_the_event() {
    let hub = Hub::new(HubConfig::default()).with_renderer(|event: &HubEvent| match event {
        HubEvent::Message { .. } => switchboard_ws::render_json(event),
        _ => bytes::Bytes::new(),
    });
    let mut a = hub.join("r", "a").await.unwrap();
    let _b = hub.join("r", "b").await.unwrap();
    hub.send("r", "b", "only this").await.unwrap();
    assert_eq!(next_json(&mut a).await["text"], "only this");
    assert_eq!(hub.presence("r").online, 2, "presence is still tracked");
}
