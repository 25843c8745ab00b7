//! Background workers, each a one-step function (`run_once(now)`, what tests call) plus a thin loop.

pub mod alerts;
pub mod outbox;
pub mod timers;

use crate::domain::Time;
use crate::store;
use std::future::Future;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest a worker sleeps without checking the database, in case a wake-up was missed.
pub const MAX_IDLE: Duration = Duration::from_secs(60);

/// The loop both workers run: `step` while it reports more work, otherwise sleep until
/// `next` says work falls due, a wake-up, or shutdown. After a failed step it pauses a
/// second, so a broken database does not spin a core.
async fn run_loop<S, SF, N, NF>(
    name: &'static str,
    clock: &dyn crate::clock::Clock,
    wake: &Notify,
    shutdown: &CancellationToken,
    step: S,
    next: N,
) where
    S: Fn() -> SF,
    SF: Future<Output = store::Result<bool>>,
    N: Fn() -> NF,
    NF: Future<Output = store::Result<Option<Time>>>,
{
    while !shutdown.is_cancelled() {
        match step().await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(worker = name, error = %e, "worker step failed; retrying in 1s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.cancelled() => return,
                }
            }
        }
        let next = next().await.unwrap_or(None);
        if !idle(clock.now(), next, wake, shutdown).await {
            return;
        }
    }
}

/// Sleeps until `next` (capped at [`MAX_IDLE`]), a wake-up, or shutdown. Returns false on shutdown.
async fn idle(now: Time, next: Option<Time>, wake: &Notify, shutdown: &CancellationToken) -> bool {
    let wait = next
        .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(MAX_IDLE)
        .min(MAX_IDLE);
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = wake.notified() => true,
        _ = shutdown.cancelled() => false,
    }
}
