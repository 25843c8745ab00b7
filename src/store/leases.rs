//! PostgreSQL: the leases of a dead replica are taken back early. A lease runs out on its
//! own (timers after a minute, outbox items after their attempt's deadline), which is what
//! guarantees a killed replica's work is done; but a replica's name on its leases is also
//! the `application_name` of its connections, and PostgreSQL drops the connections of a
//! killed process at once. So every few seconds each replica releases the leases whose
//! owner has no connection left: a restarted replica, or a surviving one, takes over in
//! seconds instead of minutes. A live replica always holds one connection (the one it
//! LISTENs on); should it lose every connection for a moment, an item it is delivering
//! may be delivered twice — deliveries are at least once anyway, under a stable id.

use super::db::{self, Pool};
use super::listen::{self, Wake};
use sqlx::PgPool;
use std::time::Duration;

/// How often a replica looks for leases of dead ones.
const EVERY: Duration = Duration::from_secs(5);

/// The `application_name` of a replica's connections.
pub(super) fn application_name(owner: &str) -> String {
    format!("countersign {owner}")
}

/// Open outbox items leased by a replica with no connection: ready again (as of their
/// creation, so they go first).
const RELEASE_OUTBOX: &str = "UPDATE outbox SET next_attempt_at = created_at, leased_by = NULL
     WHERE leased_by IS NOT NULL AND delivered_at IS NULL AND failed_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                       WHERE a.application_name = 'countersign ' || outbox.leased_by)";
/// Timers claimed by a replica with no connection: claimable again.
const RELEASE_TIMERS: &str = "UPDATE timers SET lease_until = NULL, leased_by = NULL
     WHERE leased_by IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                       WHERE a.application_name = 'countersign ' || timers.leased_by)";

/// Runs until the pool closes.
pub(super) async fn release_dead(pool: PgPool) {
    let closed = pool.clone();
    let pool = Pool::Postgres(pool);
    while !closed.is_closed() {
        match release(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(leases = n, "released the leases of a stopped replica"),
            Err(e) if e.is_closed() || closed.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "could not look for leases of stopped replicas"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One pass; how many leases it released. Others hear of them through NOTIFY.
async fn release(pool: &Pool) -> super::Result<u64> {
    let mut tx = pool.begin().await?;
    let items = db::query(RELEASE_OUTBOX).execute(&mut tx).await?;
    let timers = db::query(RELEASE_TIMERS).execute(&mut tx).await?;
    if items + timers > 0 {
        let payload = listen::payloads(&[Wake::Outbox, Wake::Timers]);
        for p in payload {
            db::query("SELECT pg_notify(?, ?)")
                .bind(listen::CHANNEL)
                .bind(p)
                .execute(&mut tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(items + timers)
}
