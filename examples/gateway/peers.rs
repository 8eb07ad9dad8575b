//! The last heartbeat of each service (`switchboard.health.<service>`), for the home page.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use switchboard_core::{DynSubscriber, Error, Pattern, Subscriber};

use crate::common::{
    health::{HEARTBEAT_PREFIX, HealthReport},
    shutdown::Shutdown,
};

/// Heartbeats seen so far, by service.
#[derive(Clone, Default)]
pub(crate) struct Peers(Arc<Mutex<HashMap<String, (HealthReport, Instant)>>>);

impl Peers {
    /// Listens for heartbeats until shutdown, resubscribing if the transport drops.
    pub(crate) fn listen(subscriber: DynSubscriber, shutdown: Shutdown) -> Peers {
        let peers = Peers::default();
        let task_peers = peers.clone();
        tokio::spawn(async move {
            let pattern = Pattern::new(format!("{HEARTBEAT_PREFIX}.*")).expect("valid pattern");
            let listen = async {
                loop {
                    match subscriber.subscribe(&pattern).await {
                        Ok(mut beats) => {
                            while let Some(item) = beats.next().await {
                                match item {
                                    Ok(msg) => {
                                        if let Ok(report) = msg.decode_json::<HealthReport>() {
                                            task_peers.record(report);
                                        }
                                    }
                                    Err(Error::Lagged { .. }) => {}
                                    Err(err) => {
                                        tracing::debug!(error = %err, "heartbeat stream ended");
                                        break;
                                    }
                                }
                            }
                        }
                        Err(err) => tracing::debug!(error = %err, "heartbeat subscribe failed"),
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            tokio::select! {
                () = listen => {}
                () = shutdown.wait() => {}
            }
        });
        peers
    }

    fn record(&self, report: HealthReport) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(report.service.clone(), (report, Instant::now()));
    }

    /// The last report of `service` and how long ago it arrived.
    pub(crate) fn last(&self, service: &str) -> Option<(HealthReport, Duration)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(service).map(|(r, at)| (r.clone(), at.elapsed()))
    }
}
