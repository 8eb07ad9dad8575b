//! [`ClientHandle`]: one client's membership of a room and its bounded queue.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock, Weak},
    task::{Context, Poll},
};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{Notify, mpsc};

use crate::{close, hub::Inner};

/// Why the hub let a client go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// Its queue of `capacity` messages was full when the hub fanned out: it did not keep up.
    SlowConsumer {
        /// The configured bound ([`crate::HubConfig::client_queue`]).
        capacity: usize,
    },
    /// The hub was closed.
    HubClosed,
}

impl Disconnect {
    /// The WebSocket close code to send ([`close::SLOW_CONSUMER`] or [`close::GOING_AWAY`]).
    pub fn close_code(self) -> u16 {
        match self {
            Disconnect::SlowConsumer { .. } => close::SLOW_CONSUMER,
            Disconnect::HubClosed => close::GOING_AWAY,
        }
    }

    /// The close reason to send.
    pub fn reason(self) -> &'static str {
        match self {
            Disconnect::SlowConsumer { .. } => "slow consumer",
            Disconnect::HubClosed => "server shutting down",
        }
    }
}

/// Shared between a member entry in the hub and its handle.
#[derive(Default)]
pub(crate) struct Link {
    reason: OnceLock<Disconnect>,
    notify: Notify,
}

impl Link {
    pub(crate) fn disconnect(&self, reason: Disconnect) {
        if self.reason.set(reason).is_ok() {
            self.notify.notify_waiters();
        }
    }
}

/// A cloneable way to wait for a client's [`Disconnect`] while its handle is borrowed elsewhere.
#[derive(Clone)]
pub struct DisconnectWatch(Arc<Link>);

impl DisconnectWatch {
    /// Why the client was disconnected, if it was.
    pub fn get(&self) -> Option<Disconnect> {
        self.0.reason.get().copied()
    }

    /// Waits until the hub disconnects the client. Cancel-safe.
    pub async fn wait(&self) -> Disconnect {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = self.get() {
                return reason;
            }
            notified.await;
        }
    }
}

impl std::fmt::Debug for DisconnectWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DisconnectWatch").field(&self.get()).finish()
    }
}

/// One client in one room, as returned by [`Hub::join`](crate::Hub::join).
///
/// It is a `Stream` of the rendered bytes the client should receive, in order. The stream ends
/// when the hub disconnects the client ([`ClientHandle::disconnected`] says why); messages
/// still queued then are discarded. Dropping the handle leaves the room.
pub struct ClientHandle {
    pub(crate) id: u64,
    pub(crate) room: String,
    pub(crate) username: String,
    pub(crate) rx: mpsc::Receiver<Bytes>,
    pub(crate) link: Arc<Link>,
    pub(crate) hub: Weak<Inner>,
}

impl ClientHandle {
    /// The hub-wide id of this client.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The room, as cleaned by the hub.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The username, as cleaned by the hub.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The next queued message without waiting, if any (for batching writes).
    pub fn try_next(&mut self) -> Option<Bytes> {
        if self.link.reason.get().is_some() {
            return None;
        }
        self.rx.try_recv().ok()
    }

    /// Why the hub disconnected this client, if it did.
    pub fn disconnected(&self) -> Option<Disconnect> {
        self.link.reason.get().copied()
    }

    /// A watch that resolves when the hub disconnects this client.
    pub fn watch(&self) -> DisconnectWatch {
        DisconnectWatch(self.link.clone())
    }
}

impl Stream for ClientHandle {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.link.reason.get().is_some() {
            return Poll::Ready(None);
        }
        self.rx.poll_recv(cx)
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        if let Some(inner) = self.hub.upgrade() {
            inner.leave(&self.room, self.id);
        }
    }
}

impl std::fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle")
            .field("id", &self.id)
            .field("room", &self.room)
            .field("username", &self.username)
            .field("disconnected", &self.disconnected())
            .finish()
    }
}
