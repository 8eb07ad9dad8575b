//! What hubs tell each other over a bridge.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The header naming the node that published a bridge message.
pub(crate) const NODE_HEADER: &str = "sb-node";

/// One bridge message; `node` is also in the [`NODE_HEADER`] header, for transports without
/// headers it is in the payload too.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireMsg {
    pub(crate) node: String,
    #[serde(flatten)]
    pub(crate) body: Wire,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Wire {
    /// A chat message sent on the publishing node.
    Message {
        room: String,
        from: String,
        text: String,
        at: DateTime<Utc>,
    },
    /// A client joined on the publishing node.
    Joined { room: String, user: String },
    /// A client left the publishing node.
    Left { room: String, user: String },
    /// Every room and member of the publishing node (heartbeat).
    Snapshot {
        rooms: BTreeMap<String, Vec<String>>,
    },
    /// A node attached: others answer with a snapshot.
    Hello,
    /// A node detached: forget its presence now.
    Bye,
}

impl Wire {
    /// Chat goes on `<prefix>.chat`, everything else on `<prefix>.presence`.
    pub(crate) fn is_chat(&self) -> bool {
        matches!(self, Wire::Message { .. })
    }
}
