//! The WebSocket close codes this crate sends, and why.
//!
//! | code | constant | when |
//! |---|---|---|
//! | 1001 | [`GOING_AWAY`] | the hub was closed (server shutting down) |
//! | 1003 | [`UNSUPPORTED_DATA`] | the client sent a binary message (the hub carries text) |
//! | 1009 | [`MESSAGE_TOO_BIG`] | a frame or message over [`crate::UpgradeConfig::max_message_bytes`] |
//! | 4000 | [`SLOW_CONSUMER`] | the client's queue of [`crate::HubConfig::client_queue`] messages was full |
//! | 4001 | [`IDLE_TIMEOUT`] | nothing (not even a pong) arrived within [`crate::UpgradeConfig::idle_timeout`] |

/// The hub is going away (server shutdown).
pub const GOING_AWAY: u16 = 1001;
/// The client sent a kind of data the hub does not accept (binary messages).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// A frame or message was over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The client did not keep up: its bounded queue was full, so the hub dropped it.
pub const SLOW_CONSUMER: u16 = 4000;
/// The client sent nothing, not even a pong, within the idle timeout.
pub const IDLE_TIMEOUT: u16 = 4001;
