//! [`Hub`]: one subscriber connection shared by many local subscriptions.

use std::{
    collections::HashSet,
    sync::{Arc, Weak},
    time::Duration,
};

use redis::aio::ConnectionManager;
use switchboard_core::{Pattern, Result, lagging::lagging_channel};
use tokio::sync::Mutex;

use super::{routes::Routes, subscription::RedisSubscription};
use crate::{
    channel::{Channels, Target},
    error::from_redis,
};

/// The connection, its routing table, and which targets the server has been asked for.
pub(super) struct Hub {
    pub(super) conn: ConnectionManager,
    pub(super) routes: Arc<Routes>,
    pub(super) channels: Channels,
    pub(super) capacity: usize,
    pub(super) client_name: String,
    /// Targets subscribed on the server. The lock also serializes (un)subscribe commands, so a
    /// second subscription to a target waits until the first one's is confirmed.
    subscribed: Mutex<HashSet<Target>>,
}

impl Hub {
    pub(super) fn new(
        conn: ConnectionManager,
        routes: Arc<Routes>,
        channels: Channels,
        capacity: usize,
        client_name: String,
    ) -> Self {
        Hub {
            conn,
            routes,
            channels,
            capacity,
            client_name,
            subscribed: Mutex::default(),
        }
    }

    /// Subscribes to `pattern`; returns once the server has confirmed the subscription.
    pub(super) async fn subscribe(
        self: &Arc<Self>,
        pattern: &Pattern,
    ) -> Result<RedisSubscription> {
        let target = self.channels.target(pattern);
        let (tx, rx) = lagging_channel(self.capacity, crate::SYSTEM);
        let mut subscribed = self.subscribed.lock().await;
        let id = self.routes.add(target.clone(), pattern.clone(), tx);
        // Built before the server is asked, so a cancelled call still releases its route.
        let subscription = RedisSubscription::new(rx, self.clone(), target.clone(), id);
        if subscribed.insert(target.clone()) {
            let mut conn = self.conn.clone();
            let confirmed = match &target {
                Target::Channel(channel) => conn.subscribe(channel).await,
                Target::Glob(glob) => conn.psubscribe(glob).await,
            };
            if let Err(err) = confirmed {
                subscribed.remove(&target);
                tracing::warn!(pattern = %pattern, error = %err, "redis subscribe failed");
                return Err(from_redis(err));
            }
            tracing::debug!(pattern = %pattern, target = ?target, "subscribed");
        }
        Ok(subscription)
    }

    /// Forgets subscription `id`; the last one of a target unsubscribes on the server.
    pub(super) fn release(self: &Arc<Self>, target: &Target, id: u64) {
        if !self.routes.remove(target, id) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let hub = self.clone();
            let target = target.clone();
            runtime.spawn(async move { hub.unsubscribe_if_unused(target).await });
        }
    }

    async fn unsubscribe_if_unused(&self, target: Target) {
        let mut subscribed = self.subscribed.lock().await;
        if self.routes.in_use(&target) || !subscribed.remove(&target) {
            return;
        }
        let mut conn = self.conn.clone();
        let done = match &target {
            Target::Channel(channel) => conn.unsubscribe(channel).await,
            Target::Glob(glob) => conn.punsubscribe(glob).await,
        };
        match done {
            Ok(()) => tracing::debug!(target = ?target, "unsubscribed"),
            // Harmless: messages for a target without subscriptions are ignored.
            Err(err) => tracing::debug!(target = ?target, error = %err, "unsubscribe failed"),
        }
    }
}

/// Keeps the connection checked: pings it every `every`, which makes the connection manager
/// start a new round of reconnection attempts if an earlier round gave up, and names the new
/// connection after each reconnect (which also waits for the re-subscription to finish).
pub(super) async fn supervise(hub: Weak<Hub>, routes: Arc<Routes>, every: Duration) {
    let mut named = true;
    loop {
        tokio::select! {
            () = routes.disconnected.notified() => named = false,
            () = tokio::time::sleep(every) => {}
        }
        let Some(hub) = hub.upgrade() else {
            return;
        };
        let (mut conn, name) = (hub.conn.clone(), hub.client_name.clone());
        drop(hub);
        if named {
            if let Err(err) = redis::cmd("PING").exec_async(&mut conn).await {
                tracing::warn!(error = %err, "redis subscriber heartbeat failed");
            }
            continue;
        }
        match set_name(&mut conn, &name).await {
            Ok(()) => {
                named = true;
                tracing::info!(
                    client = %name,
                    disconnects = routes.disconnects(),
                    "redis subscriber reconnected and re-subscribed"
                );
            }
            Err(err) => tracing::warn!(error = %err, "redis subscriber still reconnecting"),
        }
    }
}

/// Names the connection (`CLIENT SETNAME`), so operators and tests find it in `CLIENT LIST`.
pub(super) async fn set_name(conn: &mut ConnectionManager, name: &str) -> redis::RedisResult<()> {
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .exec_async(conn)
        .await
}
