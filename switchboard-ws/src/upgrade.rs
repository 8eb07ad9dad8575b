//! axum glue: the `/ws/connect` handler and the per-connection loop.

use std::time::Duration;

use axum::{
    extract::{
        Query, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;

use crate::{ClientHandle, Hub, WsError, close, sanitize::username_or_guest};

/// Limits and timings of WebSocket connections made through [`ws_route`].
///
/// ```
/// use switchboard_ws::UpgradeConfig;
/// let config = UpgradeConfig {
///     allowed_origins: vec!["https://chat.example.com".into()],
///     ..UpgradeConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct UpgradeConfig {
    /// Origins allowed to open a WebSocket, such as `https://chat.example.com` (scheme, host and
    /// port, compared case-insensitively). Empty: only the page's own origin (its `Host`).
    /// `"*"` allows every origin. A handshake without `Origin` (not from a browser) is allowed.
    pub allowed_origins: Vec<String>,
    /// Largest message (and frame) a client may send; larger closes with 1009.
    pub max_message_bytes: usize,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed with 4001.
    pub idle_timeout: Duration,
    /// How long the server waits to get a close frame out before dropping the connection.
    pub close_timeout: Duration,
    /// Longest username kept, in characters.
    pub max_username_chars: usize,
    /// The room joined when the request names none.
    pub default_room: String,
}

impl Default for UpgradeConfig {
    fn default() -> Self {
        UpgradeConfig {
            allowed_origins: Vec::new(),
            max_message_bytes: 16 * 1024,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            close_timeout: Duration::from_secs(5),
            max_username_chars: 32,
            default_room: "lobby".to_owned(),
        }
    }
}

/// The query of `/ws/connect?username=&room=`.
#[derive(Debug, Default, Deserialize)]
struct ConnectParams {
    username: Option<String>,
    room: Option<String>,
}

/// A GET handler for `/ws/connect?username=&room=`: checks `Origin` (403 when cross-site),
/// sanitises the username (trim, cap, strip control characters, `guest-…` when missing),
/// upgrades, joins the hub and pumps messages both ways until either side closes.
///
/// ```
/// use axum::Router;
/// use switchboard_ws::{ws_route, Hub, UpgradeConfig};
/// let app: Router = Router::new().route("/ws/connect", ws_route(Hub::default(), UpgradeConfig::default()));
/// # let _ = app;
/// ```
pub fn ws_route<S: Clone + Send + Sync + 'static>(
    hub: Hub,
    config: UpgradeConfig,
) -> MethodRouter<S> {
    get(
        move |headers: HeaderMap,
              Query(params): Query<ConnectParams>,
              upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>| async move {
            if !origin_allowed(&headers, &config.allowed_origins) {
                tracing::warn!(origin = ?headers.get(header::ORIGIN), "cross-origin websocket refused");
                return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
            }
            let upgrade = match upgrade {
                Ok(upgrade) => upgrade,
                Err(rejection) => return rejection.into_response(),
            };
            let username = username_or_guest(params.username.as_deref(), config.max_username_chars);
            let room = params.room.unwrap_or_else(|| config.default_room.clone());
            let client = match hub.join(&room, &username).await {
                Ok(client) => client,
                Err(err) => return join_refused(err),
            };
            upgrade
                .max_message_size(config.max_message_bytes)
                .max_frame_size(config.max_message_bytes)
                .on_upgrade(move |socket| serve_socket(socket, hub, client, config))
        },
    )
}

fn join_refused(err: WsError) -> Response {
    let status = match err {
        WsError::Closed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, err.to_string()).into_response()
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether the handshake's `Origin` may open a socket (see [`UpgradeConfig::allowed_origins`]).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = normalise(origin);
    if allowed.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.to_ascii_lowercase());
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        return host.is_some() && origin_host == host.as_deref();
    }
    allowed
        .iter()
        .any(|allowed| allowed == "*" || normalise(allowed) == origin)
}

enum Ending {
    Close(u16, &'static str),
    Gone,
}

/// Pumps one connection: hub → socket (batched), socket → hub, pings, idle timeout.
async fn serve_socket(
    mut socket: WebSocket,
    hub: Hub,
    mut client: ClientHandle,
    config: UpgradeConfig,
) {
    let watch = client.watch();
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    let ending = loop {
        tokio::select! {
            biased;
            reason = watch.wait() => break Ending::Close(reason.close_code(), reason.reason()),
            out = client.next() => {
                let Some(first) = out else {
                    break Ending::Close(close::GOING_AWAY, "server shutting down");
                };
                tokio::select! {
                    written = write_batch(&mut socket, first, &mut client) => {
                        if written.is_err() { break Ending::Gone; }
                    }
                    // Frames already buffered are flushed with the close frame below.
                    reason = watch.wait() => break Ending::Close(reason.close_code(), reason.reason()),
                }
            }
            incoming = socket.recv() => {
                idle.as_mut().reset(tokio::time::Instant::now() + config.idle_timeout);
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        match hub.send(client.room(), client.username(), text.as_str()).await {
                            Ok(()) | Err(WsError::EmptyMessage) => {}
                            Err(WsError::MessageTooLarge { .. }) => {
                                break Ending::Close(close::MESSAGE_TOO_BIG, "message too big");
                            }
                            Err(err) => {
                                tracing::warn!(room = client.room(), error = %err, "message refused");
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        break Ending::Close(close::UNSUPPORTED_DATA, "text messages only");
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break Ending::Gone,
                    Some(Err(err)) => {
                        break if is_too_big(err) {
                            Ending::Close(close::MESSAGE_TOO_BIG, "message too big")
                        } else {
                            Ending::Gone
                        };
                    }
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    break Ending::Gone;
                }
            }
            _ = &mut idle => break Ending::Close(close::IDLE_TIMEOUT, "idle timeout"),
        }
    };
    // Leave the room before the (possibly slow) close handshake.
    let (room, user) = (client.room().to_owned(), client.username().to_owned());
    drop(client);
    if let Ending::Close(code, reason) = ending {
        tracing::debug!(room = %room, user = %user, code, reason, "closing websocket");
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        // Send the close frame, then wait for the client's reply (the closing handshake), both
        // within `close_timeout`: a client that never reads cannot hold the task.
        let _ = tokio::time::timeout(config.close_timeout, async {
            socket.send(Message::Close(Some(frame))).await?;
            while let Some(msg) = socket.recv().await {
                if matches!(msg?, Message::Close(_)) {
                    break;
                }
            }
            Ok::<_, axum::Error>(())
        })
        .await;
    }
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_batch(
    socket: &mut WebSocket,
    first: Bytes,
    client: &mut ClientHandle,
) -> Result<(), axum::Error> {
    const MAX_BATCH: usize = 64;
    socket.feed(frame(first)).await?;
    for _ in 1..MAX_BATCH {
        let Some(more) = client.try_next() else { break };
        socket.feed(frame(more)).await?;
    }
    socket.flush().await
}

/// Text when the renderer produced UTF-8 (it normally does), binary otherwise; never a copy.
fn frame(bytes: Bytes) -> Message {
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

fn is_too_big(err: axum::Error) -> bool {
    err.into_inner()
        .downcast::<tungstenite::Error>()
        .is_ok_and(|err| matches!(*err, tungstenite::Error::Capacity(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn same_origin_by_default() {
        assert!(origin_allowed(
            &headers(Some("http://app:8080"), "app:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.test"), "app:8080"),
            &[]
        ));
        assert!(origin_allowed(&headers(None, "app:8080"), &[]));
    }

    #[test]
    fn allowlist_is_exact() {
        let allowed = vec!["https://Chat.example.com/".to_owned()];
        let h = |o| headers(Some(o), "internal:80");
        assert!(origin_allowed(&h("https://chat.example.com"), &allowed));
        assert!(!origin_allowed(
            &h("https://chat.example.com.evil.test"),
            &allowed
        ));
        assert!(!origin_allowed(&h("http://chat.example.com"), &allowed));
        assert!(origin_allowed(&h("https://anything"), &["*".to_owned()]));
    }
}
