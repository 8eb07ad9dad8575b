//! Waiting for a group's members to hold their partitions: an observable event, not a delay.
//!
//! A member that has joined may not have its partitions yet; messages appended meanwhile go to
//! whichever member holds them, and a second member may get nothing. [`await_assigned`]
//! appends probes, one at a time and each keyed differently so that they spread over the
//! partitions, until every member of the group has received one.

use std::{collections::HashSet, time::Duration};

use futures::{StreamExt, stream::select_all};

use super::{LogFixture, within};
use crate::{Delivery, Envelope, LogProducer, Result, Topic};

/// The payload of a probe.
pub const PROBE: &str = "probe";

/// The longest the group may take to hand out partitions.
const LIMIT: Duration = Duration::from_secs(60);

/// Whether `delivery` is one of [`await_assigned`]'s probes. A probe redelivered after a
/// rebalance may still reach a member later: consumers of the case skip (and ack) them.
pub fn is_probe(delivery: &Delivery) -> bool {
    delivery.envelope().payload() == PROBE.as_bytes()
}

/// Appends probes to `topic` until each of `members` (the streams of one group's members) has
/// received and acked one. Anything else delivered meanwhile is an error naming it: the group
/// held messages from before. Each probe is appended once the previous one has arrived, so at
/// most a redelivered one is left in flight.
pub async fn await_assigned<F, S>(f: &F, topic: &Topic, members: &mut [S]) -> Result<(), String>
where
    F: LogFixture,
    S: futures::Stream<Item = Result<Delivery>> + Unpin,
{
    let producer = f.producer();
    let mut waiting: HashSet<usize> = (0..members.len()).collect();
    let mut probes = 0;
    while !waiting.is_empty() {
        let probe = Envelope::new(topic.clone(), PROBE).with_key(format!("probe-{probes}"));
        producer.append(probe).await.expect("append a probe");
        probes += 1;
        let mut all = select_all(
            members
                .iter_mut()
                .enumerate()
                .map(|(i, member)| member.map(move |delivery| (i, delivery))),
        );
        let what = format!("members {waiting:?} to receive a probe (probe {probes})");
        let (member, delivery) = match within(LIMIT, &what, all.next()).await {
            Some((member, Ok(delivery))) => (member, delivery),
            Some((member, Err(err))) => return Err(format!("member {member}: {err}")),
            None => return Err("every member's stream ended".to_owned()),
        };
        if !is_probe(&delivery) {
            return Err(format!("{delivery:?} came before the probes"));
        }
        delivery.ack().await.expect("ack a probe");
        waiting.remove(&member);
    }
    Ok(())
}
