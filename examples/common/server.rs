//! Serving a router until shutdown, with the body limit every route shares.

use axum::{Router, extract::DefaultBodyLimit};
use tower_http::limit::RequestBodyLimitLayer;

use super::{config::Config, shutdown::Shutdown};

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
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(service = %config.service, addr = %listener.local_addr()?, "listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await?;
    tracing::info!(service = %config.service, "server stopped");
    Ok(())
}
