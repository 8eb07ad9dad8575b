//! [`Lease`]: whatever a middleware wants kept alive exactly as long as a WebSocket.

use std::{any::Any, fmt, sync::Arc};

/// A value held for the life of the socket that [`crate::ws_route`] opens for this request.
///
/// A middleware in front of `ws_route` inserts one into the request's extensions (a slot of a
/// connection limit, say); the route moves it into the socket's task, and it drops when the
/// socket closes. A refused or failed upgrade drops it at once.
///
/// ```
/// use axum::{Router, middleware::{self, Next}, extract::Request, response::Response};
/// use switchboard_ws::{Hub, Lease, UpgradeConfig, ws_route};
///
/// struct Slot; // in real code, frees a slot of a limit on drop
/// async fn hold(mut req: Request, next: Next) -> Response {
///     req.extensions_mut().insert(Lease::new(Slot));
///     next.run(req).await
/// }
/// let app: Router = Router::new().route(
///     "/ws/connect",
///     ws_route(Hub::default(), UpgradeConfig::default()).layer(middleware::from_fn(hold)),
/// );
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct Lease(#[allow(dead_code)] Arc<dyn Any + Send + Sync>);

impl Lease {
    /// Wraps `held`.
    pub fn new(held: impl Any + Send + Sync) -> Lease {
        Lease(Arc::new(held))
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lease")
    }
}
