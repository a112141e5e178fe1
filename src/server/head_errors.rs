//! The legacy answer for requests hyper refuses before the bridge sees
//! them: a request target longer than hyper's 65,534 bytes (hyper answers
//! a bare `414`) and a head with more header fields than hyper's limit or
//! larger than its buffer (a bare `431`). The bridge's own limits
//! (`server.max_uri_bytes`, `server.max_headers`, `server.max_header_bytes`)
//! are below hyper's, so most such requests get the bridge's answer; this
//! wrapper gives the rest the same legacy `4000` shape.
//!
//! The bridge itself never answers 414 or 431, so a response head that
//! starts with either status line at the start of a write is hyper's own.
//! It is replaced whole by a legacy answer (`Connection: close`, as hyper
//! closes the connection after it); the bytes hyper wrote are reported as
//! written and dropped.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{BridgeError, ErrorKind};

/// A connection's stream whose hyper-made 414/431 answers are rewritten.
pub(super) struct LegacyHeadErrors<I> {
    io: I,
    /// The replacement still to write, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
    /// Once replaced, whatever hyper still writes is dropped.
    replaced: bool,
}

impl<I> LegacyHeadErrors<I> {
    pub(super) fn new(io: I) -> Self {
        LegacyHeadErrors {
            io,
            pending: None,
            replaced: false,
        }
    }
}

/// The legacy answer for hyper's status line at the start of `head`, if
/// it is one of those this module replaces.
pub(super) fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let detail = if head.starts_with(b"HTTP/1.1 414 ") {
        "the request URI is longer than the bridge reads (65534 bytes); send large parameters by POST"
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        "the request head has too many header fields or is too large"
    } else {
        return None;
    };
    let e = BridgeError::new(ErrorKind::InvalidParameter, detail);
    let body = e.to_answer().to_json();
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{}: {}\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n",
        super::BRIDGE_ERROR_HEADER,
        e.kind.name(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

impl<I: AsyncWrite + Unpin> LegacyHeadErrors<I> {
    /// Writes what remains of the replacement; ready once all is written.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            match Pin::new(&mut self.io).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *done += n;
                    if *done == bytes.len() {
                        self.pending = None;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// `Some` when this write is swallowed (replaced or after a replacement).
    fn intercept(
        &mut self,
        cx: &mut Context<'_>,
        first: &[u8],
        len: usize,
    ) -> Option<Poll<io::Result<usize>>> {
        if !self.replaced {
            let bytes = replacement(first)?;
            self.replaced = true;
            self.pending = Some((bytes, 0));
        }
        Some(match self.drain(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(len)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        })
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for LegacyHeadErrors<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for LegacyHeadErrors<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(p) = this.intercept(cx, buf, buf.len()) {
            return p;
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        let len = bufs.iter().map(|b| b.len()).sum();
        if let Some(p) = this.intercept(cx, first, len) {
            return p;
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_414_and_431_are_replaced() {
        let r = replacement(b"HTTP/1.1 414 URI Too Long\r\n\r\n").unwrap();
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], 4000);
        assert!(replacement(b"HTTP/1.1 431 Request Header Fields Too Large\r\n").is_some());
        assert!(replacement(b"HTTP/1.1 200 OK\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\n").is_none());
        assert!(replacement(b"{\"code\":414}").is_none());
    }
}
