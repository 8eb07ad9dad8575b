//! Switchboard flows: the services of the demo system, written once over the
//! [`switchboard_core`] traits so any backend (or the in-memory transports) plugs in.
//!
//! Core holds what every backend and application needs; this crate holds one composition of
//! it — the six flows of the demo (gateway, notifier, processor) — for apps that want the same
//! pipeline or a starting point for their own.
//!
//! | flow | entry point | what it does |
//! |---|---|---|
//! | NATS request/reply | [`EchoService`], [`serve_echo`] | answers `switchboard.page.request` with an [`EchoReply`] and emits a firehose event per reply |
//! | Kafka processing | [`Processor`] | consumes `switchboard.events` in group `processor` in batches, each partition in order (a [`BatchLayer`](switchboard_core::consume::BatchLayer) under the consumer [`Router`](switchboard_core::consume::Router)): caches `last:<topic>`, stores the batch idempotently with one `insert_many`, publishes a [`ProcessedRecord`] per record to `switchboard.processed`, then acks |
//! | AsyncAPI | [`asyncapi::AsyncApi`] | an AsyncAPI 3.0 document of the channels, from the same constants and types |
//! | firehose | [`Flow`] | names the flow of each firehose event (`postgres`, `redis`, `nats`, `websocket`, `kafka`, `system`) |
//!
//! ```
//! use std::time::Duration;
//! use switchboard_core::{mem::MemBus, Envelope, Firehose, RequestService, Subject};
//! use switchboard_flows::{serve_echo, EchoReply, REQUEST_SUBJECT};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> switchboard_core::Result<()> {
//! let bus = MemBus::new();
//! let _notifier = serve_echo(&bus, Firehose::disabled("notifier"), "notifier").await?;
//! let reply = RequestService::new(bus.clone())
//!     .with_timeout(Duration::from_secs(1))
//!     .oneshot(Envelope::new(Subject::new(REQUEST_SUBJECT)?, "hi"))
//!     .await?;
//! let echo: EchoReply = reply.decode_json()?;
//! assert_eq!(echo.message, "echo: hi");
//! # Ok(()) }
//! ```

pub mod asyncapi;
mod flow;
mod notifier;
mod processor;
mod record;

pub use flow::Flow;
pub use notifier::{EchoReply, EchoService, NOTIFIER_GROUP, REQUEST_SUBJECT, serve_echo};
pub use processor::{
    CACHE_NAMESPACE, CACHE_TTL, EVENTS_TOPIC, PROCESSED_SUBJECT, PROCESSOR_GROUP, Processor,
    ProcessorConfig,
};
pub use record::{ProcessedRecord, RecordFailure, RecordStatus, cache_key, idempotency_key};

#[cfg(test)]
mod processor_tests;
