//! [`KafkaConsumer`]: consumer-group members with explicit, in-order acks.
//!
//! Each [`join`](LogConsumer::join) creates one librdkafka group member, run by a task:
//!
//! - offsets are stored only when acked (`enable.auto.offset.store=false`), and the stored
//!   offset of a partition is its lowest unacked one, so an ack of n+1 while n is out never
//!   commits past n; librdkafka's auto-commit sends stored offsets every commit interval;
//! - on a revoke (the `pre_rebalance` callback) and on shutdown, the acked offsets are
//!   committed synchronously before the partitions are let go;
//! - a nack seeks the partition back to the nacked record (pausing it for the delay first), so
//!   it and every later record of the partition come again in order; a dropped delivery is a
//!   nack without delay;
//! - the task polls librdkafka's main queue all the time, so rebalances are served while the
//!   reader is busy; each partition's records come through a queue of its own, which the
//!   stream reads on the reader's thread, so back pressure leaves them in librdkafka, which
//!   stops fetching a partition whose queue is full;
//! - a watchdog task looks at the group when a rebalance does not complete within the stall
//!   timeout, and repairs a group whose recorded leader is gone (tansu 0.6).

mod member;
mod queues;
mod rebalance;
mod stream;
mod tracker;
mod watchdog;

use std::{collections::VecDeque, sync::Arc};

use rdkafka::consumer::Consumer as _;
use switchboard_core::{Error, Group, InvalidInput, LogCapabilities, LogConsumer, Result, Topic};
use tokio::sync::mpsc;
use tracing::{Instrument as _, info, info_span};

pub use stream::KafkaDeliveries;

use self::queues::Lanes;

use self::{
    member::Member,
    rebalance::{MemberContext, Shared},
    watchdog::Watchdog,
};
use crate::{KafkaConfig, error};

/// Chunks of main-queue records between the member task and its stream; the task's backlog
/// holds the rest.
const HANDOFF: usize = 4;

/// Joins Kafka consumer groups. Cheap to clone; each [`join`](LogConsumer::join) is a new
/// member with its own connection.
#[derive(Clone, Debug)]
pub struct KafkaConsumer {
    config: KafkaConfig,
}

impl KafkaConsumer {
    /// A consumer with `config`'s settings (brokers, assignment strategy, commit interval…).
    pub fn new(config: &KafkaConfig) -> Self {
        KafkaConsumer {
            config: config.clone(),
        }
    }
}

impl KafkaConsumer {
    /// What this log guarantees beyond at-least-once: a nack seeks its partition back; each
    /// partition belongs to one member of the group.
    pub const CAPABILITIES: LogCapabilities = LogCapabilities::PARTITIONED;
}

impl LogConsumer for KafkaConsumer {
    type Stream = KafkaDeliveries;

    fn capabilities(&self) -> LogCapabilities {
        Self::CAPABILITIES
    }

    /// Joins `group` as a new member subscribed to `topics`. Returns at once; partitions are
    /// handed out by the group coordinator shortly after (a rebalance takes a few seconds).
    async fn join(&self, group: &Group, topics: &[Topic]) -> Result<KafkaDeliveries> {
        if topics.is_empty() {
            return Err(Error::from(InvalidInput::Empty { what: "topic list" }));
        }
        let shared = Arc::new(Shared::new(
            group.clone(),
            topics,
            self.config.session_timeout(),
        ));
        let consumer: Arc<Member> = self
            .config
            .consumer_config(group.as_str())
            .create_with_context(MemberContext {
                shared: shared.clone(),
            })
            .map(Arc::new)
            .map_err(error::config)?;
        shared.queues.attach(&consumer);
        let names: Vec<&str> = topics.iter().map(Topic::as_str).collect();
        consumer.subscribe(&names).map_err(error::map)?;
        info!(%group, topics = ?names, strategy = %self.config.assignment_strategy(), "joined consumer group");
        let (out, fetched) = mpsc::channel(HANDOFF);
        let (commands, received) = mpsc::unbounded_channel();
        let span = info_span!("kafka.member", %group);
        let watchdog = Watchdog::new(&self.config, group.as_str(), &names);
        tokio::spawn(
            watchdog
                .run(Arc::downgrade(&shared))
                .instrument(info_span!("kafka.watchdog", %group)),
        );
        tokio::spawn(member::run(consumer, shared.clone(), received, out).instrument(span));
        Ok(KafkaDeliveries {
            fetched,
            buffered: VecDeque::new(),
            lanes: Lanes::default(),
            commands,
            shared,
        })
    }
}
