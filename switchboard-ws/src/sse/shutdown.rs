//! [`Shutdown`].

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable shutdown signal: [`Shutdown::trigger`] ends every SSE stream made with it, each
/// with a final `event: end`. Pass [`Shutdown::wait`] to axum's graceful shutdown too.
#[derive(Clone, Debug)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Shutdown(Arc::new(watch::Sender::new(false)))
    }

    /// Triggers it; idempotent.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until it is triggered (at once if it already was).
    pub fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|triggered| *triggered).await;
        }
    }
}
