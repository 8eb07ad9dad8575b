//! Things a visitor holds open (connections, SSE streams, WebSockets), counted per client
//! address and in total, each count freed when its [`Slot`] drops.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex, MutexGuard},
};

use super::gateway_config::OpenLimit;

/// Which bound a new one would cross.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    /// The client address's own limit (answered 429).
    Client,
    /// The limit of all clients together (answered 503).
    Total,
}

/// Open things of one kind, per client address.
#[derive(Debug)]
pub(crate) struct OpenCount {
    limit: OpenLimit,
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl Counts {
    fn over(&self, limit: OpenLimit, ip: IpAddr) -> Option<Over> {
        if self.per_client.get(&ip).copied().unwrap_or(0) >= limit.client {
            Some(Over::Client)
        } else if self.total >= limit.total {
            Some(Over::Total)
        } else {
            None
        }
    }
}

/// One open thing; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Slot {
    owner: Arc<OpenCount>,
    ip: IpAddr,
}

impl OpenCount {
    pub(crate) fn new(limit: OpenLimit) -> Arc<Self> {
        Arc::new(OpenCount {
            limit,
            open: Mutex::default(),
        })
    }

    /// The limits counted against.
    pub(crate) fn limit(&self) -> OpenLimit {
        self.limit
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Which bound one more from `ip` would cross now, if any.
    pub(crate) fn over(&self, ip: IpAddr) -> Option<Over> {
        self.counts().over(self.limit, ip)
    }

    /// Takes a place for `ip`, or says which bound is reached.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Over> {
        // Checked and counted under one lock, so a burst cannot overshoot the limit.
        let mut counts = self.counts();
        if let Some(over) = counts.over(self.limit, ip) {
            return Err(over);
        }
        counts.total += 1;
        *counts.per_client.entry(ip).or_default() += 1;
        Ok(Slot {
            owner: self.clone(),
            ip,
        })
    }

    /// Open ones in total.
    pub(crate) fn open(&self) -> usize {
        self.counts().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts();
        counts.total -= 1;
        if let Some(mine) = counts.per_client.get_mut(&self.ip) {
            *mine -= 1;
            if *mine == 0 {
                counts.per_client.remove(&self.ip);
            }
        }
    }
}

/// The address a peer is counted under: an IPv4 address as is (also when it arrives mapped into
/// IPv6 on a dual-stack socket), an IPv6 address by its /64 prefix, because one host is
/// routinely handed a whole /64 and could otherwise take a fresh address per connection.
pub(crate) fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(Ipv6Addr::from(segments))
        }
        v4 => v4,
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

    #[test]
    fn a_slot_counts_until_dropped() {
        let count = OpenCount::new(OpenLimit {
            client: 1,
            total: 2,
        });
        let (a, b, c) = (
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::from([10, 0, 0, 2]),
            IpAddr::from([10, 0, 0, 3]),
        );
        let first = count.acquire(a).unwrap();
        assert_eq!(count.acquire(a).unwrap_err(), Over::Client);
        let _second = count.acquire(b).unwrap();
        assert_eq!(count.acquire(c).unwrap_err(), Over::Total);
        drop(first);
        assert_eq!(count.open(), 1);
        assert!(count.acquire(c).is_ok());
    }
}
