//! The routing table of one subscriber connection: which local subscriptions get which message.
//!
//! It runs inside the `redis` crate's push handler, once per message the server pushes, so it
//! never blocks: each subscription has a bounded queue, and a full queue drops the message for
//! that subscription only and counts it.

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use redis::{PushInfo, PushKind, Value};
use switchboard_core::{Envelope, Pattern, lagging::LaggingSender};
use tokio::sync::Notify;

use crate::{
    RedisBackendError,
    channel::{Channels, Target},
    frame,
};

/// One local subscription.
struct Route {
    id: u64,
    pattern: Pattern,
    tx: LaggingSender<Envelope>,
}

#[derive(Default)]
struct Table {
    by_target: HashMap<Target, Vec<Route>>,
    next_id: u64,
}

/// Routes pushed messages to local subscriptions; shared with the push handler.
pub(super) struct Routes {
    channels: Channels,
    table: Mutex<Table>,
    broken: AtomicU64,
    disconnects: AtomicU64,
    /// Woken on every lost connection, so the supervisor can check the new one.
    pub(super) disconnected: Notify,
}

impl Routes {
    pub(super) fn new(channels: Channels) -> Self {
        Routes {
            channels,
            table: Mutex::default(),
            broken: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            disconnected: Notify::new(),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a subscription for messages of `target` that `pattern` matches; returns its id.
    pub(super) fn add(&self, target: Target, pattern: Pattern, tx: LaggingSender<Envelope>) -> u64 {
        let mut table = self.table();
        table.next_id += 1;
        let id = table.next_id;
        table
            .by_target
            .entry(target)
            .or_default()
            .push(Route { id, pattern, tx });
        id
    }

    /// Removes subscription `id`; `true` if no other subscription needs `target` any more.
    pub(super) fn remove(&self, target: &Target, id: u64) -> bool {
        let mut table = self.table();
        let Some(routes) = table.by_target.get_mut(target) else {
            return true;
        };
        routes.retain(|route| route.id != id);
        if routes.is_empty() {
            table.by_target.remove(target);
            return true;
        }
        false
    }

    /// Whether any subscription needs `target`.
    pub(super) fn in_use(&self, target: &Target) -> bool {
        self.table().by_target.contains_key(target)
    }

    /// Messages that matched a subscription, started like a frame and were broken.
    pub(super) fn broken(&self) -> u64 {
        self.broken.load(Ordering::Relaxed)
    }

    /// Connections lost so far.
    pub(super) fn disconnects(&self) -> u64 {
        self.disconnects.load(Ordering::Relaxed)
    }

    /// Handles one push from the server (or the client library's disconnection notice).
    pub(super) fn on_push(&self, push: PushInfo) {
        let mut data = push.data.into_iter().map(into_bytes);
        match push.kind {
            PushKind::Message => {
                if let (Some(Some(channel)), Some(Some(payload))) = (data.next(), data.next()) {
                    let target = Target::Channel(String::from_utf8_lossy(&channel).into_owned());
                    self.deliver(&target, &channel, payload);
                }
            }
            PushKind::PMessage => {
                if let (Some(Some(glob)), Some(Some(channel)), Some(Some(payload))) =
                    (data.next(), data.next(), data.next())
                {
                    let target = Target::Glob(String::from_utf8_lossy(&glob).into_owned());
                    self.deliver(&target, &channel, payload);
                }
            }
            PushKind::Disconnection => {
                let disconnects = self.disconnects.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    disconnects,
                    "redis subscriber connection lost; reconnecting and re-subscribing \
                     (messages published meanwhile are not replayed)"
                );
                self.disconnected.notify_one();
            }
            _ => {}
        }
    }

    fn deliver(&self, target: &Target, channel: &[u8], payload: Vec<u8>) {
        let table = self.table();
        let Some(routes) = table.by_target.get(target) else {
            return;
        };
        // A glob over-matches: a channel that is not a subject or that no pattern matches was
        // never meant for these subscriptions.
        let Some(subject) = self.channels.subject(channel) else {
            return;
        };
        if !routes.iter().any(|route| route.pattern.matches(&subject)) {
            return;
        }
        let payload = Bytes::from(payload);
        let msg = if frame::is_frame(&payload) {
            match frame::decode(subject, payload) {
                Ok(msg) => msg,
                Err(err) => {
                    self.count_broken(channel, &err);
                    return;
                }
            }
        } else {
            // A plain client's message: the payload is all there is.
            Envelope::new(subject, payload)
        };
        for route in routes
            .iter()
            .filter(|route| route.pattern.matches(msg.subject()))
        {
            route.tx.send(msg.clone());
        }
    }

    /// Counts a broken frame, which is not delivered; logs the 1st, 2nd, 4th, 8th… so a
    /// broken publisher cannot flood the log.
    fn count_broken(&self, channel: &[u8], err: &RedisBackendError) {
        let broken = self.broken.fetch_add(1, Ordering::Relaxed) + 1;
        if broken.is_power_of_two() {
            tracing::error!(
                channel = %String::from_utf8_lossy(channel),
                broken,
                error = %err,
                "dropped a broken switchboard frame"
            );
        }
    }
}

fn into_bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.into_bytes()),
        _ => None,
    }
}
