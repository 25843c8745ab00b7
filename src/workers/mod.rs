//! Background workers, each a one-step function (`run_once(now)`, what tests call) plus a thin loop.

pub mod outbox;
pub mod timers;

use crate::domain::Time;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest a worker sleeps without checking the database, in case a wake-up was missed.
pub const MAX_IDLE: Duration = Duration::from_secs(60);

/// Sleeps until `next` (capped at [`MAX_IDLE`]), a wake-up, or shutdown. Returns false on shutdown.
pub async fn idle(
    now: Time,
    next: Option<Time>,
    wake: &Notify,
    shutdown: &CancellationToken,
) -> bool {
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
