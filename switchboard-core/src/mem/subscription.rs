//! [`MemSubscription`]: a cursor in its pattern's [`Topic`], read as a `Stream`.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use futures::Stream;
use tokio::task::coop::{self, RestoreOnPending};

use super::{bus::SYSTEM, ring::Next, topic::Topic};
use crate::{Envelope, Error, Result, lagging::delivered_counter, metric};

/// One [`MemBus`](super::MemBus) subscription: the messages published to its pattern, in order.
/// It holds at most [`BusConfig::subscriber_capacity`](super::BusConfig) of them; what does not
/// fit is missed and reported as one [`Error::Lagged`] before the stream goes on. Ends when
/// every clone of the bus is dropped.
pub struct MemSubscription {
    topic: Arc<Topic>,
    id: usize,
    delivered: ::metrics::Counter,
}

impl MemSubscription {
    /// Joins `topic`.
    pub(super) fn new(topic: Arc<Topic>) -> MemSubscription {
        let id = topic.feed.join();
        MemSubscription {
            topic,
            id,
            delivered: delivered_counter(SYSTEM),
        }
    }
}

impl std::fmt::Debug for MemSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemSubscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MemSubscription {
    /// What comes when there is no plain read: a report of missed messages, a message after
    /// one, the end, or a wait.
    fn poll_other(
        &self,
        cx: &mut Context<'_>,
        progress: RestoreOnPending,
    ) -> Poll<Option<Result<Envelope>>> {
        match self.topic.feed.next(self.id, cx.waker()) {
            Next::Message(msg) => {
                progress.made_progress();
                self.delivered.increment(1);
                Poll::Ready(Some(Ok(msg)))
            }
            Next::Missed(missed) => {
                progress.made_progress();
                metric::lagged(SYSTEM, missed);
                Poll::Ready(Some(Err(Error::Lagged { missed })))
            }
            Next::Ended => Poll::Ready(None),
            Next::Empty => Poll::Pending,
        }
    }
}

impl Stream for MemSubscription {
    type Item = Result<Envelope>;

    // Inlined into the caller's task: it runs once per message.
    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Like tokio's own channels: a stream that is always ready still lets other tasks run.
        let progress = ready!(coop::poll_proceed(cx));
        match self.topic.feed.read(self.id) {
            Some(msg) => {
                progress.made_progress();
                self.delivered.increment(1);
                Poll::Ready(Some(Ok(msg)))
            }
            None => self.poll_other(cx, progress),
        }
    }
}

impl Drop for MemSubscription {
    fn drop(&mut self) {
        self.topic.feed.leave(self.id);
    }
}

#[cfg(test)]
mod tests {
    use futures::{FutureExt, StreamExt};

    use super::*;
    use crate::{
        Pattern, Publisher, Subject, Subscriber,
        mem::{MemBus, topic::Topic},
    };

    async fn publish(bus: &MemBus, subject: &str) {
        let msg = Envelope::new(Subject::new(subject).unwrap(), "x");
        bus.publish(msg).await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_subscription_costs_one_small_block_and_its_cursor() {
        let bus = MemBus::new();
        let mut sub = bus
            .subscribe(&Pattern::new("page.mine").unwrap())
            .await
            .unwrap();
        publish(&bus, "page.mine").await;
        sub.next().await.unwrap().unwrap();
        assert!(
            sub.next().now_or_never().is_none(),
            "it waits, as an SSE stream does"
        );
        // Alone on its pattern it holds the topic's block (two counts and the topic), its
        // cursor's place, and room for the one message it was sent at a time.
        let topic = 2 * size_of::<usize>() + size_of::<Topic>();
        let heap = topic + sub.topic.feed.heap();
        assert!(heap <= 512, "{heap} bytes");
    }

    #[tokio::test]
    async fn subscriptions_to_one_pattern_share_its_topic_until_the_last_is_dropped() {
        let bus = MemBus::new();
        let pattern = Pattern::new("orders.*").unwrap();
        let first = bus.subscribe(&pattern).await.unwrap();
        let second = bus.subscribe(&pattern).await.unwrap();
        let other = bus
            .subscribe(&Pattern::new("other").unwrap())
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&first.topic, &second.topic));
        assert_eq!(bus.topics(), 2);
        drop(first);
        publish(&bus, "orders.created").await;
        assert_eq!(bus.topics(), 2, "one subscription is left");
        drop(second);
        publish(&bus, "orders.created").await;
        assert_eq!(bus.topics(), 1, "the pattern nobody reads is forgotten");
        drop(other);
    }

    #[tokio::test]
    async fn dropping_the_bus_ends_subscriptions_after_what_they_hold() {
        let bus = MemBus::new();
        let mut sub = bus.subscribe(&Pattern::new("s").unwrap()).await.unwrap();
        publish(&bus, "s").await;
        drop(bus);
        assert!(sub.next().await.unwrap().is_ok());
        assert!(sub.next().await.is_none());
    }
}
