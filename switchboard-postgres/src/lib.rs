//! Switchboard postgres backend (in progress).

pub use switchboard_core;
