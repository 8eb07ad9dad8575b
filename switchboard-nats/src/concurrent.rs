//! [`for_each_concurrent`]: a responder's loop over its requests.

use std::{future::Future, pin::Pin};

use futures::{Stream, StreamExt, stream::FuturesUnordered};

/// Runs `handle` on every item of `items`, at most `limit` at once, until `items` ends and
/// every handler finished: `StreamExt::for_each_concurrent`, except that a handler done at its
/// first poll (a fast service) never enters the `FuturesUnordered`, whose task node and trip
/// through its ready queue cost more per request than the rest of answering it.
pub(crate) async fn for_each_concurrent<S, F>(
    mut items: S,
    limit: usize,
    mut handle: impl FnMut(S::Item) -> F,
) where
    S: Stream + Unpin,
    F: Future<Output = ()>,
{
    let mut running: FuturesUnordered<Pin<Box<F>>> = FuturesUnordered::new();
    loop {
        let item = if running.len() >= limit.max(1) {
            running.next().await;
            continue;
        } else if running.is_empty() {
            items.next().await
        } else {
            tokio::select! {
                biased;
                _ = running.next() => continue,
                item = items.next() => item,
            }
        };
        let Some(item) = item else { break };
        let mut handler = Box::pin(handle(item));
        if futures::poll!(handler.as_mut()).is_pending() {
            running.push(handler);
        }
    }
    while running.next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::sync::Semaphore;

    use super::*;

    #[tokio::test]
    async fn every_item_is_handled_and_at_most_limit_at_once() {
        let (running, most, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        // Odd items finish at once, even ones wait for a permit released after all started.
        let gate = Arc::new(Semaphore::new(0));
        let items = futures::stream::iter(0..20);
        let work = for_each_concurrent(items, 3, |i: usize| {
            let (running, most, done, gate) =
                (running.clone(), most.clone(), done.clone(), gate.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if i.is_multiple_of(2) {
                    gate.acquire().await.unwrap().forget();
                }
                running.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        let opener = async {
            while done.load(Ordering::SeqCst) < 20 {
                gate.add_permits(1);
                tokio::task::yield_now().await;
            }
        };
        tokio::join!(work, opener);
        assert_eq!(done.load(Ordering::SeqCst), 20);
        assert!(most.load(Ordering::SeqCst) <= 3, "{most:?} at once");
    }
}
