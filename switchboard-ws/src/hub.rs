//! [`Hub`]: rooms, presence and serialize-once fan-out over bounded per-client queues.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use chrono::Utc;
use switchboard_core::metric;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::{
    ClientHandle, Disconnect, HubConfig, HubEvent, Presence, WsError,
    client::Link,
    event::{Renderer, render_json},
    presence::RemoteNodes,
    sanitize::{room_name, username_or_guest},
    wire::Wire,
};

/// Longest username the hub keeps, in characters (the glue caps it lower, see
/// [`crate::UpgradeConfig::max_username_chars`]).
pub const MAX_USERNAME_CHARS: usize = 64;

/// Counters of a hub, for metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Clients disconnected because their queue was full.
    pub slow_consumers: u64,
    /// Messages fanned out (each counted once, however many clients got it).
    pub messages: u64,
    /// Bridge messages dropped because the bridge queue was full.
    pub bridge_dropped: u64,
    /// Bridge messages received and dropped: not sealed under the cluster key, or malformed.
    pub bridge_rejected: u64,
}

struct Member {
    id: u64,
    username: Arc<str>,
    tx: mpsc::Sender<Bytes>,
    link: Arc<Link>,
}

#[derive(Default)]
struct Room {
    members: Vec<Member>,
}

#[derive(Default)]
pub(crate) struct State {
    rooms: HashMap<String, Room>,
    pub(crate) remote: RemoteNodes,
    pub(crate) bridge: Option<(u64, mpsc::Sender<Wire>)>,
    closed: bool,
}

pub(crate) struct Inner {
    pub(crate) config: HubConfig,
    render: RwLock<Renderer>,
    pub(crate) node_id: String,
    state: Mutex<State>,
    next_id: AtomicU64,
    slow_consumers: AtomicU64,
    messages: AtomicU64,
    bridge_dropped: AtomicU64,
    pub(crate) bridge_rejected: AtomicU64,
}

/// A chat hub: rooms of clients, presence per room, and fan-out that renders each event once
/// into one [`Bytes`] shared by every recipient. Cheap to clone; clones share the hub.
///
/// Each client has a bounded queue ([`HubConfig::client_queue`]). Fan-out never waits: a client
/// whose queue is full is disconnected on the spot ([`Disconnect::SlowConsumer`], close code
/// 4000), counted in [`HubStats::slow_consumers`] and logged, and the room is told it left.
///
/// ```
/// use futures::StreamExt;
/// use switchboard_ws::{Hub, HubConfig};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), switchboard_ws::WsError> {
/// let hub = Hub::new(HubConfig::default());
/// let mut alice = hub.join("lobby", "alice").await?;
/// hub.send("lobby", "alice", "hi").await?;
/// let joined = alice.next().await.unwrap();
/// assert!(std::str::from_utf8(&joined).unwrap().contains(r#""online":1"#));
/// let msg = alice.next().await.unwrap();
/// assert!(std::str::from_utf8(&msg).unwrap().contains(r#""text":"hi""#));
/// assert_eq!(hub.presence("lobby").members, ["alice"]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node_id", &self.inner.node_id)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl Hub {
    /// A hub with the default JSON renderer ([`render_json`]).
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                config,
                render: RwLock::new(Arc::new(render_json)),
                node_id: uuid::Uuid::now_v7().to_string(),
                state: Mutex::default(),
                next_id: AtomicU64::new(1),
                slow_consumers: AtomicU64::new(0),
                messages: AtomicU64::new(0),
                bridge_dropped: AtomicU64::new(0),
                bridge_rejected: AtomicU64::new(0),
            }),
        }
    }

    /// Sets the serialize-once renderer: it turns one event into the bytes every client of the
    /// room receives. Bytes that are valid UTF-8 go out as text frames, others as binary.
    /// Empty bytes suppress the event: a large broadcast room can skip join and leave
    /// announcements that would cost one delivery per member per join.
    pub fn with_renderer(self, render: impl Fn(&HubEvent) -> Bytes + Send + Sync + 'static) -> Hub {
        *self
            .inner
            .render
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(render);
        self
    }

    /// This hub's node id, as other bridged nodes see it.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Counters since the hub was created.
    pub fn stats(&self) -> HubStats {
        HubStats {
            slow_consumers: self.inner.slow_consumers.load(Ordering::Relaxed),
            messages: self.inner.messages.load(Ordering::Relaxed),
            bridge_dropped: self.inner.bridge_dropped.load(Ordering::Relaxed),
            bridge_rejected: self.inner.bridge_rejected.load(Ordering::Relaxed),
        }
    }

    /// Joins `room` as `username` (both cleaned; an empty username becomes `guest-…`). The room
    /// is told `Joined` with the new online count, the new client included.
    pub async fn join(&self, room: &str, username: &str) -> Result<ClientHandle, WsError> {
        let inner = &self.inner;
        let room = room_name(room, inner.config.max_room_chars)?;
        let username = username_or_guest(Some(username), MAX_USERNAME_CHARS);
        let (tx, rx) = mpsc::channel(inner.config.client_queue.max(1));
        let link = Arc::new(Link::default());
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut state = inner.lock();
        if state.closed {
            return Err(WsError::Closed);
        }
        state
            .rooms
            .entry(room.clone())
            .or_default()
            .members
            .push(Member {
                id,
                username: username.as_str().into(),
                tx,
                link: link.clone(),
            });
        metric::gauge_add(metric::HUB_CLIENTS, 1.0);
        let online = inner.online(&state, &room);
        tracing::debug!(room = %room, user = %username, online, "client joined");
        let joined = inner.render(&HubEvent::Joined {
            room: room.clone(),
            user: username.clone(),
            online,
        });
        inner.fan_out(&mut state, &room, joined);
        inner.bridge_out(
            &state,
            Wire::Joined {
                room: room.clone(),
                user: username.clone(),
            },
        );
        drop(state);
        Ok(ClientHandle {
            id,
            room,
            username,
            rx,
            link,
            hub: Arc::downgrade(inner),
        })
    }

    /// Sends `text` from `from` to every client of `room` on this node and, when bridged, on
    /// every other node. The text is carried as data, unescaped; it must be non-empty and at
    /// most [`HubConfig::max_text_bytes`].
    pub async fn send(&self, room: &str, from: &str, text: &str) -> Result<(), WsError> {
        let inner = &self.inner;
        let limit = inner.config.max_text_bytes;
        if text.len() > limit {
            return Err(WsError::MessageTooLarge {
                size: text.len(),
                limit,
            });
        }
        if text.trim().is_empty() {
            return Err(WsError::EmptyMessage);
        }
        let room = room_name(room, inner.config.max_room_chars)?;
        let from = username_or_guest(Some(from), MAX_USERNAME_CHARS);
        let at = Utc::now();
        let bytes = inner.render(&HubEvent::Message {
            room: room.clone(),
            from: from.clone(),
            text: text.to_owned(),
            at,
        });
        let mut state = inner.lock();
        if state.closed {
            return Err(WsError::Closed);
        }
        inner.fan_out(&mut state, &room, bytes);
        inner.bridge_out(
            &state,
            Wire::Message {
                room,
                from,
                text: text.to_owned(),
                at,
            },
        );
        Ok(())
    }

    /// Who is in `room`, on this node and on every bridged node still sending heartbeats.
    pub fn presence(&self, room: &str) -> Presence {
        let inner = &self.inner;
        let state = inner.lock();
        let mut members: Vec<String> = state
            .rooms
            .get(room)
            .into_iter()
            .flat_map(|r| r.members.iter().map(|m| m.username.to_string()))
            .chain(
                state
                    .remote
                    .members(room, inner.config.presence_ttl)
                    .map(str::to_owned),
            )
            .collect();
        members.sort_unstable();
        Presence {
            online: members.len(),
            members,
        }
    }

    /// Closes the hub: every client is disconnected with [`Disconnect::HubClosed`] (close code
    /// 1001) and later joins and sends fail with [`WsError::Closed`].
    pub fn close(&self) {
        let mut state = self.inner.lock();
        state.closed = true;
        for (_, room) in state.rooms.drain() {
            for member in room.members {
                member.link.disconnect(Disconnect::HubClosed);
            }
        }
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn render(&self, event: &HubEvent) -> Bytes {
        let render = self
            .render
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        render(event)
    }

    pub(crate) fn online(&self, state: &State, room: &str) -> usize {
        state.rooms.get(room).map_or(0, |r| r.members.len())
            + state.remote.count(room, self.config.presence_ttl)
    }

    /// Queues `bytes` for every local client of `room` without waiting. Clients whose queue is
    /// full are disconnected, and the room is told they left (which may in turn find more).
    pub(crate) fn fan_out(&self, state: &mut State, room: &str, bytes: Bytes) {
        let mut pending = VecDeque::from([bytes]);
        while let Some(bytes) = pending.pop_front() {
            if bytes.is_empty() {
                continue;
            }
            let Some(members) = state.rooms.get_mut(room).map(|r| &mut r.members) else {
                return;
            };
            self.messages.fetch_add(1, Ordering::Relaxed);
            let mut slow = Vec::new();
            members.retain(|member| match member.tx.try_send(bytes.clone()) {
                Err(TrySendError::Full(_)) => {
                    slow.push((member.username.clone(), member.link.clone()));
                    false
                }
                // A closed queue means the handle is being dropped: `leave` will remove it.
                Ok(()) | Err(TrySendError::Closed(_)) => true,
            });
            if members.is_empty() {
                state.rooms.remove(room);
            }
            for (user, link) in slow {
                let capacity = self.config.client_queue.max(1);
                link.disconnect(Disconnect::SlowConsumer { capacity });
                let total = self.slow_consumers.fetch_add(1, Ordering::Relaxed) + 1;
                metric::gauge_add(metric::HUB_CLIENTS, -1.0);
                metric::count(metric::HUB_SLOW_DISCONNECTS, 1);
                tracing::warn!(
                    room,
                    user = %user,
                    capacity,
                    slow_consumers = total,
                    "slow consumer disconnected"
                );
                let online = self.online(state, room);
                pending.push_back(self.render(&HubEvent::Left {
                    room: room.to_owned(),
                    user: user.to_string(),
                    online,
                }));
                self.bridge_out(
                    state,
                    Wire::Left {
                        room: room.to_owned(),
                        user: user.to_string(),
                    },
                );
            }
        }
    }

    /// Removes client `id` from `room` (if the hub has not already) and tells the room.
    pub(crate) fn leave(&self, room: &str, id: u64) {
        let mut state = self.lock();
        let Some(members) = state.rooms.get_mut(room).map(|r| &mut r.members) else {
            return;
        };
        let Some(at) = members.iter().position(|m| m.id == id) else {
            return;
        };
        let member = members.swap_remove(at);
        metric::gauge_add(metric::HUB_CLIENTS, -1.0);
        if members.is_empty() {
            state.rooms.remove(room);
        }
        let online = self.online(&state, room);
        tracing::debug!(room, user = %member.username, online, "client left");
        let left = self.render(&HubEvent::Left {
            room: room.to_owned(),
            user: member.username.to_string(),
            online,
        });
        self.fan_out(&mut state, room, left);
        self.bridge_out(
            &state,
            Wire::Left {
                room: room.to_owned(),
                user: member.username.to_string(),
            },
        );
    }

    /// Hands a message to the bridge, if any, without waiting; a full bridge queue drops it.
    pub(crate) fn bridge_out(&self, state: &State, wire: Wire) {
        let Some((_, tx)) = &state.bridge else {
            return;
        };
        if let Err(TrySendError::Full(_)) = tx.try_send(wire) {
            let dropped = self.bridge_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped, "bridge queue full, message not forwarded");
        }
    }

    /// This node's rooms and members, for a presence heartbeat.
    pub(crate) fn local_snapshot(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.lock()
            .rooms
            .iter()
            .map(|(room, r)| {
                let names = r.members.iter().map(|m| m.username.to_string()).collect();
                (room.clone(), names)
            })
            .collect()
    }
}
