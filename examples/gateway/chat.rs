//! The chat hub: rooms, presence, one rendered fragment per event shared by every member.
//! (In-process; `switchboard-ws` provides the bridged hub.)

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use serde_json::json;
use switchboard_core::{Firehose, Flow};
use tokio::sync::broadcast;

use crate::views::{ChatEvent, Line, render};

/// Fragments queued per member before it is considered too slow and skips ahead.
const MEMBER_QUEUE: usize = 64;

struct Room {
    tx: broadcast::Sender<Arc<str>>,
    members: usize,
}

/// A cheap, cloneable handle to every room.
#[derive(Clone)]
pub(crate) struct Chat {
    rooms: Arc<Mutex<HashMap<String, Room>>>,
    firehose: Firehose,
}

/// A member of a room; leaves when dropped.
pub(crate) struct Membership {
    chat: Chat,
    room: String,
    user: String,
    pub(crate) updates: broadcast::Receiver<Arc<str>>,
}

impl Chat {
    pub(crate) fn new(firehose: Firehose) -> Self {
        Chat {
            rooms: Arc::default(),
            firehose,
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Members online in every room.
    pub(crate) fn online(&self) -> usize {
        self.rooms().values().map(|r| r.members).sum()
    }

    pub(crate) fn join(&self, room: &str, user: &str) -> Membership {
        let updates = {
            let mut rooms = self.rooms();
            let entry = rooms.entry(room.to_owned()).or_insert_with(|| Room {
                tx: broadcast::channel(MEMBER_QUEUE).0,
                members: 0,
            });
            entry.members += 1;
            entry.tx.subscribe()
        };
        self.announce(room, "", &format!("{user} joined"));
        self.firehose.emit(
            Flow::Websocket,
            "join",
            json!({ "room": room, "user": user }),
        );
        Membership {
            chat: self.clone(),
            room: room.to_owned(),
            user: user.to_owned(),
            updates,
        }
    }

    pub(crate) fn send(&self, room: &str, from: &str, text: &str) {
        self.announce(room, from, text);
        self.firehose.emit(
            Flow::Websocket,
            "message",
            json!({ "room": room, "from": from }),
        );
    }

    fn announce(&self, room: &str, from: &str, text: &str) {
        let rooms = self.rooms();
        let Some(r) = rooms.get(room) else { return };
        let kind = if from.is_empty() { "system" } else { "" };
        let event = ChatEvent {
            line: Line::new(Utc::now(), kind, from, text),
            online: r.members,
        };
        if let Some(html) = render(&event) {
            let _ = r.tx.send(Arc::from(html));
        }
    }
}

impl Membership {
    pub(crate) fn send(&self, text: &str) {
        self.chat.send(&self.room, &self.user, text);
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        {
            let mut rooms = self.chat.rooms();
            if let Some(r) = rooms.get_mut(&self.room) {
                r.members -= 1;
                if r.members == 0 {
                    rooms.remove(&self.room);
                }
            }
        }
        self.chat
            .announce(&self.room, "", &format!("{} left", self.user));
        self.chat.firehose.emit(
            Flow::Websocket,
            "leave",
            json!({ "room": self.room, "user": self.user }),
        );
    }
}
