//! Timer rows: armed after every step from the escalation's derived timers; the timer worker reads what is due.

use super::{Result, Tx, from_ms, ms};
use crate::domain::timers::Timer;
use crate::domain::{EscalationId, Time};
use sqlx::SqlitePool;

/// Replaces the escalation's armed timers with `timers` (empty once decided).
pub async fn replace(tx: &mut Tx, id: &EscalationId, timers: &[Timer]) -> Result<()> {
    sqlx::query("DELETE FROM timers WHERE escalation_id = ?")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    for t in timers {
        sqlx::query("INSERT INTO timers (escalation_id, kind, stage, due_at) VALUES (?, ?, ?, ?)")
            .bind(id.as_str())
            .bind(t.kind.as_str())
            .bind(t.stage.map(|s| s as i64))
            .bind(ms(t.due))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Escalations with at least one timer due at `now`, most overdue first.
pub async fn due(pool: &SqlitePool, now: Time, limit: u32) -> Result<Vec<(EscalationId, Time)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT escalation_id, MIN(due_at) AS due FROM timers WHERE due_at <= ?
         GROUP BY escalation_id ORDER BY due LIMIT ?",
    )
    .bind(ms(now))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, due)| (EscalationId(id), from_ms(due)))
        .collect())
}

/// The earliest armed timer, so the worker sleeps exactly until then.
pub async fn next_due(pool: &SqlitePool) -> Result<Option<Time>> {
    let due: Option<i64> = sqlx::query_scalar("SELECT MIN(due_at) FROM timers")
        .fetch_one(pool)
        .await?;
    Ok(due.map(from_ms))
}

pub async fn count(pool: &SqlitePool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM timers")
        .fetch_one(pool)
        .await?)
}
