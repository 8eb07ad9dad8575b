//! Storing an event and announcing it: [`AnnounceInsert`].
//!
//! A store that has transactions (Postgres, through its outbox) writes the row and the
//! announcement together: both or neither. [`Announcing`] gives any other store the same
//! interface by forwarding after the insert, for the in-memory transports, where a crash
//! loses both anyway.
//!
//! ```
//! use futures::StreamExt;
//! use serde_json::json;
//! use switchboard_core::{
//!     announce::{AnnounceInsert, Announcing}, forward::Publish, mem::{MemBus, MemEventStore},
//!     Event, NewEvent, Pattern, Subject, Subscriber,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> switchboard_core::Result<()> {
//! let bus = MemBus::new();
//! let mut created = bus.subscribe(&Pattern::new("shop.events.created")?).await?;
//! let store = Announcing::new(MemEventStore::new(), Publish(bus.clone()));
//! let subject = Subject::new("shop.events.created")?;
//! let event = store.insert_announced(NewEvent::new("web", "orders", json!({"n": 1}))?, &subject).await?;
//! let announced: Event = created.next().await.unwrap()?.decode_json()?;
//! assert_eq!(announced, event);
//! # Ok(()) }
//! ```

use std::{fmt, future::Future, sync::Arc};

use futures::future::BoxFuture;

use crate::{Envelope, Error, Event, EventStore, NewEvent, Result, Subject, forward::Forward};

/// Inserts an event and announces the stored row on a subject.
pub trait AnnounceInsert: Send + Sync {
    /// Inserts `event` and announces it on `subject` with [`announcement`]; returns the stored
    /// row. An insert whose idempotency key is stored already returns that row and announces
    /// nothing (it was announced when first stored).
    fn insert_announced(
        &self,
        event: NewEvent,
        subject: &Subject,
    ) -> impl Future<Output = Result<Event>> + Send;
}

/// The announcement of a stored event: the row as JSON, keyed by its topic (so announcements
/// of one topic keep their order).
pub fn announcement(subject: &Subject, event: &Event) -> Result<Envelope> {
    Ok(Envelope::json(subject.clone(), event)?.with_key(event.topic.as_str()))
}

/// [`AnnounceInsert`] for any [`EventStore`]: insert, then forward. Not atomic: a crash
/// between the two loses the announcement; use a store with an outbox where that matters.
#[derive(Clone, Debug)]
pub struct Announcing<S, F> {
    store: S,
    destination: F,
}

impl<S: EventStore, F: Forward> Announcing<S, F> {
    /// Announces `store`'s inserts through `destination`.
    pub fn new(store: S, destination: F) -> Self {
        Announcing { store, destination }
    }
}

impl<S: EventStore, F: Forward> AnnounceInsert for Announcing<S, F> {
    async fn insert_announced(&self, event: NewEvent, subject: &Subject) -> Result<Event> {
        let inserted = self.store.insert(event).await?;
        let stored = self.store.get(inserted.id).await?.ok_or_else(|| {
            Error::transient(format!("event {} was deleted meanwhile", inserted.id))
        })?;
        if inserted.created {
            self.destination
                .forward(announcement(subject, &stored)?)
                .await?;
        }
        Ok(stored)
    }
}

trait ErasedAnnounceInsert: Send + Sync {
    fn insert_announced<'a>(
        &'a self,
        event: NewEvent,
        subject: &'a Subject,
    ) -> BoxFuture<'a, Result<Event>>;
}

impl<A: AnnounceInsert> ErasedAnnounceInsert for A {
    fn insert_announced<'a>(
        &'a self,
        event: NewEvent,
        subject: &'a Subject,
    ) -> BoxFuture<'a, Result<Event>> {
        Box::pin(AnnounceInsert::insert_announced(self, event, subject))
    }
}

/// A type-erased [`AnnounceInsert`].
#[derive(Clone)]
pub struct DynAnnounceInsert(Arc<dyn ErasedAnnounceInsert>);

impl DynAnnounceInsert {
    /// Erases the type of `store`.
    pub fn new(store: impl AnnounceInsert + 'static) -> Self {
        DynAnnounceInsert(Arc::new(store))
    }
}

impl AnnounceInsert for DynAnnounceInsert {
    async fn insert_announced(&self, event: NewEvent, subject: &Subject) -> Result<Event> {
        self.0.insert_announced(event, subject).await
    }
}

impl fmt::Debug for DynAnnounceInsert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynAnnounceInsert")
    }
}
