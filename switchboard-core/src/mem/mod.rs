//! In-memory transports: the embedded default.
//!
//! They follow the same semantics as the real backends and pass the same conformance kit, and
//! every buffer is bounded:
//!
//! | type | implements | when its bound is hit |
//! |---|---|---|
//! | [`MemBus`] | [`Publisher`](crate::Publisher), [`Subscriber`](crate::Subscriber), [`Requester`](crate::Requester), [`Responder`](crate::Responder) | a subscription holding `subscriber_capacity` unread messages misses the next ones until it reads, and next yields [`Error::Lagged`](crate::Error::Lagged); a responder whose queue is full is skipped (and if it was the only one, the request fails with [`Error::CapacityExceeded`](crate::Error::CapacityExceeded)) |
//! | [`MemLog`] | [`LogProducer`](crate::LogProducer), [`LogConsumer`](crate::LogConsumer), [`TopicAdmin`](crate::TopicAdmin) | a partition keeps its newest `retention` records; older ones are evicted, and groups that had not consumed them skip ahead (counted in [`MemLog::evicted`]) |
//! | [`MemKv`] | [`KeyValue`](crate::KeyValue) through [`MemKv::namespace`] | a `set` of a new key fails with [`Error::CapacityExceeded`](crate::Error::CapacityExceeded) once expired entries are purged and the store is still full |
//! | [`MemEventStore`] | [`EventStore`](crate::EventStore) | an insert fails with [`Error::CapacityExceeded`](crate::Error::CapacityExceeded) |

mod bus;
mod cursor;
mod feed;
mod kv;
mod log;
mod ring;
mod slots;
mod store;
mod subscription;
mod topic;

pub use bus::{BusConfig, MemBus};
pub use kv::{MemKeyValue, MemKv};
pub use log::{LogConfig, MemDeliveries, MemLog};
pub use store::MemEventStore;
pub use subscription::MemSubscription;
