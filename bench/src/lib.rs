//! The side-by-side harness: every bench binary in `benches/` measures one Switchboard path and
//! the raw client it wraps in the same process, round after round interleaved (raw, SDK, raw,
//! SDK, …) so that the machine's load moves both alike, and prints one Markdown row per figure:
//! the median and spread (min–max) of each side over the rounds, the ratio SDK ÷ raw of the
//! medians, and the target that ratio is held to.
//!
//! `scripts/bench` runs them all (`cargo bench --workspace --all-features --bench <each>`) and
//! collects the rows into one table.

mod alone;
mod compare;
mod database;
pub mod kafka;
mod latency;
pub mod process;
mod settings;
pub mod wrk;

pub use alone::{Alone, Goal, measure};
pub use compare::{Better, Figure, Sample, compare, print_header, within};
pub use database::Database;
pub use latency::Latencies;
pub use settings::{env, number, rounds};
