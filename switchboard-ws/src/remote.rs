//! Applying what other nodes said: their messages, joins, leaves and heartbeats.

use crate::{
    HubEvent,
    hub::{Inner, State},
    presence::Vanished,
    wire::Wire,
};

impl Inner {
    /// Applies one message from node `node` (never this node: the bridge filters those).
    pub(crate) fn apply_remote(&self, node: &str, wire: Wire) {
        match wire {
            Wire::Message {
                room,
                from,
                text,
                at,
            } => {
                let event = HubEvent::Message {
                    room,
                    from,
                    text,
                    at,
                };
                let bytes = self.render(&event);
                let mut state = self.lock();
                state.remote.seen(node);
                self.fan_out(&mut state, event.room(), bytes);
            }
            Wire::Joined { room, user } => {
                let mut state = self.lock();
                state.remote.joined(node, &room, &user);
                let online = self.online(&state, &room);
                let bytes = self.render(&HubEvent::Joined {
                    room: room.clone(),
                    user,
                    online,
                });
                self.fan_out(&mut state, &room, bytes);
            }
            Wire::Left { room, user } => {
                let mut state = self.lock();
                if state.remote.left(node, &room, &user) {
                    let online = self.online(&state, &room);
                    let bytes = self.render(&HubEvent::Left {
                        room: room.clone(),
                        user,
                        online,
                    });
                    self.fan_out(&mut state, &room, bytes);
                }
            }
            Wire::Snapshot { rooms } => self.lock().remote.snapshot(node, rooms),
            Wire::Hello => {
                let snapshot = Wire::Snapshot {
                    rooms: self.local_snapshot(),
                };
                let mut state = self.lock();
                state.remote.seen(node);
                self.bridge_out(&state, snapshot);
            }
            Wire::Bye => {
                let mut state = self.lock();
                if let Some(rooms) = state.remote.remove(node) {
                    tracing::info!(node, "bridged node left");
                    self.vanished(&mut state, rooms);
                }
            }
        }
    }

    /// Forgets nodes whose heartbeats stopped, telling their rooms that their members left.
    pub(crate) fn expire_remote(&self) {
        let mut state = self.lock();
        for (node, rooms) in state.remote.expire(self.config.presence_ttl) {
            tracing::warn!(node = %node, "bridged node stopped sending heartbeats; presence expired");
            self.vanished(&mut state, rooms);
        }
    }

    fn vanished(&self, state: &mut State, rooms: Vanished) {
        for (room, users) in rooms {
            let mut online = self.online(state, &room) + users.len();
            for user in users {
                online -= 1;
                let bytes = self.render(&HubEvent::Left {
                    room: room.clone(),
                    user,
                    online,
                });
                self.fan_out(state, &room, bytes);
            }
        }
    }
}
