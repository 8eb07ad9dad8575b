//! [`MemBus`]: pub/sub and request/reply in process.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tower::Service;

use super::{subscription::MemSubscription, topic::Topic};
use crate::{
    BoxError, Envelope, Error, Group, Headers, Pattern, Publisher, Reply, Requester, Responder,
    Result, Serving, Subject, Subscriber,
    outgoing::{Operation, Sends},
    request::{Answer, answer},
};

/// The `messaging.system` of the in-memory transports' spans.
pub(crate) const SYSTEM: &str = "memory";

/// Bounds of a [`MemBus`].
#[derive(Clone, Copy, Debug)]
pub struct BusConfig {
    /// Messages queued per subscriber before it starts missing them.
    pub subscriber_capacity: usize,
    /// Requests queued per responder before it is skipped.
    pub responder_capacity: usize,
    /// Requests one responder handles at once.
    pub responder_concurrency: usize,
    /// Largest payload accepted (NATS's default: 1 MiB).
    pub max_payload: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            subscriber_capacity: 16 * 1024,
            responder_capacity: 1024,
            responder_concurrency: 256,
            max_payload: 1024 * 1024,
        }
    }
}

type ReplyTx = mpsc::Sender<(Bytes, Headers)>;

struct ResponderEntry {
    subject: Subject,
    group: Option<Group>,
    tx: mpsc::Sender<(Envelope, ReplyTx)>,
}

#[derive(Default)]
struct Registry {
    /// One per distinct pattern. Replaced, not changed, when a pattern comes or goes: a publish
    /// takes the current list and fans out without holding the lock.
    topics: Arc<Vec<Arc<Topic>>>,
    responders: Vec<ResponderEntry>,
    round_robin: HashMap<(Subject, Group), usize>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // The last clone of the bus is gone: subscriptions end once they read what they hold.
        for topic in self.topics.iter() {
            topic.feed.end();
        }
    }
}

/// An in-process message bus: at-most-once pub/sub with NATS wildcards, and request/reply with
/// queue groups. Cheap to clone; clones share the bus.
///
/// ```
/// use futures::StreamExt;
/// use switchboard_core::{mem::MemBus, Envelope, Pattern, Publisher, Subject, Subscriber};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> switchboard_core::Result<()> {
/// let bus = MemBus::new();
/// let mut sub = bus.subscribe(&Pattern::new("orders.*")?).await?;
/// bus.publish(Envelope::new(Subject::new("orders.created")?, "hi")).await?;
/// assert_eq!(sub.next().await.unwrap()?.payload().as_ref(), b"hi");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemBus {
    registry: Arc<Mutex<Registry>>,
    config: BusConfig,
    publishes: Sends,
    requests: Sends,
}

impl Default for MemBus {
    fn default() -> Self {
        Self::with_config(BusConfig::default())
    }
}

impl std::fmt::Debug for MemBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemBus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MemBus {
    /// A bus with the default bounds.
    pub fn new() -> Self {
        Self::default()
    }

    /// A bus with the given bounds.
    pub fn with_config(config: BusConfig) -> Self {
        MemBus {
            registry: Arc::default(),
            config,
            publishes: Sends::new(Operation::Publish, SYSTEM),
            requests: Sends::new(Operation::Request, SYSTEM),
        }
    }

    /// Patterns with a subscription.
    #[cfg(test)]
    pub(super) fn topics(&self) -> usize {
        self.registry().topics.len()
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Publisher for MemBus {
    async fn publish(&self, mut msg: Envelope) -> Result<()> {
        msg.check_size(self.config.max_payload)?;
        let out = self.publishes.start(&mut msg);
        let topics = self.registry().topics.clone();
        let mut abandoned = false;
        // Each matching pattern but the last gets a clone; the last gets the message itself.
        let mut previous: Option<&Topic> = None;
        for topic in topics.iter() {
            if topic.feed.is_abandoned() {
                abandoned = true;
            } else if topic.matches(msg.subject())
                && let Some(topic) = previous.replace(topic)
            {
                topic.feed.publish(msg.clone());
            }
        }
        if let Some(topic) = previous {
            topic.feed.publish(msg);
        }
        if abandoned {
            let mut registry = self.registry();
            Arc::make_mut(&mut registry.topics).retain(|topic| !topic.feed.is_abandoned());
        }
        out.finish(Ok(()))
    }
}

impl Subscriber for MemBus {
    type Stream = MemSubscription;
    async fn subscribe(&self, pattern: &Pattern) -> Result<MemSubscription> {
        let mut registry = self.registry();
        let topics = Arc::make_mut(&mut registry.topics);
        topics.retain(|topic| !topic.feed.is_abandoned());
        let topic = match topics.iter().find(|topic| topic.is_for(pattern)) {
            Some(topic) => topic.clone(),
            None => {
                let topic = Arc::new(Topic::new(pattern, self.config.subscriber_capacity));
                topics.push(topic.clone());
                topic
            }
        };
        // Joined under the registry's lock, so the topic cannot be dropped as abandoned first.
        Ok(MemSubscription::new(topic))
    }
}

impl MemBus {
    /// Picks one responder per queue group (round robin) and every ungrouped responder.
    fn targets(&self, subject: &Subject) -> Vec<mpsc::Sender<(Envelope, ReplyTx)>> {
        let mut registry = self.registry();
        registry.responders.retain(|r| !r.tx.is_closed());
        let mut ungrouped = Vec::new();
        let mut groups: HashMap<Group, Vec<mpsc::Sender<(Envelope, ReplyTx)>>> = HashMap::new();
        for r in registry.responders.iter().filter(|r| &r.subject == subject) {
            match &r.group {
                None => ungrouped.push(r.tx.clone()),
                Some(group) => groups.entry(group.clone()).or_default().push(r.tx.clone()),
            }
        }
        for (group, members) in groups {
            let turn = registry
                .round_robin
                .entry((subject.clone(), group))
                .or_insert(0);
            ungrouped.push(members[*turn % members.len()].clone());
            *turn = turn.wrapping_add(1);
        }
        ungrouped
    }
}

impl Requester for MemBus {
    async fn request(&self, mut msg: Envelope, timeout: Duration) -> Result<Reply> {
        msg.check_size(self.config.max_payload)?;
        let out = self.requests.start(&mut msg);
        out.run(async {
            let sent = Instant::now();
            let subject = msg.subject().clone();
            let targets = self.targets(&subject);
            if targets.is_empty() {
                return Err(Error::NoResponders { subject });
            }
            let (reply_tx, mut reply_rx) = mpsc::channel(targets.len());
            let mut queued = 0;
            for target in &targets {
                if target.try_send((msg.clone(), reply_tx.clone())).is_ok() {
                    queued += 1;
                }
            }
            drop(reply_tx);
            if queued == 0 {
                return Err(Error::CapacityExceeded {
                    what: "responder queue",
                    capacity: self.config.responder_capacity,
                });
            }
            match tokio::time::timeout(timeout, reply_rx.recv()).await {
                Ok(Some((payload, headers))) => Reply::received(payload, headers, sent),
                // Every responder that took the request dropped it without answering.
                Ok(None) => Err(Error::Remote {
                    message: "responder dropped the request without replying".into(),
                }),
                Err(_) => Err(Error::Timeout { after: timeout }),
            }
        })
        .await
    }
}

impl Responder for MemBus {
    async fn serve<S>(&self, subject: &Subject, group: Option<&Group>, svc: S) -> Result<Serving>
    where
        S: Service<Envelope> + Clone + Send + 'static,
        S::Response: Into<Answer>,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let (tx, mut rx) =
            mpsc::channel::<(Envelope, ReplyTx)>(self.config.responder_capacity.max(1));
        self.registry().responders.push(ResponderEntry {
            subject: subject.clone(),
            group: group.cloned(),
            tx,
        });
        let slots = Arc::new(Semaphore::new(self.config.responder_concurrency.max(1)));
        let task = tokio::spawn(async move {
            // Take a slot before taking a request, so waiting requests stay in the bounded queue.
            while let Ok(slot) = slots.clone().acquire_owned().await {
                let Some((request, reply_to)) = rx.recv().await else {
                    break;
                };
                let svc = svc.clone();
                // One task per request: a service that panics loses that request only.
                tokio::spawn(async move {
                    let reply = answer(SYSTEM, svc, request).await;
                    let _ = reply_to.send(reply).await;
                    drop(slot);
                });
            }
        });
        Ok(Serving::new(task))
    }
}
