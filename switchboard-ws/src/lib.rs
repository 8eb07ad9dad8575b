//! Switchboard's WebSocket hub and SSE helpers for axum.
//!
//! - [`Hub`]: rooms with presence, serialize-once fan-out, a bounded queue per client and a
//!   slow-client policy (close code 4000), bridged across nodes over any core pub/sub
//!   transport with [`Hub::bridge`], every bridge message authenticated under a [`BridgeKey`].
//! - [`ws_route`]: the axum handler for `/ws/connect?username=&room=` (origin allowlist, size
//!   limits, ping/pong, idle timeout, sanitised usernames).
//! - [`sse_response`]: any `Stream` of [`SseEvent`]s as SSE, with keep-alives, an `end` event
//!   on [`Shutdown`] and `Last-Event-ID` resume through [`ReplayBuffer`].
//!
//! ```
//! use futures::StreamExt;
//! use switchboard_core::{mem::MemBus, Subject};
//! use switchboard_ws::{BridgeKey, Hub, HubConfig, HubEvent};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), switchboard_ws::WsError> {
//! // A renderer runs once per event; every client of the room gets the same bytes.
//! let render = |event: &HubEvent| match event {
//!     HubEvent::Joined { user, online, .. } => format!("{user} joined · {online} online").into(),
//!     HubEvent::Message { from, text, .. } => format!("{from}: {text}").into(),
//!     other => format!("{other:?}").into(),
//! };
//! let node_a = Hub::new(HubConfig::default()).with_renderer(render);
//! let node_b = Hub::new(HubConfig::default()).with_renderer(render);
//!
//! // Two nodes share rooms over a pub/sub transport (here in memory; NATS or Redis alike),
//! // every message sealed under the cluster's key.
//! let bus = MemBus::new();
//! let prefix = Subject::new("chat").unwrap();
//! let key = BridgeKey::new("the cluster's shared secret")?;
//! let _a = node_a.bridge(bus.clone(), &prefix, &key).await?;
//! let _b = node_b.bridge(bus.clone(), &prefix, &key).await?;
//!
//! let mut alice = node_a.join("lobby", "alice").await?;
//! assert_eq!(alice.next().await.unwrap(), "alice joined · 1 online");
//! while node_b.presence("lobby").online == 0 {
//!     tokio::time::sleep(std::time::Duration::from_millis(5)).await; // the bridge is async
//! }
//! let mut bob = node_b.join("lobby", "bob").await?;
//! assert_eq!(bob.next().await.unwrap(), "bob joined · 2 online");
//! assert_eq!(alice.next().await.unwrap(), "bob joined · 2 online");
//! assert_eq!(node_a.presence("lobby").members, ["alice", "bob"]);
//!
//! node_b.send("lobby", "bob", "<b>hi</b>").await?;
//! assert_eq!(alice.next().await.unwrap(), "bob: <b>hi</b>"); // escaping is the renderer's job
//! assert_eq!(bob.next().await.unwrap(), "bob: <b>hi</b>");
//! # Ok(()) }
//! ```
//!
//! Serve it with axum: `Router::new().route("/ws/connect", ws_route(hub, UpgradeConfig::default()))`.
//! Close codes are listed in [`close`].

mod bridge;
mod client;
pub mod close;
mod config;
mod connection;
mod error;
mod event;
mod hub;
mod lease;
mod presence;
mod remote;
mod sanitize;
mod seal;
mod sse;
mod upgrade;
mod wire;

pub use bridge::Bridge;
pub use client::{ClientHandle, Disconnect, DisconnectWatch};
pub use config::HubConfig;
pub use error::WsError;
pub use event::{HubEvent, render_json};
pub use hub::{Hub, HubStats, MAX_USERNAME_CHARS};
pub use lease::Lease;
pub use presence::Presence;
pub use sanitize::{clean_name, guest_name, username_or_guest};
pub use seal::{BridgeKey, MIN_KEY_BYTES};
pub use sse::{
    END_EVENT, LastEventId, RESET_EVENT, ReplayBuffer, Shutdown, SseConfig, SseEvent, no_replay,
    sse_response, sse_response_with,
};
pub use switchboard_core;
pub use upgrade::{UpgradeConfig, ws_route};

/// Entry points for the fuzz targets (`fuzz/`); not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::BridgeKey;

    /// Whether a received bridge payload is accepted (sealed under `key` for `subject`, and
    /// decodes); it must never panic.
    pub fn bridge_message_accepted(key: &BridgeKey, subject: &str, payload: &[u8]) -> bool {
        crate::bridge::open(key, subject, payload).is_some()
    }

    /// Seals `message` as a bridge node would, so a target can start from valid payloads.
    pub fn seal(key: &BridgeKey, subject: &str, message: &[u8]) -> Vec<u8> {
        key.seal(subject, message)
    }
}
