//! Where a log lives in Redis: key names, entry ids, partition choice.

use switchboard_core::Topic;

/// The keys of one topic under a key prefix.
///
/// `<prefix>:#log:<topic>` holds the partition count, `<prefix>:#log:<topic>:<n>` is the
/// stream of partition `n`. A namespace cannot hold `#`, so no key/value key collides.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    prefix: String,
}

impl Layout {
    pub(super) fn new(key_prefix: &str) -> Self {
        Layout {
            prefix: format!("{key_prefix}:#log:"),
        }
    }

    /// The hash holding the topic's partition count.
    pub(super) fn meta(&self, topic: &Topic) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// The stream of one partition.
    pub(super) fn stream(&self, topic: &Topic, partition: u32) -> String {
        format!("{}{topic}:{partition}", self.prefix)
    }
}

/// The offset of an entry id `<ms>-<seq>`. Switchboard appends with `0-*`, so its offsets are
/// the sequence numbers 1, 2, 3…; entries added by others with time-based ids still get
/// increasing offsets.
pub(super) fn offset(id: &str) -> u64 {
    let (ms, seq) = split_id(id);
    (ms << 20).wrapping_add(seq)
}

/// The id just before `id`, for reading a consumer's pending entries from `id` on.
pub(super) fn previous_id(id: &str) -> String {
    match split_id(id) {
        (0, 0) => "0-0".to_owned(),
        (ms, 0) => format!("{}-{}", ms - 1, u64::MAX),
        (ms, seq) => format!("{ms}-{}", seq - 1),
    }
}

fn split_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// The partition for a message: by a stable hash (FNV-1a) of its key, so every producer, in any
/// process or version, picks the same one; keyless messages go round robin.
pub(super) fn partition_for(key: Option<&str>, partitions: u32, round_robin: u64) -> u32 {
    let n = u64::from(partitions.max(1));
    let slot = match key {
        Some(key) => {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in key.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            hash % n
        }
        None => round_robin % n,
    };
    u32::try_from(slot).expect("slot below a u32 partition count")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_offsets() {
        assert_eq!(offset("0-7"), 7);
        assert!(offset("1-0") > offset("0-900000"));
        assert_eq!(previous_id("0-5"), "0-4");
        assert_eq!(previous_id("3-0"), format!("2-{}", u64::MAX));
        assert_eq!(previous_id("0-0"), "0-0");
    }

    #[test]
    fn keys_hash_stably() {
        assert_eq!(
            partition_for(Some("k1"), 4, 0),
            partition_for(Some("k1"), 4, 9)
        );
        assert_eq!(partition_for(None, 4, 6), 2);
        assert_eq!(partition_for(Some("x"), 1, 0), 0);
        let spread: std::collections::HashSet<u32> = (0..50)
            .map(|i| partition_for(Some(&format!("key-{i}")), 4, 0))
            .collect();
        assert_eq!(spread.len(), 4, "keys spread over every partition");
    }

    #[test]
    fn layout_names() {
        let layout = Layout::new("sb");
        let topic = Topic::new("a.b").unwrap();
        assert_eq!(layout.meta(&topic), "sb:#log:a.b");
        assert_eq!(layout.stream(&topic, 3), "sb:#log:a.b:3");
    }
}
