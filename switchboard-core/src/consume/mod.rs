//! The consumer router: any tower [`Service`](tower::Service) over a durable log's deliveries,
//! with layers deciding what a failure means.
//!
//! [`Router`] calls the service with an [`Incoming`] per [`Delivery`](crate::Delivery) and
//! settles the delivery from the answer: an [`Outcome`] that acks, or a redelivery (nack).
//! Layers stack around the service as around any tower service:
//!
//! | layer | what it does |
//! |---|---|
//! | [`KeyOrderLayer`] | different keys in parallel, the same key in order |
//! | [`BatchLayer`] | a service over `Vec<Incoming>` called with batches of one partition's deliveries, partitions in parallel, each in order |
//! | [`DedupeLayer`] | skips an envelope id handled within a window, kept in any [`KeyValue`](crate::KeyValue) |
//! | [`RedeliverLayer`] | retry by nack delay, with [`Backoff`](crate::layer::Backoff) |
//! | [`RetryLayer`](crate::layer::RetryLayer) | retry in place, transient errors only |
//! | [`DeadLetterLayer`] | after N deliveries, or on a permanent error, forwards to a dead-letter topic or subject (any [`LogProducer`](crate::LogProducer) or [`Publisher`](crate::Publisher)) with reason and attempt headers, then acks |
//! | [`TimeoutLayer`](crate::layer::TimeoutLayer) | fails a call that takes too long (a transient error) |
//! | `tower::limit::ConcurrencyLimitLayer` | caps calls in flight below the router's own cap |
//!
//! ```
//! use std::time::Duration;
//! use futures::StreamExt;
//! use switchboard_core::{
//!     consume::{DeadLetterLayer, DedupeLayer, Incoming, KeyOrderLayer, RedeliverLayer, Router},
//!     forward::Append,
//!     layer::{Backoff, TimeoutLayer},
//!     mem::{MemKv, MemLog},
//!     Envelope, Error, Group, LogConsumer, LogProducer, Namespace, Subject,
//! };
//! use tower::{ServiceBuilder, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! let log = MemLog::new();
//! let (orders, dead) = (Subject::new("orders")?, Subject::new("orders.dead")?);
//! for n in 0..3 {
//!     log.append(Envelope::new(orders.clone(), format!("order {n}")).with_key("customer-7")).await?;
//! }
//! log.append(Envelope::new(orders.clone(), "poison")).await?;
//!
//! let (done, mut handled) = tokio::sync::mpsc::unbounded_channel();
//! let handler = service_fn(move |msg: Incoming| {
//!     let done = done.clone();
//!     async move {
//!         match msg.envelope().payload().as_ref() {
//!             b"poison" => Err(Error::backend("cannot parse the order")), // permanent
//!             _ => {
//!                 done.send(()).ok();
//!                 Ok(()) // handled: the router acks
//!             }
//!         }
//!     }
//! });
//! let service = ServiceBuilder::new()
//!     .layer(KeyOrderLayer::new())
//!     .layer(DedupeLayer::new(MemKv::new().namespace(Namespace::new("seen")?), Duration::from_secs(3600)))
//!     .layer(RedeliverLayer::new(Backoff::new(Duration::from_millis(10))))
//!     .layer(DeadLetterLayer::new(Append(log.clone()), dead.clone(), 5))
//!     .layer(TimeoutLayer::new(Duration::from_secs(5)))
//!     .service(handler);
//!
//! // Stop once the orders are handled and the poison message reached the dead-letter topic.
//! let mut dead_letters = log.join(&Group::new("ops")?, &[dead]).await?;
//! let stopped = async move {
//!     for _ in 0..3 {
//!         handled.recv().await;
//!     }
//!     let poison = dead_letters.next().await.unwrap().unwrap();
//!     assert_eq!(poison.envelope().headers().get("switchboard-dead-letter-reason"),
//!                Some("backend error: cannot parse the order"));
//! };
//! let stats = Router::new(service)
//!     .with_max_in_flight(16)
//!     .consume(&log, &Group::new("billing")?, &[orders], stopped)
//!     .await?;
//! assert_eq!((stats.handled, stats.dead_lettered), (3, 1));
//! # Ok(()) }
//! ```

mod batch;
mod dead_letter;
mod dedupe;
mod incoming;
mod ordered;
mod redeliver;
mod router;

pub use batch::{Batch, BatchLayer, DEFAULT_BATCH_LINGER, DEFAULT_BATCH_RECORDS};
pub use dead_letter::{
    DEAD_LETTER_ATTEMPTS, DEAD_LETTER_POSITION, DEAD_LETTER_REASON, DEAD_LETTER_TOPIC, DeadLetter,
    DeadLetterLayer,
};
pub use dedupe::{Dedupe, DedupeLayer};
pub use incoming::{Incoming, Outcome};
pub use ordered::{KeyOrder, KeyOrderLayer};
pub use redeliver::{Redeliver, RedeliverLayer};
pub use router::{DEFAULT_FAILURE_DELAY, Router, RouterStats};
