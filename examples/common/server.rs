//! Serving a router until shutdown, with the body limit every route shares.
//!
//! The server is set up by hand rather than with `axum::serve`: it gives each request the peer
//! address (`ConnectInfo`, which the gateway's limits key on), bounds how many connections a
//! client address, and all of them, may hold (`limits.connections`), drains on shutdown, and
//! serves each connection as `connection.rs` says: requests for an event stream past hyper,
//! everything else with hyper's HTTP/1 driver (a 10 s header timeout, which also bounds how long
//! an idle keep-alive connection stays, and heads up to 8 KiB). What an idle connection and an
//! idle SSE stream cost is measured in docs/benchmarks.md.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::DefaultBodyLimit,
    http::{Response, StatusCode, header},
};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
};
use tower_http::limit::RequestBodyLimitLayer;

use super::{
    config::Config,
    connection::{self, Serving, finished},
    gateway_config::LimitsConfig,
    open_count::{OpenCount, Over, client_key},
    shutdown::Shutdown,
};

/// The `Retry-After` of a request refused while draining: about when another instance (or this
/// one, restarted) takes over.
const DRAIN_RETRY_SECS: u64 = 5;
/// Refusals answered at once at most. Each waits for its request head (up to hyper's header
/// timeout); past this many, a refused connection is closed unanswered, so
/// clients that never send a head cannot pile up descriptors behind the connection limit.
const MAX_REFUSALS: usize = 256;

/// Applies the body limit: a larger body gets 413 on every route.
pub(crate) fn with_body_limit(router: Router, limit: usize) -> Router {
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
}

/// Binds `server.host:server.port` and serves until shutdown, then lets in-flight requests end.
/// The router must already carry [`with_body_limit`].
pub(crate) async fn serve(
    config: &Config,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let addr = config.listen_addr().map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(service = %config.service, addr = %listener.local_addr()?, "listening");
    serve_on(listener, router, shutdown, config.limits.clone()).await;
    tracing::info!(service = %config.service, "server stopped");
    Ok(())
}

/// Serves `listener` until `shutdown`, then drains: every connection open at the signal
/// finishes, while new ones are answered 503 (`/health` included, so a load balancer stops
/// sending); the listener closes once the last of the earlier connections is done.
///
/// A connection beyond `limits.connections` (per client address, or in total) gets one 429 or
/// 503 with `Retry-After` and is closed before any request reaches the router.
pub(crate) async fn serve_on(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    limits: LimitsConfig,
) {
    let (close_tx, close_rx) = watch::channel(());
    let serving = Arc::new(Serving {
        http: connection::http(),
        router,
        shutdown: shutdown.clone(),
    });
    let http = &serving.http;
    let connections = OpenCount::new(limits.connections);
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    loop {
        let (stream, peer) = tokio::select! {
            // Once shutdown has started, not one more connection reaches the router.
            biased;
            _ = shutdown.wait() => break,
            accepted = accept(&listener) => match accepted {
                Some(accepted) => accepted,
                None => continue,
            },
        };
        let slot = match connections.acquire(client_key(peer.ip())) {
            Ok(slot) => slot,
            Err(over) => {
                spawn_refusal(&refusals, http, stream, over_limit(over, &limits));
                continue;
            }
        };
        let (serving, close_rx) = (serving.clone(), close_rx.clone());
        tokio::spawn(async move {
            serving.connection(stream, peer).await;
            drop((slot, close_rx));
        });
    }
    drop(close_rx);
    let drained = close_tx.closed();
    tokio::pin!(drained);
    loop {
        tokio::select! {
            biased;
            () = &mut drained => break,
            accepted = accept(&listener) => {
                if let Some((stream, _)) = accepted {
                    let refusal = Refusal {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        message: format!("shutting down: retry in {DRAIN_RETRY_SECS} s"),
                        retry_after: DRAIN_RETRY_SECS,
                    };
                    spawn_refusal(&refusals, http, stream, refusal);
                }
            }
        }
    }
}

/// The next connection, or `None` after an error (out of descriptors, say), having backed off
/// instead of spinning.
async fn accept(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(accepted) => Some(accepted),
        Err(err) => {
            tracing::warn!(error = %err, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// What a refused connection is answered.
struct Refusal {
    status: StatusCode,
    message: String,
    retry_after: u64,
}

fn over_limit(over: Over, limits: &LimitsConfig) -> Refusal {
    let (status, message) = match over {
        Over::Client => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many open connections from your address (limit {}): retry in {} s",
                limits.connections.client, limits.retry
            ),
        ),
        Over::Total => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server holds its limit of {} open connections: retry in {} s",
                limits.connections.total, limits.retry
            ),
        ),
    };
    Refusal {
        status,
        message,
        retry_after: limits.retry,
    }
}

/// Answers `stream` with `refusal` in a task of its own, or closes it at once when
/// [`MAX_REFUSALS`] are already being answered.
fn spawn_refusal(
    refusals: &Arc<Semaphore>,
    http: &http1::Builder,
    stream: TcpStream,
    refusal: Refusal,
) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    let refused = refuse(http, stream, refusal);
    tokio::spawn(async move {
        refused.await;
        drop(permit);
    });
}

/// Answers every request of a connection with `refusal` and closes it.
fn refuse(
    http: &http1::Builder,
    stream: TcpStream,
    refusal: Refusal,
) -> impl Future<Output = ()> + Send + 'static {
    let mut http = http.clone();
    http.keep_alive(false);
    let conn = http.serve_connection(
        TokioIo::new(stream),
        hyper::service::service_fn(move |_| {
            let response = Response::builder()
                .status(refusal.status)
                .header(header::RETRY_AFTER, refusal.retry_after)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                // The gateway's page shows a refused htmx request in its banner.
                .header("hx-retarget", "#flash")
                .header("hx-reswap", "innerHTML")
                .body(Body::from(refusal.message.clone()));
            async { response }
        }),
    );
    async move { finished(conn.await) }
}
