//! A socket whose first bytes were already read (to look at the request head) and are handed
//! out again before anything new is read from it, up to a limit: hyper, given one request to
//! answer, never reads into the next one.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `inner`, read from after `prefix` (which is freed once handed out).
pub(crate) struct Rewind<T> {
    prefix: Option<Bytes>,
    inner: T,
    handed_out: u64,
    /// Bytes handed out at most; past them a read waits for good.
    limit: u64,
}

impl<T> Rewind<T> {
    pub(crate) fn new(prefix: Bytes, inner: T) -> Self {
        Self::limited(prefix, inner, u64::MAX)
    }

    /// Hands out `limit` bytes at most, the prefix's first.
    pub(crate) fn limited(prefix: Bytes, inner: T, limit: u64) -> Self {
        Rewind {
            prefix: (!prefix.is_empty()).then_some(prefix),
            inner,
            handed_out: 0,
            limit,
        }
    }

    /// The socket, the bytes of the prefix not handed out, and how many bytes were.
    pub(crate) fn into_parts(self) -> (T, Bytes, u64) {
        (self.inner, self.prefix.unwrap_or_default(), self.handed_out)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let room = usize::try_from(this.limit - this.handed_out)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        if room == 0 && buf.remaining() > 0 {
            // The request is whole: what follows is the next one's, read by whoever serves it.
            return Poll::Pending;
        }
        let n = if let Some(prefix) = this.prefix.as_mut() {
            let n = prefix.len().min(room);
            buf.put_slice(&prefix[..n]);
            prefix.advance(n);
            if prefix.is_empty() {
                this.prefix = None;
            }
            n
        } else if room == buf.remaining() {
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            buf.filled().len() - before
        } else {
            // Only the rest of the request's body, into as much of `buf` as it needs.
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
            let n = limited.filled().len();
            buf.advance(n);
            n
        };
        this.handed_out += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn the_prefix_comes_first_then_the_socket() {
        let (mut near, far) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut near, b" world")
            .await
            .unwrap();
        drop(near);
        let mut rewound = Rewind::new(Bytes::from_static(b"hello"), far);
        let mut small = [0u8; 3];
        rewound.read_exact(&mut small).await.unwrap();
        assert_eq!(&small, b"hel");
        let mut rest = String::new();
        rewound.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "lo world");
    }

    #[tokio::test]
    async fn a_limited_socket_hands_out_no_more_and_gives_back_the_rest() {
        let (mut near, far) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut near, b"dy|next")
            .await
            .unwrap();
        let mut rewound = Rewind::limited(Bytes::from_static(b"head|bo"), far, 9);
        let mut request = [0u8; 9];
        rewound.read_exact(&mut request).await.unwrap();
        assert_eq!(&request, b"head|body");
        let mut more = [0u8; 1];
        let past_the_limit = futures::FutureExt::now_or_never(rewound.read(&mut more));
        assert!(past_the_limit.is_none(), "read past the limit");
        let (mut socket, prefix, handed_out) = rewound.into_parts();
        assert_eq!((prefix.len(), handed_out), (0, 9));
        let mut next = [0u8; 5];
        socket.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"|next");
    }

    #[tokio::test]
    async fn what_the_limit_holds_back_of_the_prefix_is_given_back() {
        let (_near, far) = tokio::io::duplex(64);
        let mut rewound = Rewind::limited(Bytes::from_static(b"onetwo"), far, 3);
        let mut one = [0u8; 3];
        rewound.read_exact(&mut one).await.unwrap();
        let (_, prefix, handed_out) = rewound.into_parts();
        assert_eq!((&prefix[..], handed_out), (&b"two"[..], 3));
    }
}
