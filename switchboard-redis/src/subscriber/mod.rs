//! [`RedisSubscriber`]: at-most-once subscriptions over one RESP3 connection.

mod hub;
mod routes;
mod subscription;

use std::sync::Arc;

use redis::{ProtocolVersion, aio::ConnectionManager};
use switchboard_core::{Pattern, Result, Subscriber};

pub use subscription::RedisSubscription;

use self::{
    hub::{Hub, set_name, supervise},
    routes::Routes,
};
use crate::{
    RedisConfig,
    channel::Channels,
    client::{manager_config, open_client},
    error::from_redis,
};

/// Subscribes to subjects by [`Pattern`] on a dedicated connection. Cheap to clone; clones
/// share the connection, and the messages each subscription receives are fanned out in
/// process, so many subscriptions cost one connection.
///
/// - A pattern without wildcards is a `SUBSCRIBE` to its channel; one with wildcards is a
///   `PSUBSCRIBE` to a glob that may over-match (`*` → `*`, `>` → `*`), and every message is
///   checked against the pattern before it is delivered.
/// - [`subscribe`](Subscriber::subscribe) returns once the server confirmed the subscription.
/// - After a lost connection the subscriber reconnects with exponential backoff and re-issues
///   every subscription by itself (the `redis` crate's automatic re-subscription on RESP3).
///   Messages published while it was disconnected are not replayed: at-most-once.
/// - A message that is not a Switchboard frame (say, from `redis-cli PUBLISH`) is delivered
///   as it is: its bytes are the payload, with a fresh id, the time of arrival and no headers.
/// - A message that starts like a frame (`SBF1`) but is broken is an error: it is not
///   delivered, it is counted in [`broken_frames`](Self::broken_frames) and logged
///   (rate-limited).
///
/// The connection speaks RESP3 and needs Redis 6 or newer.
#[derive(Clone)]
pub struct RedisSubscriber {
    hub: Arc<Hub>,
}

impl std::fmt::Debug for RedisSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSubscriber")
            .field("client_name", &self.hub.client_name)
            .finish_non_exhaustive()
    }
}

impl RedisSubscriber {
    pub(crate) async fn connect(config: &RedisConfig, channels: Channels) -> Result<Self> {
        let routes = Arc::new(Routes::new(channels.clone()));
        let sink = routes.clone();
        let manager = manager_config(config)
            .set_push_sender(move |push| {
                sink.on_push(push);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription();
        let client = open_client(config, ProtocolVersion::RESP3)?;
        let mut conn = ConnectionManager::new_with_config(client, manager)
            .await
            .map_err(from_redis)?;
        let uuid = uuid::Uuid::now_v7().simple().to_string();
        let client_name = format!("switchboard-sub-{}", &uuid[uuid.len() - 12..]);
        set_name(&mut conn, &client_name)
            .await
            .map_err(from_redis)?;
        let hub = Arc::new(Hub::new(
            conn,
            routes.clone(),
            channels,
            config.subscriber_capacity,
            client_name,
        ));
        tokio::spawn(supervise(Arc::downgrade(&hub), routes, config.heartbeat));
        Ok(RedisSubscriber { hub })
    }

    /// The connection's name in `CLIENT LIST` (`switchboard-sub-…`), set again after every
    /// reconnect.
    pub fn client_name(&self) -> &str {
        &self.hub.client_name
    }

    /// Messages on subscribed channels that started like a Switchboard frame but were broken
    /// (truncated, or a header that is not the frame's JSON), and so were dropped.
    pub fn broken_frames(&self) -> u64 {
        self.hub.routes.broken()
    }

    /// How many times the connection was lost (and re-established) so far.
    pub fn disconnects(&self) -> u64 {
        self.hub.routes.disconnects()
    }
}

impl Subscriber for RedisSubscriber {
    type Stream = RedisSubscription;

    async fn subscribe(&self, pattern: &Pattern) -> Result<RedisSubscription> {
        self.hub.subscribe(pattern).await
    }
}
