//! axum glue: the `/ws/connect` handler (origin check, username, limits, upgrade, join).

use std::time::Duration;

use axum::{
    Extension,
    extract::{Query, WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use serde::Deserialize;

use crate::{Hub, Lease, WsError, connection::serve_socket, sanitize::username_or_guest};

/// tungstenite zeroes its whole read buffer before every read attempt; its 128 KiB default
/// costs far more than the chat messages it reads (larger messages still fit: it grows).
const READ_BUFFER_BYTES: usize = 4 * 1024;

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
/// upgrades, joins the hub and pumps messages both ways until either side closes. A [`Lease`]
/// in the request's extensions is held until the socket closes.
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
              lease: Option<Extension<Lease>>,
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
                .read_buffer_size(READ_BUFFER_BYTES)
                .max_message_size(config.max_message_bytes)
                .max_frame_size(config.max_message_bytes)
                .on_upgrade(move |socket| async move {
                    let _lease = lease;
                    serve_socket(socket, hub, client, config).await
                })
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
