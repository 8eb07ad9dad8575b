//! The gateway's security keys: `cluster.key` (the bridge's shared secret) and `limits.*`
//! (what one visitor, and all of them, may hold open or send).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `cluster.*`: what the gateways of one cluster share.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ClusterConfig {
    /// The secret that seals chat-bridge messages; every gateway of the cluster needs the same
    /// one. Unset: a random key, which only this process knows.
    pub(crate) key: Option<Secret>,
}

/// A configuration value kept out of logs and `Debug` output.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `limits.*`: bounds on what visitors may hold open or send. "Per client" means per peer IP
/// address. Keys are single words so that `GATEWAY_LIMITS_SSE_CLIENT=4` reaches them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct LimitsConfig {
    /// Open HTTP connections (beyond: the connection gets 429 or 503). A WebSocket leaves this
    /// count once upgraded and counts under `ws`.
    pub(crate) connections: OpenLimit,
    /// Open SSE streams.
    pub(crate) sse: OpenLimit,
    /// Open WebSockets.
    pub(crate) ws: OpenLimit,
    /// Mutating requests (POST, PUT, PATCH, DELETE).
    pub(crate) mutations: RateLimit,
    /// The `Retry-After` of a refused stream or socket, in seconds.
    pub(crate) retry: u64,
}

/// How many of one kind of connection may be open.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct OpenLimit {
    /// Per client address (beyond: 429).
    pub(crate) client: usize,
    /// In total (beyond: 503).
    pub(crate) total: usize,
}

/// A token bucket per client address.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct RateLimit {
    /// Requests per second, sustained.
    pub(crate) rate: u32,
    /// Requests at once before the rate applies.
    pub(crate) burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            // Above the streams and sockets one visitor may hold (16 + 8), plus a browser's
            // six connections for requests, for a few tabs; in total, above both totals.
            connections: OpenLimit {
                client: 64,
                total: 8192,
            },
            sse: OpenLimit {
                client: 16,
                total: 2048,
            },
            ws: OpenLimit {
                client: 8,
                total: 2048,
            },
            mutations: RateLimit {
                rate: 10,
                burst: 60,
            },
            retry: 5,
        }
    }
}

impl LimitsConfig {
    /// The first key whose value cannot be used, and why.
    pub(crate) fn invalid(&self) -> Option<(&'static str, String)> {
        let counts = [
            ("limits.connections.client", self.connections.client as u64),
            ("limits.connections.total", self.connections.total as u64),
            ("limits.sse.client", self.sse.client as u64),
            ("limits.sse.total", self.sse.total as u64),
            ("limits.ws.client", self.ws.client as u64),
            ("limits.ws.total", self.ws.total as u64),
            ("limits.mutations.rate", self.mutations.rate.into()),
            ("limits.mutations.burst", self.mutations.burst.into()),
            ("limits.retry", self.retry),
        ];
        counts
            .into_iter()
            .find(|(_, value)| *value == 0)
            .map(|(key, _)| (key, "must be at least 1".to_owned()))
    }
}
