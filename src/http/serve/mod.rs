//! Serving HTTP/1 with bounded connections (README.md "Security"): a header deadline, an idle
//! keep-alive deadline, a body deadline, a cap on open connections with a reserve for
//! health checks, accept errors that back off instead of spinning, and a shutdown
//! that gives requests in flight a grace period and then drops what is left.

mod body;
mod fds;
mod watch;

use crate::config::ConnectionLimits;
use crate::http::error::AppError;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use watch::{Activity, Tracked};

/// A connection taken from the reserve only answers these; anything else is 503.
const HEALTH_PATHS: &[&str] = &["/healthz", "/readyz"];
/// A reserved connection must send its request quickly: the reserve is small.
const RESERVED_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause after an accept error such as EMFILE.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How many connections may be open: the general cap and the health-check reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub general: usize,
    pub reserved: usize,
}

impl Capacity {
    /// `max_connections` plus a reserve of 1/16 (2..=64), both fitted under the fd limit.
    pub fn new(max_connections: usize, fd_soft_limit: Option<usize>) -> Self {
        let reserved = (max_connections / 16).clamp(2, 64);
        let budget = fds::budget(max_connections + reserved, fd_soft_limit);
        let general = max_connections.min(budget.saturating_sub(reserved)).max(1);
        Self { general, reserved }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let capacity = Capacity::new(limits.max_connections, fds::soft_limit());
    if capacity.general < limits.max_connections {
        tracing::warn!(
            max_connections = limits.max_connections,
            allowed = capacity.general,
            "the open-file limit is lower than server.max_connections; accepting fewer"
        );
    }
    let slots = Slots {
        general: Arc::new(Semaphore::new(capacity.general)),
        reserved: Arc::new(Semaphore::new(capacity.reserved)),
    };
    let shared = Arc::new(Shared { router, limits });
    let tracker = TaskTracker::new();
    let mut backoff = Duration::ZERO;
    loop {
        // Take a slot before accepting: at the cap, new sockets wait in the kernel's backlog.
        let slot = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            slot = slots.take() => slot,
        };
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                let (shared, shutdown) = (shared.clone(), shutdown.clone());
                tracker.spawn(connection(stream, slot, shared, shutdown));
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // EMFILE and the like: retrying at once would spin. Wait, keep serving.
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                tracing::warn!(error = %e, pause = ?backoff, "accept failed");
                drop(slot);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
    // Closing the listener refuses new connections while the open ones drain.
    drop(listener);
    tracker.close();
    let bound = shared.limits.shutdown_grace + Duration::from_secs(1);
    if tokio::time::timeout(bound, tracker.wait()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

/// Errors about one incoming connection (it was reset before we took it), not the listener.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

struct Shared {
    router: Router,
    limits: ConnectionLimits,
}

struct Slots {
    general: Arc<Semaphore>,
    reserved: Arc<Semaphore>,
}

enum Slot {
    General(#[allow(dead_code)] OwnedSemaphorePermit),
    Reserved(#[allow(dead_code)] OwnedSemaphorePermit),
}

impl Slots {
    /// A general slot if one is free, else one from the reserve, else the first that frees up.
    async fn take(&self) -> Slot {
        if let Ok(p) = self.general.clone().try_acquire_owned() {
            return Slot::General(p);
        }
        if let Ok(p) = self.reserved.clone().try_acquire_owned() {
            return Slot::Reserved(p);
        }
        // The semaphores are never closed, so acquiring cannot fail; loop rather than panic.
        loop {
            tokio::select! {
                Ok(p) = self.general.clone().acquire_owned() => return Slot::General(p),
                Ok(p) = self.reserved.clone().acquire_owned() => return Slot::Reserved(p),
                else => tokio::task::yield_now().await,
            }
        }
    }
}

/// Drives one connection to its end: closed by the peer, timed out, or dropped at shutdown.
async fn connection(
    stream: TcpStream,
    slot: Slot,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let reserved = matches!(slot, Slot::Reserved(_));
    let limits = &shared.limits;
    let header_timeout = if reserved {
        limits.header_read_timeout.min(RESERVED_HEADER_TIMEOUT)
    } else {
        limits.header_read_timeout
    };
    let activity = Activity::accepted(Instant::now());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let (shared, activity) = (shared.clone(), activity.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(req, shared.clone(), activity.clone(), reserved)
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own deadlines replace hyper's header timer, which would also cut idle
    // keep-alive connections at the header timeout instead of the idle one.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(!reserved);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut drain_until: Option<Instant> = None;
    loop {
        let timeout = activity.deadline(header_timeout, limits.idle_timeout);
        let deadline = match (timeout, drain_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            () = sleep_until(deadline) => {
                let now = Instant::now();
                if drain_until.is_some_and(|d| now >= d) {
                    tracing::debug!("connection dropped at the end of the shutdown grace period");
                    return;
                }
                if activity.deadline(header_timeout, limits.idle_timeout).is_some_and(|d| now >= d) {
                    tracing::debug!("connection closed: no complete request in time, or idle too long");
                    return;
                }
            }
            () = shutdown.cancelled(), if drain_until.is_none() => {
                // Idle connections close now; a request in flight may finish within the grace.
                conn.as_mut().graceful_shutdown();
                drain_until = Some(Instant::now() + limits.shutdown_grace);
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One request: bounded body in, the router (or 503 on a reserved connection), idle on the way out.
async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    reserved: bool,
) -> Result<Response, Infallible> {
    activity.request_started();
    let limit = shared.limits.body_read_timeout;
    let req = req.map(|b| Body::new(body::DeadlineBody::new(b, limit)));
    let response = if reserved && !HEALTH_PATHS.contains(&req.uri().path()) {
        at_capacity()
    } else {
        match shared.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    };
    Ok(response.map(|b| Body::new(body::Ended::new(b, activity))))
}

/// The server is at its connection cap: try again shortly, on a new connection.
fn at_capacity() -> Response {
    let mut r = AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The server is at its connection limit; try again shortly.",
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_keeps_a_reserve_within_the_fd_limit() {
        assert_eq!(
            Capacity::new(1024, Some(20_000)),
            Capacity {
                general: 1024,
                reserved: 64
            }
        );
        // With the fd limit at 200 the cap shrinks, the reserve stays.
        let c = Capacity::new(1024, Some(200));
        assert_eq!(c.reserved, 64);
        assert_eq!(c.general + c.reserved, 200 - fds::SPARE);
        assert_eq!(
            Capacity::new(4, None),
            Capacity {
                general: 4,
                reserved: 2
            }
        );
    }
}
