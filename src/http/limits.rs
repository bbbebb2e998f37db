//! Limits on slow and idle clients, nginx-style: each applies to the time
//! between two successive transfers, not to a whole request.
//!
//! - Idle keep-alive connections and slow request heads: hyper's header read
//!   timeout, which runs from the moment hyper waits for a request head.
//! - New connections: the first request head (and TLS handshake) within
//!   the shorter `--first-request-timeout` (see `conns`).
//! - Slow request bodies: `RequestBody` waits at most the idle timeout for
//!   each piece of the body (`RequestTimeout`).
//! - Clients that stop reading a response: [`WriteStall`] fails a write that
//!   makes no progress for the idle timeout, which ends the connection.
//!
//! Server-side work (a long copy, a slow drive) never counts against the
//! client: only waits on the client's socket are timed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::runtime::net::{AsyncRead, AsyncWrite, ReadBuf};
use crate::runtime::{Instant, Sleep};

/// Wraps a socket so that a write stalled for longer than `limit` fails with
/// `TimedOut`. Reads pass through untouched (hyper times request heads and
/// the body reader times bodies).
pub struct WriteStall<T> {
    inner: T,
    limit: Duration,
    /// Armed while a write is pending; dropped on progress.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteStall<T> {
    pub fn new(inner: T, limit: Duration) -> Self {
        WriteStall {
            inner,
            limit,
            timer: None,
        }
    }

    /// Called when a write is pending: starts the clock on the first wait
    /// and fails once it runs out.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let limit = self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(crate::runtime::sleep_until(Instant::now() + limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response",
            )),
            Poll::Pending => Ok(()),
        }
    }

    fn on_write<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match r {
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => {
                self.timer = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteStall<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteStall<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.on_write(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.on_write(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.on_write(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.on_write(cx, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A socket whose writes are pending unless `open` is set.
    struct Gate {
        open: Rc<Cell<bool>>,
    }

    impl AsyncRead for Gate {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Gate {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.open.get() {
                Poll::Ready(Ok(buf.len()))
            } else {
                Poll::Pending
            }
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    async fn write_once(w: &mut WriteStall<Gate>) -> io::Result<usize> {
        std::future::poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, b"x")).await
    }

    #[test]
    fn a_stalled_write_times_out_and_progress_resets_the_clock() {
        crate::runtime::block_on(async {
            let open = Rc::new(Cell::new(false));
            let limit = Duration::from_millis(40);
            let mut w = WriteStall::new(Gate { open: open.clone() }, limit);

            // A pending write arms the clock; progress before the limit
            // disarms it.
            let first = std::future::poll_fn(|cx| {
                Poll::Ready(Pin::new(&mut w).poll_write(cx, b"x").is_pending())
            })
            .await;
            assert!(first && w.timer.is_some());
            crate::runtime::sleep(Duration::from_millis(25)).await;
            open.set(true);
            assert_eq!(write_once(&mut w).await.unwrap(), 1);
            assert!(w.timer.is_none(), "progress disarms the clock");

            // A write that never progresses fails after the limit, not before.
            open.set(false);
            let start = std::time::Instant::now();
            let e = write_once(&mut w).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert!(start.elapsed() >= limit);
            assert!(start.elapsed() < Duration::from_secs(5));
        })
        .unwrap();
    }
}
