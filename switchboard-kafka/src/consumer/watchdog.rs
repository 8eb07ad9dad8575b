//! The member's rebalance watchdog: a rebalance that has not completed for longer than the
//! stall timeout makes it look at the group, and repair a group whose leader is gone
//! (tansu 0.6; see [`crate::coordinator`]).

use std::{
    hash::{BuildHasher, Hasher},
    sync::Weak,
    time::Duration,
};

use tracing::{info, warn};

use super::rebalance::Shared;
use crate::{
    KafkaConfig,
    coordinator::{self, Asking, Finding},
};

/// What the watchdog of one member needs, owned.
pub(super) struct Watchdog {
    brokers: String,
    client_id: String,
    group: String,
    topics: Vec<String>,
    protocols: Vec<String>,
    session_timeout: Duration,
    request_timeout: Duration,
    stall_timeout: Duration,
}

impl Watchdog {
    pub(super) fn new(config: &KafkaConfig, group: &str, topics: &[&str]) -> Watchdog {
        Watchdog {
            brokers: config.brokers().to_owned(),
            client_id: config.client_id().to_owned(),
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            protocols: config
                .assignment_strategy()
                .as_str()
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            session_timeout: config.session_timeout(),
            request_timeout: config.request_timeout(),
            stall_timeout: config.rebalance_stall_timeout(),
        }
    }

    /// Watches the member until it is gone.
    pub(super) async fn run(self, shared: Weak<Shared>) {
        let every = (self.stall_timeout / 4).max(Duration::from_millis(250));
        // Survivors of one dead leader all watch the same stall: a random extra wait of up to
        // half the stall timeout, drawn anew for each look, keeps their repairs from colliding.
        let mut threshold = self.stall_timeout + jitter(self.stall_timeout / 2);
        loop {
            tokio::time::sleep(every).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let Some(unsettled) = shared.unsettled_for() else {
                continue;
            };
            if unsettled < threshold {
                continue;
            }
            threshold = self.stall_timeout + jitter(self.stall_timeout / 2);
            // Looked at again only after another threshold while the rebalance goes on.
            shared.restart_unsettled_clock();
            drop(shared);
            self.look(unsettled).await;
        }
    }

    async fn look(&self, unsettled: Duration) {
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        let protocols: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let asking = Asking {
            brokers: &self.brokers,
            client_id: &self.client_id,
            group: &self.group,
            topics: &topics,
            protocols: &protocols,
            session_timeout_ms: i32::try_from(self.session_timeout.as_millis()).unwrap_or(i32::MAX),
            request_timeout: self.request_timeout,
        };
        let group = &self.group;
        match coordinator::check_and_repair(&asking).await {
            Ok(Finding::LeaderUnknown) => {
                info!(%group, ?unsettled, "rebalance not complete; the broker does not name the group's leader")
            }
            Ok(Finding::LeaderAlive(leader)) => {
                info!(%group, ?unsettled, %leader, "rebalance not complete; its leader is a member")
            }
            Ok(Finding::Repaired { leader }) => {
                warn!(%group, ?unsettled, %leader, "the group's leader is gone but still named by the coordinator; stood in for it and left, so that a live member leads")
            }
            Ok(Finding::NotRepaired { leader, reason }) => {
                warn!(%group, ?unsettled, %leader, %reason, "the group's leader is gone; standing in for it failed, trying again after the stall timeout")
            }
            Err(err) => {
                warn!(%group, ?unsettled, error = %err, "rebalance not complete; the group could not be looked at")
            }
        }
    }
}

/// A random duration in `[0, up_to)`, from the standard library's per-process random hash keys.
fn jitter(up_to: Duration) -> Duration {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    let nanos = u64::try_from(up_to.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(hasher.finish() % nanos)
}
