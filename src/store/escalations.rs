//! Escalation rows: the aggregate as JSON plus the columns queries filter on.

use super::{Result, StoreError, Tx, ms};
use crate::domain::{AgentId, Escalation, EscalationId, ReviewerId};
use sqlx::{Executor, Sqlite, SqlitePool};

pub async fn insert(tx: &mut Tx, esc: &Escalation) -> Result<()> {
    sqlx::query(
        "INSERT INTO escalations (id, agent_id, idempotency_key, workflow_id, intent, status,
                                  revision, created_at, decided_at, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(esc.id.as_str())
    .bind(esc.agent_id.as_str())
    .bind(esc.idempotency_key.as_deref())
    .bind(&esc.workflow.id)
    .bind(&esc.request.intent)
    .bind(esc.status.as_str())
    .bind(esc.revision)
    .bind(ms(esc.created_at))
    .bind(esc.decision.as_ref().map(|d| ms(d.decided_at)))
    .bind(encode(esc)?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn update(tx: &mut Tx, esc: &Escalation) -> Result<()> {
    sqlx::query(
        "UPDATE escalations SET status = ?, revision = ?, decided_at = ?, state = ? WHERE id = ?",
    )
    .bind(esc.status.as_str())
    .bind(esc.revision)
    .bind(esc.decision.as_ref().map(|d| ms(d.decided_at)))
    .bind(encode(esc)?)
    .bind(esc.id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get<'e, E>(db: E, id: &EscalationId) -> Result<Option<Escalation>>
where
    E: Executor<'e, Database = Sqlite>,
{
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM escalations WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(db)
        .await?;
    state.map(|s| decode(&s)).transpose()
}

pub async fn find_by_idempotency_key(
    tx: &mut Tx,
    agent: &AgentId,
    key: &str,
) -> Result<Option<Escalation>> {
    let state: Option<String> = sqlx::query_scalar(
        "SELECT state FROM escalations WHERE agent_id = ? AND idempotency_key = ?",
    )
    .bind(agent.as_str())
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    state.map(|s| decode(&s)).transpose()
}

/// Rewrites who may vote on this escalation now.
pub async fn replace_pending_reviews(
    tx: &mut Tx,
    id: &EscalationId,
    reviewers: &[ReviewerId],
) -> Result<()> {
    sqlx::query("DELETE FROM pending_reviews WHERE escalation_id = ?")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    for r in reviewers {
        sqlx::query("INSERT INTO pending_reviews (reviewer_id, escalation_id) VALUES (?, ?)")
            .bind(r.as_str())
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Escalations waiting on this reviewer, oldest first.
pub async fn pending_for_reviewer(
    pool: &SqlitePool,
    reviewer: &ReviewerId,
    limit: u32,
) -> Result<Vec<Escalation>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT e.state FROM pending_reviews p JOIN escalations e ON e.id = p.escalation_id
         WHERE p.reviewer_id = ? ORDER BY p.escalation_id LIMIT ?",
    )
    .bind(reviewer.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|s| decode(s)).collect()
}

/// The latest decided escalations with this intent, newest first, for reviewers' context.
pub async fn recent_decisions<'e, E>(db: E, intent: &str, limit: u32) -> Result<Vec<Escalation>>
where
    E: Executor<'e, Database = Sqlite>,
{
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT state FROM escalations WHERE intent = ? AND decided_at IS NOT NULL
         ORDER BY decided_at DESC LIMIT ?",
    )
    .bind(intent)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(|s| decode(s)).collect()
}

pub async fn count_by_status(pool: &SqlitePool) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT status, COUNT(*) FROM escalations GROUP BY status")
            .fetch_all(pool)
            .await?,
    )
}

fn encode(esc: &Escalation) -> Result<String> {
    serde_json::to_string(esc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(state: &str) -> Result<Escalation> {
    serde_json::from_str(state).map_err(|e| StoreError::Corrupt(e.to_string()))
}
