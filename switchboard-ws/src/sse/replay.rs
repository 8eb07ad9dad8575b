//! [`ReplayBuffer`]: recent events kept for reconnecting browsers.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
};

use futures::{Stream, StreamExt, stream, stream::BoxStream};
use tokio::sync::Notify;

use super::SseEvent;

/// A bounded ring of the last `capacity` events, each given an id, that is both the live
/// fan-out and the replay source of an SSE endpoint. Cheap to clone; clones share the ring.
///
/// Ids look like `3f9a1c2e-42`: the buffer's random epoch, then a sequence number. A browser
/// reconnecting with `Last-Event-ID`:
/// - gets every event after that id when the ring still holds them;
/// - gets `event: reset` first when it does not (too old, or from before a restart), then the
///   live events.
///
/// A subscriber holds no queue, only its position in the ring, so an idle one costs a few
/// hundred bytes. A subscriber that falls more than `capacity` events behind gets
/// `event: reset` and jumps to the newest event.
///
/// ```
/// use futures::StreamExt;
/// use switchboard_ws::{ReplayBuffer, SseEvent};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let buffer = ReplayBuffer::new(100);
/// let first = buffer.push(SseEvent::new("one"));
/// buffer.push(SseEvent::new("two"));
/// let mut resumed = buffer.subscribe(Some(&first));
/// assert_eq!(resumed.next().await.unwrap().data, "two");
/// # }
/// ```
#[derive(Clone)]
pub struct ReplayBuffer {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    epoch: String,
    ring: Mutex<Ring>,
    notify: Notify,
}

#[derive(Default)]
struct Ring {
    events: VecDeque<(u64, SseEvent)>,
    next_seq: u64,
}

enum Next {
    Event(SseEvent, u64),
    Gap,
    Wait,
}

impl Ring {
    fn after(&self, cursor: u64) -> Next {
        let Some(&(front, _)) = self.events.front() else {
            return Next::Wait;
        };
        if cursor + 1 < front {
            return Next::Gap;
        }
        match self.events.get((cursor + 1 - front) as usize) {
            Some((seq, event)) => Next::Event(event.clone(), *seq),
            None => Next::Wait,
        }
    }
}

impl std::fmt::Debug for ReplayBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayBuffer")
            .field("capacity", &self.inner.capacity)
            .field("epoch", &self.inner.epoch)
            .finish_non_exhaustive()
    }
}

impl ReplayBuffer {
    /// A buffer keeping the last `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let epoch = uuid::Uuid::now_v7().simple().to_string();
        ReplayBuffer {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                epoch: epoch[epoch.len() - 8..].to_owned(),
                ring: Mutex::new(Ring {
                    events: VecDeque::new(),
                    next_seq: 1,
                }),
                notify: Notify::new(),
            }),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.inner
            .ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `event` (its id is replaced by the buffer's), wakes live subscribers and returns
    /// the id.
    pub fn push(&self, mut event: SseEvent) -> String {
        let mut ring = self.ring();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let id = format!("{}-{seq}", self.inner.epoch);
        event.id = Some(id.clone());
        if ring.events.len() == self.inner.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back((seq, event));
        drop(ring);
        self.inner.notify.notify_waiters();
        id
    }

    /// Events currently held.
    pub fn len(&self) -> usize {
        self.ring().events.len()
    }

    /// Whether it holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events after `last_event_id` (see the type's docs), then live ones, forever.
    /// `None` starts with the next live event.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> BoxStream<'static, SseEvent> {
        let ring = self.ring();
        let newest = ring.next_seq - 1;
        let (cursor, first) = match last_event_id.map(|id| self.parse(id)) {
            None => (newest, None),
            Some(Some(seq)) if seq <= newest && !matches!(ring.after(seq), Next::Gap) => {
                (seq, None)
            }
            Some(_) => (
                newest,
                Some(SseEvent::reset(
                    "missed events are no longer available; reload the current state",
                )),
            ),
        };
        drop(ring);
        let live = stream::unfold((self.clone(), cursor), |(buffer, mut cursor)| async move {
            loop {
                let next = {
                    let notified = buffer.inner.notify.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    let next = buffer.ring().after(cursor);
                    if let Next::Wait = next {
                        notified.await;
                        continue;
                    }
                    next
                };
                match next {
                    Next::Event(event, seq) => return Some((event, (buffer, seq))),
                    Next::Gap | Next::Wait => {
                        cursor = buffer.ring().next_seq - 1;
                        let reset = SseEvent::reset("fell behind; reload the current state");
                        return Some((reset, (buffer, cursor)));
                    }
                }
            }
        });
        stream::iter(first).chain(live).boxed()
    }

    fn parse(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.split_once('-')?;
        (epoch == self.inner.epoch).then(|| seq.parse().ok())?
    }
}

/// For sources that cannot replay: when the browser reconnects with a `Last-Event-ID`, the
/// first event is `event: reset`, so the page knows to reload instead of assuming it missed
/// nothing.
pub fn no_replay<S>(
    last_event_id: Option<&str>,
    events: S,
) -> impl Stream<Item = SseEvent> + Send + 'static
where
    S: Stream<Item = SseEvent> + Send + 'static,
{
    let reset = last_event_id.map(|_| SseEvent::reset("this stream cannot replay missed events"));
    stream::iter(reset).chain(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replays_after_id_then_goes_live() {
        let buffer = ReplayBuffer::new(10);
        let ids: Vec<String> = (0..3)
            .map(|i| buffer.push(SseEvent::new(format!("e{i}"))))
            .collect();
        let mut sub = buffer.subscribe(Some(&ids[0]));
        assert_eq!(sub.next().await.unwrap().data, "e1");
        assert_eq!(sub.next().await.unwrap().data, "e2");
        buffer.push(SseEvent::new("e3"));
        let live = sub.next().await.unwrap();
        assert_eq!((live.data.as_str(), live.id.is_some()), ("e3", true));
    }

    #[tokio::test]
    async fn unknown_or_evicted_ids_reset() {
        let buffer = ReplayBuffer::new(2);
        let old = buffer.push(SseEvent::new("a"));
        for e in ["b", "c", "d"] {
            buffer.push(SseEvent::new(e));
        }
        for id in [old.as_str(), "other-1", "garbage"] {
            let mut sub = buffer.subscribe(Some(id));
            let first = sub.next().await.unwrap();
            assert_eq!(first.event.as_deref(), Some("reset"), "{id}");
        }
        let latest = buffer.push(SseEvent::new("e"));
        let mut sub = buffer.subscribe(Some(&latest));
        buffer.push(SseEvent::new("f"));
        assert_eq!(sub.next().await.unwrap().data, "f");
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told() {
        let buffer = ReplayBuffer::new(2);
        let mut sub = buffer.subscribe(None);
        for i in 0..5 {
            buffer.push(SseEvent::new(i.to_string()));
        }
        assert_eq!(sub.next().await.unwrap().event.as_deref(), Some("reset"));
        buffer.push(SseEvent::new("live"));
        assert_eq!(sub.next().await.unwrap().data, "live");
    }
}
