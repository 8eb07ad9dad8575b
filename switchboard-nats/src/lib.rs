//! Switchboard nats backend (in progress).

pub use switchboard_core;
