//! One accepted connection. Every request head is read here into a small buffer first: a
//! request for an event stream is answered past hyper ([`event_stream`]); a plain request is
//! answered by hyper alone, which then hands the connection back for the next head; anything
//! else (an upgrade, HTTP/1.0, a chunked body, a head hyper must refuse) goes to hyper for the
//! rest of the connection.
//!
//! hyper allocates an 8 KiB read buffer and an 8 KiB write buffer per connection and offers no
//! way to make them smaller, which would put an idle SSE stream at twice the 8 KiB it may cost.
//! Holding them only while a request is answered keeps them off idle keep-alive connections
//! too, and off a stream opened on a connection that already served a request.

use std::{
    future::poll_fn,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::Arc,
    time::Duration,
};

use axum::Router;
use bytes::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use super::{
    event_stream,
    request_head::{self, Head},
    rewind::Rewind,
    routed::{Answer, Answered, Routed},
    shutdown::Shutdown,
};

/// How long a client may take to send a request head; slower ones are cut off. It also bounds
/// how long an idle keep-alive connection stays.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Request heads larger than this are refused (hyper's floor is 8 KiB).
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How much more room each read of a head gets: a browser's head fits in one.
const HEAD_READ: usize = 1024;

/// The HTTP/1 settings of every connection hyper serves.
pub(crate) fn http() -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        // Flattening writes into one buffer keeps no queue of body chunks per connection.
        .writev(false);
    http
}

/// What every connection is served with.
pub(crate) struct Serving {
    pub(crate) http: http1::Builder,
    pub(crate) router: Router,
    pub(crate) shutdown: Shutdown,
}

/// How a connection goes on after a request hyper answered alone.
enum After {
    /// Ready for the next head, with the bytes of it already read.
    Next(TcpStream, Vec<u8>),
    /// Closed, or about to be.
    Closed,
}

impl Serving {
    /// Serves `stream` from `peer` to its end. Once shutdown starts, a connection waiting for a
    /// request is closed, and one with a request in flight finishes it.
    pub(crate) async fn connection(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        let answered = Arc::new(Answered::default());
        let mut read = Vec::new();
        loop {
            let head = tokio::select! {
                // A head already in the socket at the signal is still read and answered.
                biased;
                head = next_head(&mut stream, &mut read) => head,
                () = self.shutdown.wait() => None,
            };
            let routed = || Routed {
                router: self.router.clone(),
                peer,
                answered: answered.clone(),
            };
            // The box is freed as its arm ends, not when the stream does.
            let request = match head {
                Some(Head::EventStream(boxed)) => *boxed,
                // Boxed: hyper's connection state is large and idle connections need none of it.
                Some(Head::Single { length }) => {
                    match Box::pin(self.single(stream, routed(), read, length)).await {
                        After::Next(next, unread) => (stream, read) = (next, unread),
                        After::Closed => return,
                    }
                    continue;
                }
                Some(_) => return Box::pin(self.hyper(stream, routed(), Bytes::from(read))).await,
                None => return,
            };
            drop((read, answered));
            return event_stream::serve(stream, peer, request, self.router.clone()).await;
        }
    }

    /// Has hyper answer the one request of `length` bytes that `read` starts, then takes the
    /// connection back from it.
    async fn single(&self, stream: TcpStream, routed: Routed, read: Vec<u8>, length: u64) -> After {
        let answered = routed.answered.clone();
        answered.reset();
        let io = TokioIo::new(Rewind::limited(Bytes::from(read), stream, length));
        let mut conn = self.http.serve_connection(io, routed);
        let mut shutdown = pin!(self.shutdown.wait());
        let (mut handing_back, mut stopping) = (false, false);
        let served = poll_fn(|cx| {
            if !stopping && shutdown.as_mut().poll(cx).is_ready() {
                stopping = true;
                Pin::new(&mut conn).graceful_shutdown();
            }
            loop {
                let poll = conn.poll_without_shutdown(cx);
                // Once the response's head is written, asking hyper to stop ends the connection
                // after the response without saying so in it: hyper finishes the response and
                // flushes it, then returns the socket instead of reading another request.
                if poll.is_pending() && !handing_back && answered.get() != Answer::Pending {
                    handing_back = true;
                    Pin::new(&mut conn).graceful_shutdown();
                    continue;
                }
                return poll;
            }
        })
        .await;
        if let Err(err) = served {
            tracing::debug!(error = %err, "connection ended with an error");
            return After::Closed;
        }
        let parts = conn.into_parts();
        let (mut stream, unread, handed_out) = parts.io.into_inner().into_parts();
        // The body unread (the route did not take it and hyper did not drain it) would be
        // taken for the next head: such a connection ends here, as hyper would end it.
        let whole = handed_out - parts.read_buf.len() as u64 == length;
        if stopping || !whole || answered.get() != Answer::KeepAlive {
            let _ = stream.shutdown().await;
            return After::Closed;
        }
        After::Next(stream, Vec::from(unread))
    }

    /// Has hyper serve the rest of the connection, from the bytes in `read` on.
    async fn hyper(&self, stream: TcpStream, routed: Routed, read: Bytes) {
        let io = TokioIo::new(Rewind::new(read, stream));
        let conn = self.http.serve_connection(io, routed).with_upgrades();
        let mut conn = pin!(conn);
        tokio::select! {
            result = conn.as_mut() => finished(result),
            () = self.shutdown.wait() => {
                conn.as_mut().graceful_shutdown();
                finished(conn.await);
            }
        }
    }
}

/// Reads until `read` starts with a whole request head (or one that cannot be taken here),
/// within [`HEADER_READ_TIMEOUT`]; `None` when the client left or stayed silent.
async fn next_head(stream: &mut TcpStream, read: &mut Vec<u8>) -> Option<Head> {
    let reading = async {
        loop {
            if !read.is_empty() {
                match request_head::parse(read) {
                    Head::Partial if read.len() < MAX_HEAD_BYTES => {}
                    Head::Partial => return Some(Head::Other),
                    head => return Some(head),
                }
            }
            // Room is taken once bytes are there: a connection waiting for its next request
            // holds no buffer.
            if let Err(err) = stream.readable().await {
                tracing::debug!(error = %err, "connection failed before its request");
                return None;
            }
            read.reserve(HEAD_READ);
            match stream.try_read_buf(read) {
                Ok(0) if read.is_empty() => return None,
                // Closed within a head: hyper answers what there is.
                Ok(0) => return Some(Head::Other),
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => {
                    tracing::debug!(error = %err, "connection failed before its request");
                    return None;
                }
            }
        }
    };
    tokio::time::timeout(HEADER_READ_TIMEOUT, reading)
        .await
        .ok()
        .flatten()
}

pub(crate) fn finished(result: hyper::Result<()>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}
