//! Switchboard kafka backend (in progress).

pub use switchboard_core;
