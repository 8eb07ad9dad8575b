//! The public API the gateway codes against (docs/briefs: ws-api), spelled out so a change to
//! a name or shape breaks here first.

use std::time::Duration;

use axum::{Router, response::Response, routing::get};
use bytes::Bytes;
use futures::{StreamExt, stream};
use switchboard_core::{Subject, mem::MemBus};
use switchboard_ws::{
    Bridge, BridgeKey, ClientHandle, Hub, HubConfig, HubEvent, LastEventId, Presence, Shutdown,
    SseEvent, UpgradeConfig, WsError, sse_response, ws_route,
};

fn render(event: &HubEvent) -> Bytes {
    match event {
        HubEvent::Message {
            room,
            from,
            text,
            at,
        } => format!("{room} {from} {text} {}", at.timestamp()).into(),
        HubEvent::Joined { room, user, online } | HubEvent::Left { room, user, online } => {
            format!("{room} {user} {online}").into()
        }
        _ => Bytes::new(),
    }
}

#[tokio::test]
async fn the_gateway_contract_holds() {
    let hub: Hub = Hub::new(HubConfig {
        client_queue: 32,
        ..HubConfig::default()
    })
    .with_renderer(render);
    let client: Result<ClientHandle, WsError> = hub.join("lobby", "alice").await;
    let mut client = client.unwrap();
    assert_eq!(client.next().await.unwrap(), "lobby alice 1");
    let Presence { online, members } = hub.presence("lobby");
    assert_eq!((online, members), (1, vec!["alice".to_owned()]));
    let sent: Result<(), WsError> = hub.send("lobby", "alice", "hi").await;
    sent.unwrap();
    assert!(client.next().await.unwrap().starts_with(b"lobby alice hi "));
    let prefix = Subject::new("contract").unwrap();
    let bridge: Result<Bridge, WsError> = hub
        .bridge(MemBus::new(), &prefix, &BridgeKey::random())
        .await;
    drop(bridge.unwrap());

    let config = UpgradeConfig {
        allowed_origins: vec!["https://example.com".into()],
        max_message_bytes: 4096,
        ping_interval: Duration::from_secs(20),
        idle_timeout: Duration::from_secs(60),
        ..UpgradeConfig::default()
    };
    let shutdown = Shutdown::new();
    let sse_shutdown = shutdown.clone();
    let _app: Router = Router::new()
        .route("/ws/connect", ws_route(hub.clone(), config))
        .route(
            "/sse",
            get(move |LastEventId(last): LastEventId| async move {
                let _: Option<String> = last;
                let event = SseEvent {
                    event: Some("tick".into()),
                    id: Some("1".into()),
                    data: "x".into(),
                };
                let response: Response = sse_response(stream::iter([event]), sse_shutdown);
                response
            }),
        );
    shutdown.trigger();
}
