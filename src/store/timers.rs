//! Timer rows: armed after every step from the escalation's derived timers; the timer worker reads what is due.

use super::{Result, Tx, batch, from_ms, ms};
use crate::domain::timers::Timer;
use crate::domain::{EscalationId, Time};
use sqlx::SqlitePool;

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
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A page of due timers after a cursor, in `timers_due` index order.
pub(super) const DUE: &str = "SELECT escalation_id, due_at FROM timers
     WHERE due_at <= ? AND (due_at, escalation_id) > (?, ?)
     ORDER BY due_at, escalation_id LIMIT ?";
/// The earliest armed timer: the first entry of `timers_due`.
pub(super) const NEXT_DUE: &str = "SELECT MIN(due_at) FROM timers";

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

/// Escalations with a timer due at `now`, after `after` (the start when `None`). Walks
/// the `timers_due` index in order and stops after `limit` rows, so a page costs the
/// same however many timers are due; the cursor lets the next page be read before this
/// one's escalations are ticked.
pub(super) async fn due(
    pool: &SqlitePool,
    now: Time,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<DuePage> {
    let rows: Vec<(String, i64)> = sqlx::query_as(DUE)
        .bind(ms(now))
        .bind(after.map_or(i64::MIN, |c| c.due_at))
        .bind(after.map_or("", |c| c.escalation_id.as_str()))
        .bind(limit)
        .fetch_all(pool)
        .await?;
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
pub(super) async fn next_due(pool: &SqlitePool) -> Result<Option<Time>> {
    let due: Option<i64> = sqlx::query_scalar(NEXT_DUE).fetch_one(pool).await?;
    Ok(due.map(from_ms))
}

pub(super) async fn count(pool: &SqlitePool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM timers")
        .fetch_one(pool)
        .await?)
}
