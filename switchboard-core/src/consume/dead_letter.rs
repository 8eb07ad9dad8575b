use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use tower::{Layer, Service};

use super::{Incoming, Outcome};
use crate::{Envelope, Error, Topic, Transient, forward::Forward, report};

/// Header of a dead-lettered message: why its last attempt failed (the error and its causes).
pub const DEAD_LETTER_REASON: &str = "switchboard-dead-letter-reason";
/// Header of a dead-lettered message: how many times it was delivered.
pub const DEAD_LETTER_ATTEMPTS: &str = "switchboard-dead-letter-attempts";
/// Header of a dead-lettered message: the topic it was consumed from.
pub const DEAD_LETTER_TOPIC: &str = "switchboard-dead-letter-topic";
/// Header of a dead-lettered message: where it was stored there (`partition@offset`).
pub const DEAD_LETTER_POSITION: &str = "switchboard-dead-letter-position";

/// The longest reason kept, in bytes.
const MAX_REASON: usize = 1024;

/// Sends a message that keeps failing to a dead-letter topic or subject, then acks it.
///
/// A failed call is dead-lettered when it was the `max_attempts`th delivery, or at once when
/// the error is permanent ([`Transient::is_transient`] is `false`: retrying cannot help). The
/// message keeps its id, key, headers and payload, moves to the dead-letter subject, and
/// gains [`DEAD_LETTER_REASON`], [`DEAD_LETTER_ATTEMPTS`], [`DEAD_LETTER_TOPIC`] and
/// [`DEAD_LETTER_POSITION`]. The destination is any [`Forward`]: a log through
/// [`Append`](crate::forward::Append), a subject through [`Publish`](crate::forward::Publish).
/// If forwarding fails, the call fails and the message is redelivered. Other failures pass
/// through, for the router (or a [`RedeliverLayer`](super::RedeliverLayer) above) to nack.
#[derive(Debug)]
pub struct DeadLetterLayer<F> {
    destination: Arc<F>,
    subject: Topic,
    max_attempts: u32,
}

impl<F> Clone for DeadLetterLayer<F> {
    fn clone(&self) -> Self {
        DeadLetterLayer {
            destination: self.destination.clone(),
            subject: self.subject.clone(),
            max_attempts: self.max_attempts,
        }
    }
}

impl<F: Forward> DeadLetterLayer<F> {
    /// Dead-letters to `subject` through `destination` after `max_attempts` deliveries (at
    /// least 1).
    pub fn new(destination: F, subject: Topic, max_attempts: u32) -> Self {
        DeadLetterLayer {
            destination: Arc::new(destination),
            subject,
            max_attempts: max_attempts.max(1),
        }
    }
}

impl<S, F> Layer<S> for DeadLetterLayer<F> {
    type Service = DeadLetter<S, F>;
    fn layer(&self, inner: S) -> DeadLetter<S, F> {
        DeadLetter {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`DeadLetterLayer`].
#[derive(Debug)]
pub struct DeadLetter<S, F> {
    inner: S,
    layer: DeadLetterLayer<F>,
}

impl<S: Clone, F> Clone for DeadLetter<S, F> {
    fn clone(&self) -> Self {
        DeadLetter {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

/// The reason as one header line: control characters become spaces, cut to [`MAX_REASON`].
fn reason_header(err: &(dyn std::error::Error + 'static)) -> String {
    let mut reason: String = report(err)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

fn dead_letter(req: &Incoming, subject: &Topic, reason: String) -> Envelope {
    req.envelope()
        .clone()
        .with_subject(subject.clone())
        .with_header(DEAD_LETTER_REASON, reason)
        .with_header(DEAD_LETTER_ATTEMPTS, req.attempt().to_string())
        .with_header(DEAD_LETTER_TOPIC, req.topic().as_str())
        .with_header(DEAD_LETTER_POSITION, req.position().to_string())
}

impl<S, F> Service<Incoming> for DeadLetter<S, F>
where
    S: Service<Incoming>,
    S::Response: Into<Outcome>,
    S::Error: std::error::Error + Transient + From<Error> + Send + 'static,
    S::Future: Send + 'static,
    F: Forward + 'static,
{
    type Response = Outcome;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Outcome, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Incoming) -> Self::Future {
        let layer = self.layer.clone();
        let envelope = req.clone();
        let call = self.inner.call(req);
        Box::pin(async move {
            let err = match call.await {
                Ok(answer) => return Ok(answer.into()),
                Err(err) if err.is_transient() && envelope.attempt() < layer.max_attempts => {
                    return Err(err);
                }
                Err(err) => err,
            };
            let reason = reason_header(&err);
            let msg = dead_letter(&envelope, &layer.subject, reason.clone());
            layer.destination.forward(msg).await?;
            tracing::warn!(
                topic = %envelope.topic(), partition = envelope.position().partition,
                offset = envelope.position().offset, attempt = envelope.attempt(),
                dead_letter = %layer.subject, reason, "message dead-lettered"
            );
            Ok(Outcome::DeadLettered)
        })
    }
}
