//! Whether the writer can commit: a flag set by writes that fail for want of storage and
//! cleared by the next commit, a probe for readiness, and the check that keeps a writer
//! connection left inside a failed transaction out of the pool.

use super::{Result, Store, StoreError, db};
use sqlx::{Connection, SqliteConnection};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct Health {
    failing: AtomicBool,
}

impl Health {
    /// Notes a failed write; only storage conditions (full disk, I/O errors, locks)
    /// count, not a request's own fault such as a constraint it broke.
    pub fn failed(&self, e: StoreError) -> StoreError {
        if e.is_unavailable() && !self.failing.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %e, "writes are failing; answering 503 until a commit succeeds");
        }
        e
    }

    pub fn committed(&self) {
        if self.failing.swap(false, Ordering::AcqRel) {
            tracing::info!("writes succeed again");
        }
    }

    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }
}

/// Commits a row of `bytes` and removes it again. A one-page write may still fit into
/// WAL space a failed commit left allocated; one the size of the largest request shows
/// that a request can be taken again.
pub async fn probe(store: &Store, bytes: usize) -> Result<()> {
    let mut tx = store.begin().await?;
    let wrote = db::query(
        "INSERT INTO settings (key, value) VALUES ('write_probe', ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind("x".repeat(bytes))
    .execute(tx.tx())
    .await;
    if let Err(e) = wrote {
        return Err(tx.failed(e));
    }
    tx.commit().await?;
    let mut tx = store.begin().await?;
    db::query("DELETE FROM settings WHERE key = 'write_probe'")
        .execute(tx.tx())
        .await?;
    tx.commit().await
}

/// `after_release` of the writer pool: keeps the connection unless it is still inside a
/// transaction. A transaction dropped after an error queues its ROLLBACK, which the ping
/// runs; but when SQLite already rolled back by itself (as it does on SQLITE_FULL), that
/// ROLLBACK fails and sqlx still counts the transaction as open, so every later `BEGIN`
/// would fail. Such a connection is closed; the pool opens a fresh one.
pub async fn reusable(conn: &mut SqliteConnection) -> std::result::Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("the writer connection is stuck in a failed transaction; reopening it");
        return Ok(false);
    }
    Ok(true)
}
