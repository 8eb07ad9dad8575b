//! Switchboard NATS backend.

mod bus;
mod codec;
mod connect;
mod error;
mod jetstream;
mod request;

pub use async_nats;
pub use bus::{BusConfig, NatsBus, NatsSubscription};
pub use codec::{ID_HEADER, KEY_HEADER, TIMESTAMP_HEADER};
pub use connect::{NatsConfig, connect};
pub use error::NatsError;
pub use jetstream::{JetStreamConfig, JetStreamDeliveries, JetStreamLog, StorageType};
pub use switchboard_core;
