//! What the hub fans out, and the default renderer.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One event of a room, rendered once into the bytes every client of the room receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HubEvent {
    /// A chat message. `text` is the sender's text as data: escaping is the renderer's job.
    Message {
        /// The room.
        room: String,
        /// The sender's (sanitised) name.
        from: String,
        /// The text, unescaped.
        text: String,
        /// When the hub that took it accepted it.
        at: DateTime<Utc>,
    },
    /// Someone joined; `online` counts every client of the room on every bridged node.
    Joined {
        /// The room.
        room: String,
        /// Who joined.
        user: String,
        /// Clients online in the room afterwards.
        online: usize,
    },
    /// Someone left (or was disconnected, or their node vanished).
    Left {
        /// The room.
        room: String,
        /// Who left.
        user: String,
        /// Clients online in the room afterwards.
        online: usize,
    },
}

impl HubEvent {
    /// The room the event belongs to.
    pub fn room(&self) -> &str {
        match self {
            HubEvent::Message { room, .. }
            | HubEvent::Joined { room, .. }
            | HubEvent::Left { room, .. } => room,
        }
    }
}

/// The default renderer: one JSON object per event, such as
/// `{"type":"joined","room":"lobby","user":"alice","online":3}`.
///
/// JSON escaping makes it safe as data; a page that inserts `text` into HTML must still escape
/// it (or pass a renderer that does, as the gateway does with askama).
pub fn render_json(event: &HubEvent) -> Bytes {
    // Serializing plain strings, numbers and a timestamp cannot fail.
    Bytes::from(serde_json::to_vec(event).unwrap_or_default())
}

/// A renderer: turns one event into the bytes every client of its room receives.
pub(crate) type Renderer = std::sync::Arc<dyn Fn(&HubEvent) -> Bytes + Send + Sync>;
