//! One upgraded connection: a writer loop (hub → socket, pings, idle timeout, close) and a
//! reader task (socket → hub).
//!
//! The reader runs in its own task so that it is polled only when the socket is readable: a
//! read attempt is not free (tungstenite prepares its read buffer each time), and a single
//! `select!` would retry it after every message written.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use tokio::{sync::oneshot, time::Instant};

use crate::{ClientHandle, Hub, UpgradeConfig, WsError, close};

/// How a connection ends.
enum Ending {
    /// The server closes with this code and reason.
    Close(u16, &'static str),
    /// The client closed or the connection broke.
    Gone,
}

/// Milliseconds since `start` at which the client last sent anything.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + std::time::Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Pumps one connection until either side closes.
pub(crate) async fn serve_socket(
    socket: WebSocket,
    hub: Hub,
    mut client: ClientHandle,
    config: UpgradeConfig,
) {
    let (mut sink, stream) = socket.split();
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    });
    let (ended_tx, mut reader_ended) = oneshot::channel();
    let mut reader = tokio::spawn(read_loop(
        stream,
        hub,
        client.room().to_owned(),
        client.username().to_owned(),
        activity.clone(),
        ended_tx,
    ));

    let watch = client.watch();
    let disconnected = watch.wait();
    tokio::pin!(disconnected);
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    let ending = loop {
        tokio::select! {
            biased;
            reason = &mut disconnected => break Ending::Close(reason.close_code(), reason.reason()),
            ending = &mut reader_ended => break ending.unwrap_or(Ending::Gone),
            out = client.next() => {
                let Some(first) = out else {
                    break Ending::Close(close::GOING_AWAY, "server shutting down");
                };
                tokio::select! {
                    written = write_batch(&mut sink, first, &mut client) => {
                        if written.is_err() { break Ending::Gone; }
                    }
                    // Frames already buffered are flushed with the close frame below.
                    reason = &mut disconnected => break Ending::Close(reason.close_code(), reason.reason()),
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    break Ending::Gone;
                }
            }
            _ = &mut idle => {
                let deadline = activity.last() + config.idle_timeout;
                if deadline <= Instant::now() {
                    break Ending::Close(close::IDLE_TIMEOUT, "idle timeout");
                }
                idle.as_mut().reset(deadline);
            }
        }
    };
    // Leave the room before the (possibly slow) close handshake.
    let (room, user) = (client.room().to_owned(), client.username().to_owned());
    drop(client);
    if let Ending::Gone = ending {
        // If the client closed, tungstenite has queued the close reply: get it out.
        let _ = tokio::time::timeout(config.close_timeout, sink.close()).await;
    } else if let Ending::Close(code, reason) = ending {
        tracing::debug!(room = %room, user = %user, code, reason, "closing websocket");
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        // Send the close frame, then let the reader see the client's reply (the closing
        // handshake), both within `close_timeout`: a client that never reads cannot hold us.
        let _ = tokio::time::timeout(config.close_timeout, async {
            if sink.send(Message::Close(Some(frame))).await.is_ok() {
                let _ = (&mut reader).await;
            }
        })
        .await;
    }
    reader.abort();
}

/// Reads client messages into the hub; reports the first ending, then keeps reading until the
/// client's close frame so the closing handshake can complete.
async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    hub: Hub,
    room: String,
    user: String,
    activity: Arc<Activity>,
    ended: oneshot::Sender<Ending>,
) {
    let ending = loop {
        let Some(incoming) = stream.next().await else {
            break Ending::Gone;
        };
        activity.touch();
        match incoming {
            Ok(Message::Text(text)) => match hub.send(&room, &user, text.as_str()).await {
                Ok(()) | Err(WsError::EmptyMessage) => {}
                Err(WsError::MessageTooLarge { .. }) => {
                    break Ending::Close(close::MESSAGE_TOO_BIG, "message too big");
                }
                Err(err) => tracing::warn!(room = %room, error = %err, "message refused"),
            },
            Ok(Message::Binary(_)) => {
                break Ending::Close(close::UNSUPPORTED_DATA, "text messages only");
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) => break Ending::Gone,
            Err(ref err) if is_too_big(err) => {
                break Ending::Close(close::MESSAGE_TOO_BIG, "message too big");
            }
            Err(_) => break Ending::Gone,
        }
    };
    let closed_by_client = matches!(ending, Ending::Gone);
    let _ = ended.send(ending);
    if !closed_by_client {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    }
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Bytes,
    client: &mut ClientHandle,
) -> Result<(), axum::Error> {
    const MAX_BATCH: usize = 64;
    sink.feed(frame(first)).await?;
    for _ in 1..MAX_BATCH {
        let Some(more) = client.try_next() else { break };
        sink.feed(frame(more)).await?;
    }
    sink.flush().await
}

/// Text when the renderer produced UTF-8 (it normally does), binary otherwise; never a copy.
fn frame(bytes: Bytes) -> Message {
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

fn is_too_big(err: &axum::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|err| matches!(err, tungstenite::Error::Capacity(_)))
}
