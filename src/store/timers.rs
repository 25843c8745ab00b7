//! Timer rows: armed after every step from the escalation's derived timers; the timer worker reads what is due.

use super::db;
use super::db::{Backend, Pool};
use super::{Result, Tx, batch, from_ms, ms};
use crate::domain::timers::Timer;
use crate::domain::{EscalationId, Time};

/// Replaces the armed timers of these escalations (none once decided): the rows of those
/// that had some (`existing`) are cleared, then every new row is inserted.
pub(super) async fn replace(
    tx: &mut Tx,
    existing: &[&EscalationId],
    timers: &[(&EscalationId, &[Timer])],
) -> Result<()> {
    let existing: Vec<&str> = existing.iter().map(|id| id.as_str()).collect();
    batch::execute_in(
        tx,
        "DELETE FROM timers WHERE escalation_id IN ({})",
        None,
        &existing,
    )
    .await?;
    let rows: Vec<(&EscalationId, &Timer)> = timers
        .iter()
        .flat_map(|(id, ts)| ts.iter().map(move |t| (*id, t)))
        .collect();
    for chunk in batch::chunks(&rows) {
        let mut q = batch::query(format!(
            "INSERT INTO timers (escalation_id, kind, stage, due_at) VALUES {}",
            batch::values(chunk.len(), 4)
        ));
        for (id, t) in chunk {
            q = q
                .bind(id.as_str())
                .bind(t.kind.as_str())
                .bind(t.stage.map(|s| s as i64))
                .bind(ms(t.due));
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// A page of due timers after a cursor, in `timers_due` index order.
pub(super) const DUE: &str = "SELECT escalation_id, due_at FROM timers
     WHERE due_at <= ? AND (due_at, escalation_id) > (?, ?)
     ORDER BY due_at, escalation_id LIMIT ?";
/// The earliest armed timer: the first entry of `timers_due`.
pub(super) const NEXT_DUE: &str = "SELECT MIN(due_at) FROM timers";

/// PostgreSQL: claims a page of due timers for this replica until `lease_until`. Rows
/// another replica holds (a live lease, or a row lock while it claims) are skipped, so
/// each due timer is worked by one replica; a lease that runs out (its replica died
/// mid-tick) makes the row claimable again, and this replica may always take back its own
/// (a tick that failed is retried at once, not a lease later). The step that handles the
/// timer rewrites the escalation's timer rows, which clears the lease.
const CLAIM_DUE: &str = "UPDATE timers SET lease_until = ?, leased_by = ?
     WHERE (escalation_id, kind) IN (
       SELECT escalation_id, kind FROM timers
       WHERE due_at <= ? AND (due_at, escalation_id) > (?, ?)
         AND (lease_until IS NULL OR lease_until <= ? OR leased_by = ?)
       ORDER BY due_at, escalation_id LIMIT ?
       FOR UPDATE SKIP LOCKED)
     RETURNING escalation_id, due_at";
/// PostgreSQL: when this replica should look again — the earliest timer unleased or leased
/// to itself, or the earliest lease of another replica to run out (a timer another replica
/// holds is not due for us before).
const NEXT_DUE_LEASED: &str = "SELECT LEAST(
       (SELECT MIN(due_at) FROM timers WHERE lease_until IS NULL OR leased_by = ?),
       (SELECT MIN(GREATEST(due_at, lease_until)) FROM timers
        WHERE lease_until IS NOT NULL AND leased_by <> ?))";

/// How long a claimed timer stays with the replica that claimed it.
pub const LEASE_MS: i64 = 60_000;

/// One page of due timers.
pub struct DuePage {
    /// Escalations with a timer due, most overdue first; each listed once.
    pub escalations: Vec<(EscalationId, Time)>,
    /// The page hit its limit: more may be due.
    pub full: bool,
    /// Where the next page starts.
    pub next: Option<Cursor>,
}

/// A position in the due-timers order (`due_at`, then escalation id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    due_at: i64,
    escalation_id: String,
}

/// Escalations with a timer due at `now`, after `after` (the start when `None`); on
/// PostgreSQL claimed for this replica (see [`CLAIM_DUE`]). Walks
/// the `timers_due` index in order and stops after `limit` rows, so a page costs the
/// same however many timers are due; the cursor lets the next page be read before this
/// one's escalations are ticked.
pub(super) async fn due(
    pool: &Pool,
    owner: &str,
    now: Time,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<DuePage> {
    let after_due = after.map_or(i64::MIN, |c| c.due_at);
    let after_id = after.map_or("", |c| c.escalation_id.as_str());
    let rows: Vec<(String, i64)> = match pool.backend() {
        Backend::Sqlite => {
            db::query_as(DUE)
                .bind(ms(now))
                .bind(after_due)
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
        Backend::Postgres => {
            let mut rows: Vec<(String, i64)> = db::query_as(CLAIM_DUE)
                .bind(ms(now) + LEASE_MS)
                .bind(owner)
                .bind(ms(now))
                .bind(after_due)
                .bind(after_id)
                .bind(ms(now))
                .bind(owner)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            rows
        }
    };
    let full = rows.len() as u32 == limit;
    let next = rows.last().map(|(id, due)| Cursor {
        due_at: *due,
        escalation_id: id.clone(),
    });
    let mut seen = std::collections::HashSet::new();
    let escalations = rows
        .into_iter()
        .filter(|(id, _)| seen.insert(id.clone()))
        .map(|(id, due)| (EscalationId(id), from_ms(due)))
        .collect();
    Ok(DuePage {
        escalations,
        full,
        next,
    })
}

/// The earliest armed timer, so the worker sleeps exactly until then.
pub(super) async fn next_due(pool: &Pool, owner: &str) -> Result<Option<Time>> {
    let sql = match pool.backend() {
        Backend::Sqlite => NEXT_DUE,
        Backend::Postgres => NEXT_DUE_LEASED,
    };
    let mut q = db::query_scalar(sql);
    if pool.backend() == Backend::Postgres {
        q = q.bind(owner).bind(owner);
    }
    let due: Option<i64> = q.fetch_one(pool).await?;
    Ok(due.map(from_ms))
}

/// The earliest armed timer, leased or not: how overdue the oldest one is (a gauge).
pub(super) async fn earliest(pool: &Pool) -> Result<Option<Time>> {
    let due: Option<i64> = db::query_scalar(NEXT_DUE).fetch_one(pool).await?;
    Ok(due.map(from_ms))
}

pub(super) async fn count(pool: &Pool) -> Result<i64> {
    db::query_scalar("SELECT COUNT(*) FROM timers")
        .fetch_one(pool)
        .await
}
