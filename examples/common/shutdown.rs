//! Graceful shutdown: SIGTERM or Ctrl-C flips one shared signal that every task watches. It
//! wraps `switchboard_ws::Shutdown`, which also ends SSE streams with a final `end` event.

/// A cloneable shutdown signal.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shutdown(switchboard_ws::Shutdown);

impl Shutdown {
    pub(crate) fn new() -> Self {
        Shutdown(switchboard_ws::Shutdown::new())
    }

    /// Starts shutting down.
    pub(crate) fn trigger(&self) {
        self.0.trigger();
    }

    /// Resolves once shutdown has started.
    pub(crate) async fn wait(&self) {
        self.0.wait().await;
    }

    /// The same signal, for `switchboard_ws::sse_response`.
    pub(crate) fn sse(&self) -> switchboard_ws::Shutdown {
        self.0.clone()
    }

    /// Triggers on SIGTERM or Ctrl-C.
    pub(crate) fn on_signals(&self) {
        let shutdown = self.clone();
        tokio::spawn(async move {
            signal().await;
            tracing::info!("shutdown signal received; finishing in-flight work");
            shutdown.trigger();
        });
    }
}

async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
