//! A legacy connection's timers, in place of hyper's header timeout (which
//! also runs while a keep-alive connection waits for its next request, so it
//! closed idle connections after `server.header_read_timeout_ms`):
//!
//! - **head**: from accept, and from the first byte of each later request,
//!   the whole request head must arrive within `server.header_read_timeout_ms`
//!   (slow-loris protection);
//! - **idle**: once an answer is written, the connection may wait for the
//!   next request for `server.keepalive_idle_timeout_ms` (0: no limit);
//! - **busy**: from the moment the request is handed to the service until its
//!   answer has been flushed to the socket, neither applies (the handler
//!   bounds the body read itself with `server.body_read_timeout_ms`).
//!
//! [`TimedIo`] wraps the connection's stream (plain or TLS); the service marks
//! [`Phase::busy`] when hyper calls it, and the answer's body, wrapped by
//! [`Phase::track`], marks the answer handed over when hyper drops it. A
//! timer that fires fails the pending read with [`io::ErrorKind::TimedOut`],
//! and hyper closes the connection (silently when no byte of a request came).
//!
//! Cost: one shared atomic per connection and one `Sleep`, re-armed at most
//! once per phase (once per request on a keep-alive connection whose heads
//! arrive whole); nothing is allocated per request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Waiting for (the rest of) a request head: the header timer runs.
const HEAD: u8 = 0;
/// Waiting for the next request on a kept-alive connection: the idle timer runs.
const IDLE: u8 = 1;
/// The service has the request: no timer.
const BUSY: u8 = 2;
/// hyper has the whole answer and is writing it: no timer until it is flushed.
const SENT: u8 = 3;

/// The phase a connection is in, shared by its stream and its service.
#[derive(Clone)]
pub(super) struct Phase(Arc<AtomicU8>);

impl Phase {
    /// A new connection waits for its first request head.
    pub(super) fn new() -> Self {
        Phase(Arc::new(AtomicU8::new(HEAD)))
    }

    fn get(&self) -> u8 {
        // The stream, the service and the body are all polled by the
        // connection's own task: no ordering with other memory is needed.
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, phase: u8) {
        self.0.store(phase, Ordering::Relaxed)
    }

    /// hyper called the service with a request: stop the timers.
    pub(super) fn busy(&self) {
        self.set(BUSY)
    }

    /// Wrap the answer's body: when hyper is done with it, the answer is
    /// handed over, and the idle timer starts once it is flushed.
    pub(super) fn track<B>(&self, body: B) -> Tracked<B> {
        Tracked {
            body,
            phase: self.clone(),
        }
    }
}

/// An answer body that marks its connection [`SENT`] when dropped.
pub(super) struct Tracked<B> {
    body: B,
    phase: Phase,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.phase.set(SENT);
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's stream with the head and idle timers on its reads.
pub(super) struct TimedIo<I> {
    io: I,
    phase: Phase,
    header: Duration,
    /// `None`: an idle connection is never closed by the bridge.
    idle: Option<Duration>,
    sleep: Pin<Box<Sleep>>,
    /// Whether `sleep` is set for the current phase.
    armed: bool,
}

impl<I> TimedIo<I> {
    pub(super) fn new(io: I, phase: Phase, header: Duration, idle: Option<Duration>) -> Self {
        TimedIo {
            io,
            phase,
            header,
            idle,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: false,
        }
    }

    /// The inner read is pending: fail it if the current phase's timer ran out.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (limit, what) = match self.phase.get() {
            HEAD => (
                Some(self.header),
                "request head not received within server.header_read_timeout_ms",
            ),
            IDLE => (
                self.idle,
                "idle keep-alive connection closed after server.keepalive_idle_timeout_ms",
            ),
            _ => (None, ""),
        };
        let Some(limit) = limit else {
            return Poll::Pending;
        };
        if !self.armed {
            // A limit past the clock's range never fires.
            let Some(deadline) = Instant::now().checked_add(limit) else {
                return Poll::Pending;
            };
            self.sleep.as_mut().reset(deadline);
            self.armed = true;
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for TimedIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.poll_deadline(cx),
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.phase.get() == IDLE {
                    // The first bytes of the next request: now its head is timed.
                    this.phase.set(HEAD);
                    this.armed = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for TimedIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// hyper flushes the stream once its own buffer is written out, so a
    /// flush after the answer was handed over means the answer has left.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) && this.phase.get() == SENT {
            this.phase.set(IDLE);
            this.armed = false;
            // hyper's read for the next request may already be pending (it
            // polls reads before flushing): start the idle timer here, so
            // that it wakes the connection when it fires.
            if this.poll_deadline(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
