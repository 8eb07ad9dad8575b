//! The member's rebalance watchdog: a rebalance that has not completed for longer than the
//! stall timeout makes it look at the group, and repair a group whose leader is gone
//! (tansu 0.6; see [`crate::coordinator`]).

use std::{sync::Weak, time::Duration};

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
        loop {
            tokio::time::sleep(every).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let Some(unsettled) = shared.unsettled_for() else {
                continue;
            };
            if unsettled < self.stall_timeout {
                continue;
            }
            // Checked once per stall timeout while the rebalance goes on.
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
