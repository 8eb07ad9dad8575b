use std::time::Duration;

use axum::http::StatusCode;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use super::TestApp;

#[tokio::test]
async fn count_and_room_panel() {
    let app = TestApp::new().await;
    let count = app.get("/ws/count").await;
    assert_eq!(count.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&count.body).unwrap()["online"],
        0
    );
    let room = app
        .get("/ws/room?username=%3Cb%3Eeve%3C%2Fb%3E&room=lobby")
        .await;
    assert_eq!(room.status, StatusCode::OK);
    assert!(
        room.body.contains("&#60;b&#62;eve&#60;/b&#62;"),
        "{}",
        room.body
    );
    assert!(
        room.body
            .contains("ws-connect=\"/ws/connect?username=%3Cb%3Eeve%3C%2Fb%3E&#38;room=lobby\""),
        "{}",
        room.body
    );
    let generated = app.get("/ws/room").await;
    assert!(generated.body.contains("guest-"));
    let bad = app.get("/ws/room?username=x&room=a.b").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Without an upgrade the route refuses.
    assert!(
        app.get("/ws/connect?username=x")
            .await
            .status
            .is_client_error()
    );
}

async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    needle: &str,
) -> String {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.contains(needle) => return text.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect(needle)
}

#[tokio::test]
async fn two_clients_chat_with_escaping_and_presence() {
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.app.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = |user: &str| format!("ws://{addr}/ws/connect?username={user}&room=lobby");

    let (mut alice, _) = tokio_tungstenite::connect_async(url("alice"))
        .await
        .unwrap();
    next_text(&mut alice, "alice joined").await;
    let (mut bob, _) = tokio_tungstenite::connect_async(url("bob")).await.unwrap();
    let joined = next_text(&mut alice, "bob joined").await;
    assert!(joined.contains("2 online"), "{joined}");
    let count = app.get("/ws/count").await;
    assert!(count.body.contains("\"online\":2"), "{}", count.body);

    // The page's app.js makes htmx send the message text itself.
    alice.send(Message::text("<b>hi</b>")).await.unwrap();
    let got = next_text(&mut bob, "hi").await;
    assert!(got.contains("&#60;b&#62;hi&#60;/b&#62;"), "{got}");
    assert!(got.contains("hx-swap-oob=\"beforeend\""), "{got}");
    assert!(got.contains("alice"));

    // A cross-site page cannot open the socket.
    let mut req = url("mallory").into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());

    drop(bob);
    next_text(&mut alice, "bob left").await;
}
