//! [`Bridge`]: hubs on several nodes sharing rooms and presence over a core pub/sub transport.

use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};

use futures::StreamExt;
use switchboard_core::{DynPublisher, Envelope, Error, Pattern, Publisher, Subject, Subscriber};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    BridgeKey, Hub, WsError,
    hub::Inner,
    wire::{NODE_HEADER, Wire, WireMsg},
};

static NEXT_BRIDGE: AtomicU64 = AtomicU64::new(1);

/// A hub's attachment to a pub/sub transport, from [`Hub::bridge`]. Dropping it detaches the
/// hub at once (other nodes expire its presence after [`crate::HubConfig::presence_ttl`]);
/// [`Bridge::close`] also tells them right away.
///
/// # Semantics
///
/// - Chat goes on `<prefix>.chat`, presence on `<prefix>.presence`, as JSON with the sending
///   node's id in the `sb-node` header and in the payload.
/// - Every payload is sealed under the cluster's [`BridgeKey`] (an HMAC-SHA256 tag over the
///   subject and the message). A message that does not verify, or does not decode, changes
///   nothing: it is dropped, logged and counted in [`crate::HubStats::bridge_rejected`].
/// - A node ignores its own messages and never republishes another node's, so a message
///   reaches each client exactly once (while the transport delivers it: pub/sub is
///   at-most-once, a message lost by the transport is lost).
/// - Joins and leaves are sent as they happen; every node also sends a snapshot of its rooms
///   each [`crate::HubConfig::heartbeat_interval`]. A node silent for longer than
///   [`crate::HubConfig::presence_ttl`] is forgotten and its members are announced as left.
#[derive(Debug)]
pub struct Bridge {
    id: u64,
    hub: std::sync::Weak<Inner>,
    node_id: String,
    presence_subject: Subject,
    publisher: DynPublisher,
    key: BridgeKey,
    tasks: Vec<JoinHandle<()>>,
}

struct Subjects {
    chat: Subject,
    presence: Subject,
}

impl Subjects {
    fn for_wire(&self, wire: &Wire) -> Subject {
        if wire.is_chat() {
            self.chat.clone()
        } else {
            self.presence.clone()
        }
    }
}

fn envelope(key: &BridgeKey, node: &str, subject: Subject, body: Wire) -> Result<Envelope, Error> {
    let msg = WireMsg {
        node: node.to_owned(),
        body,
    };
    let json = serde_json::to_vec(&msg).map_err(switchboard_core::InvalidInput::NotJson)?;
    let sealed = key.seal(subject.as_str(), &json);
    Ok(Envelope::new(subject, sealed).with_header(NODE_HEADER, node))
}

/// The message of a bridge payload, if it is sealed under `key` for `subject` and decodes.
pub(crate) fn open(key: &BridgeKey, subject: &str, payload: &[u8]) -> Option<WireMsg> {
    serde_json::from_slice(key.open(subject, payload)?).ok()
}

impl Hub {
    /// Bridges this hub onto `transport` under `prefix`, so hubs on several nodes share rooms
    /// and presence; every node must use the same `key`. The subscription is active when this
    /// returns. See [`Bridge`].
    ///
    /// ```
    /// use futures::StreamExt;
    /// use switchboard_core::{mem::MemBus, Subject};
    /// use switchboard_ws::{BridgeKey, Hub, HubConfig};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), switchboard_ws::WsError> {
    /// let bus = MemBus::new();
    /// let prefix = Subject::new("chat").unwrap();
    /// let key = BridgeKey::random(); // every node of a cluster shares one
    /// let (a, b) = (Hub::new(HubConfig::default()), Hub::new(HubConfig::default()));
    /// let _bridge_a = a.bridge(bus.clone(), &prefix, &key).await?;
    /// let _bridge_b = b.bridge(bus.clone(), &prefix, &key).await?;
    /// let mut bob = b.join("lobby", "bob").await?;
    /// bob.next().await; // "bob joined"
    /// a.send("lobby", "alice", "hello from node a").await?;
    /// let got = bob.next().await.unwrap();
    /// assert!(std::str::from_utf8(&got).unwrap().contains("hello from node a"));
    /// # Ok(()) }
    /// ```
    pub async fn bridge<T>(
        &self,
        transport: T,
        prefix: &Subject,
        key: &BridgeKey,
    ) -> Result<Bridge, WsError>
    where
        T: Publisher + Subscriber + Clone + 'static,
    {
        let subjects = Subjects {
            chat: Subject::new(format!("{prefix}.chat"))?,
            presence: Subject::new(format!("{prefix}.presence"))?,
        };
        let pattern = Pattern::new(format!("{prefix}.>"))?;
        let inner = &self.inner;
        let id = NEXT_BRIDGE.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(inner.config.bridge_queue.max(2));
        {
            let mut state = inner.lock();
            if state.bridge.is_some() {
                return Err(WsError::AlreadyBridged);
            }
            state.bridge = Some((id, tx.clone()));
        }
        let subscription = match transport.subscribe(&pattern).await {
            Ok(subscription) => subscription,
            Err(err) => {
                detach(inner, id);
                return Err(err.into());
            }
        };
        let _ = tx.try_send(Wire::Hello);
        let _ = tx.try_send(Wire::Snapshot {
            rooms: inner.local_snapshot(),
        });
        tracing::info!(node = %inner.node_id, subject = %prefix, "hub bridged");
        let presence_subject = subjects.presence.clone();
        let outbound = tokio::spawn(outbound(
            inner.clone(),
            transport.clone(),
            subjects,
            key.clone(),
            rx,
        ));
        let inbound = tokio::spawn(inbound(Arc::downgrade(inner), key.clone(), subscription));
        Ok(Bridge {
            id,
            hub: Arc::downgrade(inner),
            node_id: inner.node_id.clone(),
            presence_subject,
            publisher: DynPublisher::new(transport),
            key: key.clone(),
            tasks: vec![outbound, inbound],
        })
    }
}

/// Publishes what the hub queued, and a presence snapshot every heartbeat.
async fn outbound<T: Publisher>(
    hub: Arc<Inner>,
    transport: T,
    subjects: Subjects,
    key: BridgeKey,
    mut rx: mpsc::Receiver<Wire>,
) {
    let mut heartbeat = tokio::time::interval(hub.config.heartbeat_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await;
    loop {
        let wire = tokio::select! {
            wire = rx.recv() => match wire {
                Some(wire) => wire,
                None => return,
            },
            _ = heartbeat.tick() => {
                hub.expire_remote();
                Wire::Snapshot { rooms: hub.local_snapshot() }
            }
        };
        let subject = subjects.for_wire(&wire);
        let published = match envelope(&key, &hub.node_id, subject.clone(), wire) {
            Ok(msg) => transport.publish(msg).await,
            Err(err) => Err(err),
        };
        if let Err(err) = published {
            tracing::warn!(subject = %subject, error = %err, "bridge publish failed");
        }
    }
}

/// Applies what other nodes publish.
async fn inbound<S>(hub: std::sync::Weak<Inner>, key: BridgeKey, mut subscription: S)
where
    S: futures::Stream<Item = switchboard_core::Result<Envelope>> + Unpin,
{
    while let Some(item) = subscription.next().await {
        let Some(hub) = hub.upgrade() else { return };
        let msg = match item {
            Ok(msg) => msg,
            Err(err) => {
                tracing::warn!(error = %err, "bridge subscription error");
                continue;
            }
        };
        if msg.headers().get(NODE_HEADER) == Some(hub.node_id.as_str()) {
            continue;
        }
        match open(&key, msg.subject().as_str(), msg.payload()) {
            Some(wire) if wire.node == hub.node_id => {}
            Some(wire) => hub.apply_remote(&wire.node, wire.body),
            None => {
                hub.bridge_rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(subject = %msg.subject(), "dropping a bridge message that is not sealed under the cluster key or does not decode");
            }
        }
    }
    tracing::warn!("bridge subscription ended");
}

fn detach(hub: &Inner, id: u64) {
    let mut state = hub.lock();
    if state
        .bridge
        .as_ref()
        .is_some_and(|(current, _)| *current == id)
    {
        state.bridge = None;
    }
}

impl Bridge {
    /// The node id this bridge publishes as.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Detaches the hub and tells the other nodes to forget its presence now.
    pub async fn close(mut self) -> Result<(), WsError> {
        self.stop();
        let bye = envelope(
            &self.key,
            &self.node_id,
            self.presence_subject.clone(),
            Wire::Bye,
        )?;
        self.publisher.publish(bye).await?;
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            detach(&hub, self.id);
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop();
    }
}
