use std::time::Duration;

use tracing::Span;

use crate::{Delivery, Envelope, Position, Topic, layer::TraceFields};

/// What a consumer service is called with: one delivery's message, where it is stored and
/// which attempt this is. The router keeps the [`Delivery`] and settles it from the
/// service's answer.
#[derive(Clone, Debug)]
pub struct Incoming {
    envelope: Envelope,
    position: Position,
    attempt: u32,
}

impl Incoming {
    /// A request for `envelope`, stored at `position`, delivered for the `attempt`th time.
    pub fn new(envelope: Envelope, position: Position, attempt: u32) -> Self {
        Incoming {
            envelope,
            position,
            attempt,
        }
    }

    pub(crate) fn of(delivery: &Delivery) -> Self {
        Incoming::new(
            delivery.envelope().clone(),
            delivery.position(),
            delivery.attempt(),
        )
    }

    /// The message.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The topic it was consumed from.
    pub fn topic(&self) -> &Topic {
        self.envelope.subject()
    }

    /// Where it is stored.
    pub fn position(&self) -> Position {
        self.position
    }

    /// 1 on first delivery, then one more per redelivery.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The message, by value.
    pub fn into_envelope(self) -> Envelope {
        self.envelope
    }
}

impl TraceFields for Incoming {
    fn record(&self, span: &Span) {
        self.envelope.record(span);
    }
}

/// What a consumer service answers, and so how the router settles the delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The work is done and durable: ack.
    Handled,
    /// [`DedupeLayer`](super::DedupeLayer) saw this envelope id handled already: ack without
    /// doing the work again.
    Duplicate,
    /// [`DeadLetterLayer`](super::DeadLetterLayer) sent the message to its dead-letter
    /// destination: ack.
    DeadLettered,
    /// Not done: nack, so the message comes again after `after`.
    Redeliver {
        /// The nack delay.
        after: Duration,
    },
}

impl Outcome {
    /// Whether the router acks the delivery.
    pub fn is_ack(&self) -> bool {
        !matches!(self, Outcome::Redeliver { .. })
    }
}

/// A service answering `()` handled its message.
impl From<()> for Outcome {
    fn from((): ()) -> Self {
        Outcome::Handled
    }
}
