//! What a connection is doing, so its deadline can be computed: waiting for a request
//! (idle, or part of its headers read) or busy with one. The socket wrapper notes the
//! first byte of each request; the service notes when a request starts and ends.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in flight. `first_byte`: when the next request began to arrive.
    Waiting {
        since: Instant,
        first_byte: Option<Instant>,
    },
    /// A request is being handled; its body has its own deadline (see `body.rs`).
    Busy,
}

/// Shared between the socket wrapper, the service and the connection's driver.
#[derive(Debug)]
pub struct Activity {
    phase: Mutex<Phase>,
    /// Woken on every phase change, so the driver recomputes its deadline.
    pub changed: Notify,
}

impl Activity {
    /// A fresh connection: its first request's header clock runs from the accept,
    /// so a socket that never sends anything is cut off like a slow one.
    pub fn accepted(now: Instant) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Waiting {
                since: now,
                first_byte: Some(now),
            }),
            changed: Notify::new(),
        })
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        // A poisoned lock only means a panic elsewhere; the phase is still a plain value.
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        let next = f(*phase);
        if next != *phase {
            *phase = next;
            self.changed.notify_one();
        }
    }

    fn bytes_read(&self, now: Instant) {
        self.update(|p| match p {
            Phase::Waiting {
                since,
                first_byte: None,
            } => Phase::Waiting {
                since,
                first_byte: Some(now),
            },
            other => other,
        });
    }

    /// The headers are complete: hyper is calling the service.
    pub fn request_started(&self) {
        self.update(|_| Phase::Busy);
    }

    /// The response went out (its body ended or was dropped): idle from now.
    pub fn request_ended(&self, now: Instant) {
        self.update(|_| Phase::Waiting {
            since: now,
            first_byte: None,
        });
    }

    /// When the connection must be closed if nothing changes; `None` while a request runs.
    pub fn deadline(&self, header: Duration, idle: Duration) -> Option<Instant> {
        let phase = *self.phase.lock().unwrap_or_else(|e| e.into_inner());
        match phase {
            Phase::Waiting {
                first_byte: Some(t),
                ..
            } => Some(t + header),
            Phase::Waiting { since, .. } => Some(since + idle),
            Phase::Busy => None,
        }
    }
}

/// The socket, reporting the first byte of each request to its [`Activity`].
pub struct Tracked<S> {
    pub inner: S,
    pub activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read(Instant::now());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadlines_follow_the_phase() {
        let (h, i) = (Duration::from_secs(30), Duration::from_secs(60));
        let t0 = Instant::now();
        let a = Activity::accepted(t0);
        assert_eq!(
            a.deadline(h, i),
            Some(t0 + h),
            "a fresh socket has the header clock"
        );
        a.request_started();
        assert_eq!(
            a.deadline(h, i),
            None,
            "no connection deadline while a request runs"
        );
        let t1 = t0 + Duration::from_secs(5);
        a.request_ended(t1);
        assert_eq!(a.deadline(h, i), Some(t1 + i), "idle keep-alive");
        let t2 = t1 + Duration::from_secs(7);
        a.bytes_read(t2);
        a.bytes_read(t2 + Duration::from_secs(1));
        assert_eq!(
            a.deadline(h, i),
            Some(t2 + h),
            "the next request's first byte"
        );
    }
}
