//! Switchboard redis backend (in progress).

pub use switchboard_core;
