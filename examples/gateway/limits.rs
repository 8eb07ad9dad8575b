//! How many SSE streams and WebSockets visitors may hold open: per client address (beyond it,
//! 429) and in total (503), both with `Retry-After`.
//!
//! tower's `ConcurrencyLimit` releases its permit when the response head is sent; a stream or
//! socket lives far longer, so the slot here travels with the response body (SSE) or with the
//! socket ([`switchboard_ws::Lease`]) and frees itself when they end.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::StreamExt;

use crate::{
    common::{
        gateway_config::OpenLimit,
        open_count::{OpenCount, Over, Slot, client_key},
    },
    error::AppError,
};

/// The client address of a request: the peer of its connection, as [`client_key`] counts it.
/// Requests that came through no socket (in-process tests) share the unspecified address.
pub(crate) fn client_ip<B>(req: &axum::http::Request<B>) -> IpAddr {
    peer_ip(req.extensions())
}

fn peer_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
            client_key(addr.ip())
        })
}

/// The client address, as an extractor (see [`client_ip`]).
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(peer_ip(&parts.extensions)))
    }
}

/// Open connections of one kind ("SSE streams", "WebSockets"), counted per client address.
#[derive(Clone)]
pub(crate) struct OpenConnections(Arc<Inner>);

struct Inner {
    what: &'static str,
    retry_after: u64,
    count: Arc<OpenCount>,
}

impl Inner {
    fn refusal(&self, over: Over) -> AppError {
        let Inner {
            what, retry_after, ..
        } = self;
        let limit = self.count.limit();
        let (status, message) = match over {
            Over::Client => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many open {what} from your address (limit {}): close some, then retry in {retry_after} s",
                    limit.client
                ),
            ),
            Over::Total => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the gateway holds its limit of {} open {what}: retry in {retry_after} s",
                    limit.total
                ),
            ),
        };
        AppError::new(status, message).retry_after(*retry_after)
    }
}

impl OpenConnections {
    pub(crate) fn new(what: &'static str, limit: OpenLimit, retry_after: u64) -> Self {
        OpenConnections(Arc::new(Inner {
            what,
            retry_after,
            count: OpenCount::new(limit),
        }))
    }

    /// Why a new connection from `ip` would be refused now, if it would.
    pub(crate) fn refusal(&self, ip: IpAddr) -> Option<AppError> {
        self.0.count.over(ip).map(|over| self.0.refusal(over))
    }

    /// Takes a slot for `ip`, or says why not.
    pub(crate) fn acquire(&self, ip: IpAddr) -> Result<Slot, AppError> {
        self.0
            .count
            .acquire(ip)
            .map_err(|over| self.0.refusal(over))
    }

    /// Open connections in total.
    pub(crate) fn open(&self) -> usize {
        self.0.count.open()
    }
}

/// Middleware for SSE routes: the slot lives as long as the response body.
pub(crate) async fn hold_for_stream(
    State(open): State<OpenConnections>,
    req: Request,
    next: Next,
) -> Response {
    let slot = match open.acquire(client_ip(&req)) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let (parts, body) = next.run(req).await.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &slot;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// Middleware for the WebSocket route: the slot goes with the socket, as a [`switchboard_ws::Lease`].
pub(crate) async fn hold_for_socket(
    State(open): State<OpenConnections>,
    mut req: Request,
    next: Next,
) -> Response {
    match open.acquire(client_ip(&req)) {
        Ok(slot) => {
            req.extensions_mut()
                .insert(switchboard_ws::Lease::new(slot));
            next.run(req).await
        }
        Err(refused) => refused.into_response(),
    }
}
