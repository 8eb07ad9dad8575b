//! Nacked entries waiting for their delay: one rewind per partition, kept from claims.

use redis::{RedisResult, streams::StreamPendingCountReply};
use tokio::time::Instant;

use super::Member;
use crate::log::{acker::Retry, layout::offset};

/// A partition waiting for a nack delay: at `due`, the member delivers its pending entries
/// again from `from` on.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) from: String,
    pub(super) due: Instant,
}

impl Member {
    /// Records a nack, as the in-memory log does: one rewind per partition, from the lowest
    /// nacked offset. A nack at or after a waiting one changes nothing (the rewind delivers
    /// that entry again too); an earlier one takes its place, with its own delay.
    pub(super) fn wait_for(&mut self, retry: Retry) {
        let slot = &mut self.waiting[retry.partition];
        if let Some(waiting) = slot
            && offset(&retry.id) >= offset(&waiting.from)
        {
            return;
        }
        *slot = Some(Waiting {
            from: retry.id,
            due: retry.due,
        });
    }

    /// Resets the idle time of the entries waiting for a nack delay, which Redis does not do
    /// by itself, so that no `XAUTOCLAIM` (of this or another member) takes them back before
    /// they are due. Entries idle for half the margin between a read and a claim are
    /// refreshed, so each is refreshed well before `claim_idle`.
    pub(super) async fn keep_waiting_entries(&mut self) -> RedisResult<()> {
        let margin = self.settings.claim_idle.saturating_sub(self.settings.block) / 2;
        let min_idle = margin.as_millis() as u64;
        for p in 0..self.partitions.len() {
            let Some(waiting) = &self.waiting[p] else {
                continue;
            };
            let stream = self.partitions[p].stream.clone();
            let mut start = waiting.from.clone();
            loop {
                let pending: StreamPendingCountReply = redis::cmd("XPENDING")
                    .arg(&*stream)
                    .arg(self.group.as_str())
                    .arg("IDLE")
                    .arg(min_idle)
                    .arg(&start)
                    .arg("+")
                    .arg(self.settings.batch)
                    .arg(&self.consumer)
                    .query_async(&mut self.commands)
                    .await?;
                let Some(last) = pending.ids.last().map(|id| id.id.clone()) else {
                    break;
                };
                let mut cmd = redis::cmd("XCLAIM");
                cmd.arg(&*stream)
                    .arg(self.group.as_str())
                    .arg(&self.consumer)
                    .arg(min_idle);
                for id in &pending.ids {
                    cmd.arg(&id.id);
                }
                cmd.arg("IDLE").arg(0).arg("JUSTID");
                cmd.exec_async(&mut self.commands).await?;
                tracing::trace!(
                    topic = %self.partitions[p].topic,
                    partition = self.partitions[p].index,
                    refreshed = pending.ids.len(),
                    "kept nacked entries from being claimed"
                );
                if pending.ids.len() < self.settings.batch {
                    break;
                }
                start = format!("({last}");
            }
        }
        Ok(())
    }
}
