//! WAL checkpoints off the write path. With SQLite's default, the connection whose commit
//! pushes the WAL past 1000 pages copies it into the database file (and, under
//! synchronous=FULL, fsyncs it) before its commit returns — tens of milliseconds on the
//! request that happened to trip it. Here the writer never checkpoints; a task on its own
//! connection does, once commits pause (or at least every second under sustained load).
//! Durability is untouched: every commit is still fsynced to the WAL before it returns.

use sqlx::SqlitePool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Checkpoint once no commit came for this long…
const QUIET: Duration = Duration::from_millis(50);
/// …or this long after the first commit since the last checkpoint, whichever is first.
const MAX_DELAY: Duration = Duration::from_millis(100);

/// Waits for commits (the writer's commit hook notifies `wrote`) and checkpoints. Idle
/// when nothing is written: no timer runs while `wrote` stays quiet.
pub async fn run(pool: SqlitePool, wrote: Arc<Notify>) {
    loop {
        wrote.notified().await;
        if pool.is_closed() {
            return;
        }
        let first = Instant::now();
        while first.elapsed() < MAX_DELAY {
            if tokio::time::timeout(QUIET, wrote.notified()).await.is_err() {
                break;
            }
        }
        // PASSIVE: copies what it can without waiting for readers or blocking the writer.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed; the next commit retries it");
        }
    }
}
