//! Who is online: [`Presence`], and what other nodes said about their rooms.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use tokio::time::Instant;

/// Who is in a room, merged across every bridged node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    /// Clients online (a user with two tabs counts twice).
    pub online: usize,
    /// Their names, sorted; `members.len() == online`.
    pub members: Vec<String>,
}

#[derive(Debug)]
struct RemoteNode {
    last_seen: Instant,
    rooms: HashMap<String, Vec<String>>,
}

/// Rooms of other nodes, each entry valid while its node keeps sending heartbeats.
#[derive(Debug, Default)]
pub(crate) struct RemoteNodes {
    nodes: HashMap<String, RemoteNode>,
}

/// The rooms and members of a node that went away.
pub(crate) type Vanished = HashMap<String, Vec<String>>;

impl RemoteNodes {
    fn touch(&mut self, node: &str) -> &mut RemoteNode {
        let entry = self
            .nodes
            .entry(node.to_owned())
            .or_insert_with(|| RemoteNode {
                last_seen: Instant::now(),
                rooms: HashMap::new(),
            });
        entry.last_seen = Instant::now();
        entry
    }

    pub(crate) fn seen(&mut self, node: &str) {
        self.touch(node);
    }

    pub(crate) fn joined(&mut self, node: &str, room: &str, user: &str) {
        let entry = self.touch(node);
        entry
            .rooms
            .entry(room.to_owned())
            .or_default()
            .push(user.to_owned());
    }

    /// Removes one occurrence of `user`; false if the node had no such member.
    pub(crate) fn left(&mut self, node: &str, room: &str, user: &str) -> bool {
        let entry = self.touch(node);
        let Some(members) = entry.rooms.get_mut(room) else {
            return false;
        };
        let Some(at) = members.iter().position(|m| m == user) else {
            return false;
        };
        members.swap_remove(at);
        if members.is_empty() {
            entry.rooms.remove(room);
        }
        true
    }

    pub(crate) fn snapshot(&mut self, node: &str, rooms: BTreeMap<String, Vec<String>>) {
        self.touch(node).rooms = rooms.into_iter().collect();
    }

    pub(crate) fn remove(&mut self, node: &str) -> Option<Vanished> {
        self.nodes.remove(node).map(|n| n.rooms)
    }

    /// Removes and returns the nodes not heard from within `ttl`.
    pub(crate) fn expire(&mut self, ttl: Duration) -> Vec<(String, Vanished)> {
        let now = Instant::now();
        let stale: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| now.duration_since(n.last_seen) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|id| self.remove(&id).map(|rooms| (id, rooms)))
            .collect()
    }

    /// Members of `room` on live nodes.
    pub(crate) fn members<'a>(
        &'a self,
        room: &'a str,
        ttl: Duration,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let now = Instant::now();
        self.nodes
            .values()
            .filter(move |n| now.duration_since(n.last_seen) <= ttl)
            .filter_map(move |n| n.rooms.get(room))
            .flatten()
            .map(String::as_str)
    }

    pub(crate) fn count(&self, room: &str, ttl: Duration) -> usize {
        self.members(room, ttl).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_snapshots_merge() {
        let mut nodes = RemoteNodes::default();
        let ttl = Duration::from_secs(60);
        nodes.joined("b", "lobby", "bob");
        nodes.joined("b", "lobby", "bea");
        nodes.joined("c", "lobby", "cid");
        assert_eq!(nodes.count("lobby", ttl), 3);
        assert!(nodes.left("b", "lobby", "bob"));
        assert!(!nodes.left("b", "lobby", "bob"));
        nodes.snapshot("c", BTreeMap::from([("x".into(), vec!["cid".into()])]));
        assert_eq!(nodes.count("lobby", ttl), 1);
        assert_eq!(nodes.remove("b").unwrap()["lobby"], vec!["bea".to_owned()]);
        assert_eq!(nodes.count("lobby", ttl), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn silent_nodes_expire() {
        let mut nodes = RemoteNodes::default();
        let ttl = Duration::from_secs(3);
        nodes.joined("b", "lobby", "bob");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(nodes.count("lobby", ttl), 0, "stale entries do not count");
        let gone = nodes.expire(ttl);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1["lobby"], vec!["bob".to_owned()]);
        assert!(nodes.expire(ttl).is_empty());
    }
}
