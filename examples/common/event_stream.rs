//! A request for an event stream, answered by the router and written to the socket here rather
//! than by hyper: an idle stream then holds its socket, its response body and a small task, not
//! hyper's two 8 KiB connection buffers (docs/benchmarks.md has the figures).
//!
//! The connection carries this one response and closes (`connection: close`): an event stream
//! ends only when the source or the server does. An event stream is written as chunks, each
//! event as it comes, without a buffer of its own; any other answer (a refusal, an error page)
//! whole, with its `content-length`.

use std::{
    io::{self, IoSlice, Write},
    net::SocketAddr,
    time::SystemTime,
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderValue, Request, header, response::Parts},
};
use bytes::Bytes;
use futures::StreamExt;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};
use tower::ServiceExt;

/// The largest answer that is not an event stream (a refusal, an error page) written here.
const MAX_WHOLE_BODY: usize = 256 * 1024;

/// Answers `request` (from `peer`) through `router` on `stream`, then closes it.
pub(crate) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    mut request: Request<()>,
    router: Router,
) {
    request.extensions_mut().insert(ConnectInfo(peer));
    // Boxed: the router's future is large and lives only until the head is ready.
    let Ok(response) = Box::pin(router.oneshot(request.map(|()| Body::empty()))).await;
    let (parts, body) = response.into_parts();
    if let Err(err) = write(&mut stream, parts, body).await {
        tracing::debug!(error = %err, "event stream ended with an error");
    }
}

async fn write(stream: &mut TcpStream, parts: Parts, body: Body) -> io::Result<()> {
    let (mut reader, mut writer) = stream.split();
    if !is_event_stream(&parts) {
        let body = axum::body::to_bytes(body, MAX_WHOLE_BODY)
            .await
            .map_err(io::Error::other)?;
        let head = head(&parts, Some(body.len() as u64));
        write_all(&mut writer, &mut [IoSlice::new(&head), IoSlice::new(&body)]).await?;
        return writer.shutdown().await;
    }
    // The response's headers are not kept for the life of the stream, only written.
    let head = head(&parts, None);
    drop(parts);
    writer.write_all(&head).await?;
    drop(head);
    let mut chunks = body.into_data_stream();
    loop {
        let chunk = tokio::select! {
            chunk = chunks.next() => chunk,
            // Nothing is read from the client any more; its end (or reset) ends the stream.
            () = closed(&mut reader) => return Ok(()),
        };
        match chunk {
            None => break,
            Some(Ok(chunk)) if chunk.is_empty() => {}
            Some(Ok(chunk)) => write_chunk(&mut writer, &chunk).await?,
            // Ended without the last chunk, so the client sees the stream cut off.
            Some(Err(err)) => return Err(io::Error::other(err)),
        }
    }
    writer.write_all(b"0\r\n\r\n").await?;
    writer.shutdown().await
}

fn is_event_stream(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"text/event-stream"))
}

/// The status line and headers, framed for this connection: `connection: close`, and the
/// body's `content-length` when known, chunked otherwise.
fn head(parts: &Parts, length: Option<u64>) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    let status = parts.status;
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    let framing = [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ];
    let date = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now()))
        .expect("an HTTP date is a valid header value");
    let length = length.map(HeaderValue::from);
    let ours = [
        (header::CONNECTION, Some(HeaderValue::from_static("close"))),
        (
            header::DATE,
            (!parts.headers.contains_key(header::DATE)).then_some(date),
        ),
        (header::CONTENT_LENGTH, length.clone()),
        (
            header::TRANSFER_ENCODING,
            length
                .is_none()
                .then(|| HeaderValue::from_static("chunked")),
        ),
    ];
    let theirs = parts
        .headers
        .iter()
        .filter(|(name, _)| !framing.contains(name))
        .map(|(name, value)| (name.clone(), Some(value.clone())));
    for (name, value) in theirs.chain(ours) {
        if let Some(value) = value {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// One chunk of a chunked body, in one write.
async fn write_chunk<W: AsyncWrite + Unpin>(writer: &mut W, chunk: &Bytes) -> io::Result<()> {
    let mut size = [0u8; 18];
    let mut rest = &mut size[..];
    write!(rest, "{:x}\r\n", chunk.len())?;
    let size_len = 18 - rest.len();
    write_all(
        writer,
        &mut [
            IoSlice::new(&size[..size_len]),
            IoSlice::new(chunk),
            IoSlice::new(b"\r\n"),
        ],
    )
    .await
}

async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let written = writer.write_vectored(slices).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

/// Resolves when the client closes its side (or the connection fails); whatever it sends
/// meanwhile is read and dropped.
async fn closed<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut scrap = [0u8; 64];
    while let Ok(1..) = reader.read(&mut scrap).await {}
}
