//! One accepted connection. Its first request head is read here into a small buffer: a request
//! for an event stream is answered past hyper ([`event_stream`]), anything else goes to hyper's
//! HTTP/1 driver, which reads the same bytes first and serves the connection from then on.
//!
//! hyper allocates an 8 KiB read buffer and an 8 KiB write buffer per connection and offers no
//! way to make them smaller, which would put an idle SSE stream at twice the 8 KiB it may cost.

use std::{net::SocketAddr, pin::pin, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use bytes::Bytes;
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tower::ServiceExt;

use super::{
    event_stream,
    request_head::{self, Head},
    rewind::Rewind,
    shutdown::Shutdown,
};

/// How long a client may take to send a request head; slower ones are cut off.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Request heads larger than this are refused (hyper's floor is 8 KiB).
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How much more room each read of the first head gets: a browser's head fits in one.
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

/// How a connection starts.
enum First {
    /// A request for an event stream.
    EventStream(Box<axum::http::Request<()>>),
    /// Anything else, with the bytes read so far.
    Other(Bytes),
    /// Closed, or silent past the header timeout, before sending anything worth answering.
    Gone,
}

impl Serving {
    /// Serves `stream` from `peer` to its end. Once shutdown starts, a connection that has not
    /// sent a request yet is closed, and one with a request in flight finishes it.
    pub(crate) async fn connection(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        let first = tokio::select! {
            // A head already in the socket at the signal is still read and answered.
            biased;
            first = first_head(&mut stream) => first,
            () = self.shutdown.wait() => First::Gone,
        };
        // The box is freed as its arm ends, not when the stream does.
        let request = match first {
            First::EventStream(boxed) => *boxed,
            // Boxed: hyper's connection state is large and the streams below need none of it.
            First::Other(read) => return Box::pin(self.hyper(stream, peer, read)).await,
            First::Gone => return,
        };
        event_stream::serve(stream, peer, request, self.router.clone()).await;
    }

    async fn hyper(&self, stream: TcpStream, peer: SocketAddr, read: Bytes) {
        let service =
            self.router
                .clone()
                .map_request(move |mut req: axum::http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    req.map(Body::new)
                });
        let io = TokioIo::new(Rewind::new(read, stream));
        let conn = self
            .http
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
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

/// Reads until the first request head is whole (or cannot be taken here), within
/// [`HEADER_READ_TIMEOUT`] as hyper would.
async fn first_head(stream: &mut TcpStream) -> First {
    let mut read = Vec::new();
    let reading = async {
        loop {
            read.reserve(HEAD_READ);
            match stream.read_buf(&mut read).await {
                Ok(0) if read.is_empty() => return None,
                Ok(0) => return Some(Head::Other),
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(error = %err, "connection failed before its request");
                    return None;
                }
            }
            match request_head::parse(&read) {
                Head::Partial if read.len() < MAX_HEAD_BYTES => {}
                Head::Partial => return Some(Head::Other),
                head => return Some(head),
            }
        }
    };
    match tokio::time::timeout(HEADER_READ_TIMEOUT, reading).await {
        Ok(Some(Head::EventStream(request))) => First::EventStream(request),
        Ok(Some(_)) => First::Other(Bytes::from(read)),
        Ok(None) | Err(_) => First::Gone,
    }
}

pub(crate) fn finished(result: hyper::Result<()>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}
