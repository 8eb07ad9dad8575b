//! Switchboard core: the traits every transport implements, the [`Envelope`] they carry, tower
//! layers, the firehose, and in-memory transports that are the embedded default.
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use futures::StreamExt;
//! use switchboard_core::{
//!     mem::MemBus, Envelope, Error, Pattern, Publisher, RequestService, Responder, Subject,
//!     Subscriber,
//! };
//! use tower::{service_fn, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! let bus = MemBus::new();
//!
//! // Pub/sub with NATS wildcards.
//! let mut orders = bus.subscribe(&Pattern::new("orders.>")?).await?;
//! bus.publish(Envelope::new(Subject::new("orders.eu.created")?, "order 1")).await?;
//! let got = orders.next().await.unwrap()?;
//! assert_eq!(got.subject().as_str(), "orders.eu.created");
//!
//! // Request/reply: serve any tower::Service, call through one.
//! let echo = service_fn(|msg: Envelope| async move {
//!     Ok::<_, Error>(Bytes::from(format!("echo: {}", String::from_utf8_lossy(msg.payload()))))
//! });
//! let _serving = bus.serve(&Subject::new("switchboard.request")?, None, echo).await?;
//! let reply = RequestService::new(bus.clone())
//!     .with_timeout(Duration::from_secs(1))
//!     .oneshot(Envelope::new(Subject::new("switchboard.request")?, "hi"))
//!     .await?;
//! assert_eq!(reply.payload.as_ref(), b"echo: hi");
//! println!("round trip took {:?}", reply.rtt);
//! # Ok(()) }
//! ```
//!
//! # Traits and their semantics
//!
//! | trait | shape | delivery |
//! |---|---|---|
//! | [`Publisher`] / [`Subscriber`] | publish; subscribe → `Stream` | at-most-once |
//! | [`Requester`] / [`Responder`] | [`RequestService`] is a `tower::Service`; serve any `Service` | at-most-once, first reply wins |
//! | [`LogProducer`] / [`LogConsumer`] | append → [`Position`]; join a group → `Stream` of [`Delivery`] | at-least-once, explicit ack |
//! | [`KeyValue`] | get, set with TTL, del, ttl inside a [`Namespace`] | read-your-writes |
//! | [`EventStore`] | insert (idempotent), get, delete, keyset [`Page`]s | exactly-once by idempotency key |
//!
//! Each has a boxed `Dyn…` twin ([`DynPublisher`], [`DynEventStore`]…) for choosing a backend
//! from configuration at run time. A capability a backend lacks is a trait it does not
//! implement. The conformance kit (feature `testkit`) checks every backend against the same
//! behaviours.

pub mod announce;
pub mod consume;
mod envelope;
mod erased;
mod error;
pub mod firehose;
pub mod forward;
pub mod header;
pub mod kv;
pub mod lagging;
pub mod layer;
pub mod log;
pub mod mem;
pub mod metric;
pub mod names;
pub mod outgoing;
pub mod page;
pub mod pubsub;
pub mod request;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod trace;

pub use envelope::{CONTENT_TYPE, Envelope, Headers, JSON};
pub use error::{BoxError, Error, ErrorKind, InvalidInput, Result, Transient, report};
pub use firehose::{FIREHOSE_SUBJECT, Firehose, FirehoseEvent, FirehoseLayer};
pub use kv::{DynKeyValue, KeyValue};
pub use log::{
    Acknowledge, Delivery, DynLogConsumer, DynLogProducer, LogCapabilities, LogConsumer,
    LogProducer, Position, TopicAdmin,
};
pub use names::{Group, Key, Namespace, Pattern, Subject, Topic};
pub use page::{PAGE_PREFIX, PagePattern, PageSubject};
pub use pubsub::{BusCapabilities, DynPublisher, DynSubscriber, Publisher, Subscriber};
pub use request::{
    DynRequester, DynResponder, Reply, RequestService, Requester, Responder, Serving,
};
pub use store::{Cursor, DynEventStore, Event, EventId, EventStore, Inserted, NewEvent, Page};
