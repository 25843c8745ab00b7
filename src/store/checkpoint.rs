//! WAL checkpoints off the write path. With SQLite's default, the connection whose commit
//! pushes the WAL past 1000 pages copies it into the database file (and, under
//! synchronous=FULL, fsyncs it) before its commit returns — tens of milliseconds on the
//! request that happened to trip it. Here the writer never checkpoints; a task on its own
//! connection does, once commits pause (or at least every 100 ms under sustained load).
//! Durability is untouched: every commit is still fsynced to the WAL before it returns.
//!
//! The WAL stays bounded: SQLite reuses a checkpointed WAL from its start but never
//! shrinks it, so after a burst (or while a long reader pinned old pages) it would keep
//! its peak size. Once writes have been idle for a moment, a TRUNCATE checkpoint empties
//! it; under load, `journal_size_limit` cuts it back whenever it is reset.

use sqlx::SqlitePool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Checkpoint once no commit came for this long…
const QUIET: Duration = Duration::from_millis(50);
/// …or this long after the first commit since the last checkpoint, whichever is first.
const MAX_DELAY: Duration = Duration::from_millis(100);
/// No commit for this long: empty the WAL file (retried as long as writes stay idle).
const IDLE: Duration = Duration::from_secs(1);
/// The writer's `journal_size_limit`: a reset WAL larger than this is cut back to it.
pub const JOURNAL_SIZE_LIMIT: &str = "67108864";

/// Waits for commits (the writer's commit hook notifies `wrote`) and checkpoints. Idle
/// when nothing is written: once the WAL is empty no timer runs while `wrote` stays quiet.
pub async fn run(pool: SqlitePool, wrote: Arc<Notify>) {
    loop {
        wrote.notified().await;
        // Commits came: checkpoint them as they pause, until they stop for IDLE.
        loop {
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
            if !checkpoint(&pool, "PASSIVE").await {
                return;
            }
            if tokio::time::timeout(IDLE, wrote.notified()).await.is_err() {
                break;
            }
        }
        // Idle: TRUNCATE waits (briefly: the connection's busy timeout) for readers and
        // blocks the writer only while it runs, which with everything copied is short.
        // A reader still holding old pages makes it give up; it is tried again after
        // another idle interval, unless commits resume first.
        loop {
            match truncate(&pool).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(_) if pool.is_closed() => return,
                Err(e) => tracing::warn!(error = %e, "WAL truncation failed; retrying"),
            }
            if tokio::time::timeout(IDLE, wrote.notified()).await.is_ok() {
                // Commits resumed: the next round checkpoints them; the WAL is truncated
                // once they stop.
                wrote.notify_one();
                break;
            }
        }
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)`; false once the pool is closed.
async fn checkpoint(pool: &SqlitePool, mode: &str) -> bool {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await {
        if pool.is_closed() {
            return false;
        }
        tracing::warn!(error = %e, "WAL checkpoint failed; the next commit retries it");
    }
    true
}

/// A TRUNCATE checkpoint; true when it completed (the WAL file is empty).
async fn truncate(pool: &SqlitePool) -> Result<bool, sqlx::Error> {
    let (busy, _log, _done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await?;
    Ok(busy == 0)
}
