//! How many SSE streams and WebSockets visitors may hold open: per client address (beyond it,
//! 429) and in total (503), both with `Retry-After`.
//!
//! tower's `ConcurrencyLimit` releases its permit when the response head is sent; a stream or
//! socket lives far longer, so the slot here travels with the response body (SSE) or with the
//! socket ([`switchboard_ws::Lease`]) and frees itself when they end.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::StreamExt;

use crate::{common::gateway_config::OpenLimit, error::AppError};

/// The client address of a request: the peer of its connection (see [`client_key`]). Requests
/// that came through no socket (in-process tests) share the unspecified address.
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

/// The address a peer is counted under: an IPv4 address as is (also when it arrives mapped into
/// IPv6 on a dual-stack socket), an IPv6 address by its /64 prefix, because one host is
/// routinely handed a whole /64 and could otherwise take a fresh address per connection.
fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(Ipv6Addr::from(segments))
        }
        v4 => v4,
    }
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
    limit: OpenLimit,
    retry_after: u64,
    open: Mutex<Counts>,
}

impl Inner {
    fn refusal(&self, counts: &Counts, ip: IpAddr) -> Option<AppError> {
        let Inner {
            what,
            limit,
            retry_after,
            ..
        } = self;
        let mine = counts.per_client.get(&ip).copied().unwrap_or(0);
        let (status, message) = if mine >= limit.client {
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many open {what} from your address (limit {}): close some, then retry in {retry_after} s",
                    limit.client
                ),
            )
        } else if counts.total >= limit.total {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the gateway holds its limit of {} open {what}: retry in {retry_after} s",
                    limit.total
                ),
            )
        } else {
            return None;
        };
        Some(AppError::new(status, message).retry_after(*retry_after))
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One open connection; dropping it frees the slot.
pub(crate) struct Slot {
    owner: Arc<Inner>,
    ip: IpAddr,
}

impl OpenConnections {
    pub(crate) fn new(what: &'static str, limit: OpenLimit, retry_after: u64) -> Self {
        OpenConnections(Arc::new(Inner {
            what,
            limit,
            retry_after,
            open: Mutex::default(),
        }))
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why a new connection from `ip` would be refused now, if it would.
    pub(crate) fn refusal(&self, ip: IpAddr) -> Option<AppError> {
        self.0.refusal(&self.counts(), ip)
    }

    /// Takes a slot for `ip`, or says why not.
    pub(crate) fn acquire(&self, ip: IpAddr) -> Result<Slot, AppError> {
        // Checked and counted under one lock, so a burst cannot overshoot the limit.
        let mut counts = self.counts();
        if let Some(refused) = self.0.refusal(&counts, ip) {
            return Err(refused);
        }
        counts.total += 1;
        *counts.per_client.entry(ip).or_default() += 1;
        Ok(Slot {
            owner: self.0.clone(),
            ip,
        })
    }

    /// Open connections in total.
    pub(crate) fn open(&self) -> usize {
        self.counts().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        counts.total -= 1;
        if let Some(mine) = counts.per_client.get_mut(&self.ip) {
            *mine -= 1;
            if *mine == 0 {
                counts.per_client.remove(&self.ip);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_peers_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let key = |addr: &str| client_key(addr.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }
}
