//! The crate's error type.

/// What can go wrong in the hub, the bridge or the glue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// A room name that is empty once trimmed and stripped of control characters.
    #[error("room name is empty; give a room such as `lobby`")]
    EmptyRoom,
    /// A room name longer than the limit.
    #[error("room name of {chars} characters is over the limit of {limit}")]
    RoomTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit ([`crate::HubConfig::max_room_chars`]).
        limit: usize,
    },
    /// A chat message with no text once trimmed.
    #[error("message is empty")]
    EmptyMessage,
    /// A chat message larger than [`crate::HubConfig::max_text_bytes`].
    #[error("message of {size} bytes is over the limit of {limit} bytes")]
    MessageTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The hub was closed with [`crate::Hub::close`].
    #[error("hub is closed")]
    Closed,
    /// [`crate::Hub::bridge`] was called while another bridge is attached.
    #[error("hub is already bridged; drop or close the existing bridge first")]
    AlreadyBridged,
    /// A bridge key shorter than [`crate::MIN_KEY_BYTES`].
    #[error("bridge key of {len} bytes is too short; use at least {min} random bytes")]
    WeakKey {
        /// Its length in bytes.
        len: usize,
        /// The shortest accepted.
        min: usize,
    },
    /// The pub/sub transport under a bridge failed.
    #[error("bridge transport failed")]
    Transport(#[source] switchboard_core::Error),
}

impl WsError {
    /// Whether the same call may succeed if retried later (only transport failures may).
    pub fn is_transient(&self) -> bool {
        match self {
            WsError::Transport(err) => err.is_transient(),
            _ => false,
        }
    }
}

impl From<switchboard_core::Error> for WsError {
    fn from(err: switchboard_core::Error) -> Self {
        WsError::Transport(err)
    }
}

impl From<switchboard_core::InvalidInput> for WsError {
    fn from(err: switchboard_core::InvalidInput) -> Self {
        WsError::Transport(err.into())
    }
}
