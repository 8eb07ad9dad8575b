//! Leaving a group, and removing members that vanished without leaving.

use std::time::Duration;

use redis::{RedisResult, streams::StreamPendingCountReply};

use super::Member;

/// Removes the group's consumers (other than `ARGV[2]`) that hold no pending entry and were
/// idle for longer than `ARGV[3]` ms: members that vanished without leaving. One script, so
/// no consumer can receive an entry between the check and the delete.
const REMOVE_VANISHED: &str = r"
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local field = {}
  for i = 1, #consumer, 2 do field[consumer[i]] = consumer[i + 1] end
  if field['name'] ~= ARGV[2] and field['pending'] == 0
      and field['idle'] > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], field['name'])
    removed = removed + 1
  end
end
return removed
";

impl Member {
    /// Removes the members of partition `p`'s group that vanished without leaving and hold
    /// nothing any more (their entries were claimed), so the group does not grow forever.
    pub(super) async fn remove_vanished(&mut self, p: usize) -> RedisResult<()> {
        let removed: u64 = redis::cmd("EVAL")
            .arg(REMOVE_VANISHED)
            .arg(1)
            .arg(&*self.partitions[p].stream)
            .arg(self.group.as_str())
            .arg(&self.consumer)
            .arg(self.settings.claim_idle.as_millis() as u64)
            .query_async(&mut self.commands)
            .await?;
        if removed > 0 {
            tracing::debug!(
                group = %self.group,
                topic = %self.partitions[p].topic,
                partition = self.partitions[p].index,
                removed,
                "removed members that vanished without leaving"
            );
        }
        Ok(())
    }

    /// Hands back the entries this member still holds, marked as long idle so the next member
    /// claims them at once, and removes the member from the group if it holds none.
    pub(super) async fn leave(&mut self) -> RedisResult<()> {
        let mark_idle = (self.settings.claim_idle + Duration::from_secs(3600)).as_millis() as u64;
        for partition in &self.partitions {
            let pending: StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(&*partition.stream)
                .arg(self.group.as_str())
                .arg("-")
                .arg("+")
                .arg(100_000)
                .arg(&self.consumer)
                .query_async(&mut self.commands)
                .await?;
            if pending.ids.is_empty() {
                redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&*partition.stream)
                    .arg(self.group.as_str())
                    .arg(&self.consumer)
                    .exec_async(&mut self.commands)
                    .await?;
                continue;
            }
            let mut cmd = redis::cmd("XCLAIM");
            cmd.arg(&*partition.stream)
                .arg(self.group.as_str())
                .arg(&self.consumer)
                .arg(0);
            for id in &pending.ids {
                cmd.arg(&id.id);
            }
            cmd.arg("IDLE").arg(mark_idle).arg("JUSTID");
            cmd.exec_async(&mut self.commands).await?;
        }
        tracing::debug!(group = %self.group, consumer = %self.consumer, "left the group");
        Ok(())
    }
}
