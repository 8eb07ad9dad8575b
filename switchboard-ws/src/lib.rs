//! Switchboard ws backend (in progress).

pub use switchboard_core;
