//! Settles one log delivery: `XACK`, or a redelivery request to its member.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use redis::aio::ConnectionManager;
use switchboard_core::{Acknowledge, Group, Result};
use tokio::{sync::mpsc, time::Instant};

use crate::error::from_redis;

/// A request to deliver an entry again, handled by the member that read it.
#[derive(Debug)]
pub(super) struct Retry {
    /// Index of the partition in the member's list.
    pub(super) partition: usize,
    pub(super) id: String,
    pub(super) due: Instant,
}

pub(super) struct StreamAcker {
    pub(super) conn: ConnectionManager,
    pub(super) stream: Arc<str>,
    pub(super) group: Group,
    pub(super) partition: usize,
    pub(super) id: String,
    pub(super) retries: mpsc::UnboundedSender<Retry>,
}

impl StreamAcker {
    /// Asks the member for a redelivery. If the member is gone, the entry stays pending and
    /// another member claims it (see `RedisLog`).
    fn retry(self, delay: Duration) {
        let _ = self.retries.send(Retry {
            partition: self.partition,
            id: self.id,
            due: Instant::now() + delay,
        });
    }
}

impl Acknowledge for StreamAcker {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("XACK")
                .arg(&*self.stream)
                .arg(self.group.as_str())
                .arg(&self.id)
                .exec_async(&mut conn)
                .await
                .map_err(from_redis)
        })
    }

    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<()>> {
        self.retry(delay);
        Box::pin(async { Ok(()) })
    }

    fn abandon(self: Box<Self>) {
        self.retry(Duration::ZERO);
    }
}
