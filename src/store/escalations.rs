//! Escalation rows: the aggregate as JSON plus the columns queries filter on.

use super::db::{self, Ex, Pool};
use super::{Result, StoreError, Tx, batch, ms};
use crate::domain::{AgentId, Escalation, EscalationId, ReviewerId};
use std::collections::HashMap;

/// What waits on a reviewer: the `pending_reviews` primary key (reviewer, escalation)
/// gives both the filter and the order.
pub(super) const PENDING_FOR_REVIEWER: &str =
    "SELECT e.state FROM pending_reviews p JOIN escalations e ON e.id = p.escalation_id
     WHERE p.reviewer_id = ? ORDER BY p.escalation_id LIMIT ?";
/// The latest decisions for an intent, through `escalations_intent_decided`.
pub(super) const RECENT_DECISIONS: &str =
    "SELECT state FROM escalations WHERE intent = ? AND decided_at IS NOT NULL
     ORDER BY decided_at DESC LIMIT ?";

/// New state for `n` escalations, matched on the primary key and on the revision each
/// step was worked out from (optimistic check: a row that moved is left alone, and the
/// count of rows changed tells).
/// An agent's open escalations, from the counts the triggers of migration 0005 keep.
pub(super) const OPEN_FOR_AGENT: &str =
    "SELECT COALESCE((SELECT open FROM agent_open WHERE agent_id = ?), 0)";

pub(super) fn update_sql(n: usize) -> String {
    format!(
        "WITH v (id, base, status, revision, decided_at, state) AS (VALUES {})
         UPDATE escalations
         SET status = v.status, revision = v.revision, decided_at = v.decided_at,
             state = v.state
         FROM v WHERE escalations.id = v.id AND escalations.revision = v.base",
        batch::values(n, 6)
    )
}

/// `columns` of `n` escalations by id.
pub(super) fn by_ids_sql(columns: &str, n: usize) -> String {
    format!(
        "SELECT {columns} FROM escalations WHERE id IN ({})",
        batch::list(n)
    )
}

/// The escalations `n` (agent, idempotency key) pairs created, through the unique
/// partial index `escalations_idempotency`.
pub(super) fn idempotency_sql(n: usize) -> String {
    format!(
        "WITH k (agent_id, idempotency_key) AS (VALUES {})
         SELECT e.state FROM k CROSS JOIN escalations AS e
         WHERE e.agent_id = k.agent_id AND e.idempotency_key = k.idempotency_key",
        batch::values(n, 2)
    )
}

/// An escalation as stored: the columns queries filter on and the encoded aggregate.
/// Encoding is CPU work done before the write transaction, not while holding it.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub id: EscalationId,
    agent_id: String,
    idempotency_key: Option<String>,
    workflow_id: String,
    intent: String,
    pub(super) status: &'static str,
    /// The revision the step started from; `None` for a new escalation.
    base: Option<u32>,
    revision: u32,
    created_at: i64,
    decided_at: Option<i64>,
    state: String,
}

impl Record {
    pub(super) fn encode(e: &Escalation, base: Option<u32>) -> Result<Self> {
        Ok(Self {
            id: e.id.clone(),
            agent_id: e.agent_id.to_string(),
            idempotency_key: e.idempotency_key.clone(),
            workflow_id: e.workflow.id.clone(),
            intent: e.request.intent.clone(),
            status: e.status.as_str(),
            base,
            revision: e.revision,
            created_at: ms(e.created_at),
            decided_at: e.decision.as_ref().map(|d| ms(d.decided_at)),
            state: encode(e)?,
        })
    }

    pub(super) fn is_new(&self) -> bool {
        self.base.is_none()
    }
}

/// Inserts new escalations, a few multi-row statements for the whole batch.
pub(super) async fn insert(tx: &mut Tx, records: &[&Record]) -> Result<()> {
    for chunk in batch::chunks(records) {
        let mut q = batch::query(format!(
            "INSERT INTO escalations (id, agent_id, idempotency_key, workflow_id, intent, status,
                                      revision, created_at, decided_at, state)
             VALUES {}",
            batch::values(chunk.len(), 10)
        ));
        for r in chunk {
            q = q
                .bind(r.id.as_str())
                .bind(r.agent_id.as_str())
                .bind(r.idempotency_key.as_deref())
                .bind(r.workflow_id.as_str())
                .bind(r.intent.as_str())
                .bind(r.status)
                .bind(r.revision)
                .bind(r.created_at)
                .bind(r.decided_at)
                .bind(r.state.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Writes the new state of existing escalations, a few statements for the whole batch;
/// [`StoreError::Conflict`] if any of them is no longer at the revision its step started from.
pub(super) async fn update(tx: &mut Tx, records: &[&Record]) -> Result<()> {
    for chunk in batch::chunks(records) {
        let mut q = batch::query(update_sql(chunk.len()));
        for r in chunk {
            q = q
                .bind(r.id.as_str())
                .bind(r.base)
                .bind(r.status)
                .bind(r.revision)
                .bind(r.decided_at)
                .bind(r.state.as_str());
        }
        let changed = q.execute(&mut *tx).await?;
        if changed != chunk.len() as u64 {
            return Err(StoreError::Conflict);
        }
    }
    Ok(())
}

pub(super) async fn get(pool: &Pool, id: &EscalationId) -> Result<Option<Escalation>> {
    let state: Option<String> = db::query_scalar("SELECT state FROM escalations WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    state.map(|s| decode(&s)).transpose()
}

/// Several escalations, on a pooled connection (a snapshot to work from) or inside the
/// write transaction that will change them. Unknown ids are absent from the answer.
pub(super) async fn get_many(mut ex: Ex<'_>, ids: &[EscalationId]) -> Result<Vec<Escalation>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in batch::chunks(ids) {
        let mut q = db::query_scalar::<String>(by_ids_sql("state", chunk.len()));
        for id in chunk {
            q = q.bind(id.as_str());
        }
        for state in q.fetch_all(ex.reborrow()).await? {
            found.push(decode(&state)?);
        }
    }
    Ok(found)
}

/// The current revision of each of these escalations, to check that work done on an
/// earlier snapshot still applies.
pub(super) async fn revisions(
    tx: &mut Tx,
    ids: &[EscalationId],
) -> Result<HashMap<EscalationId, u32>> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in batch::chunks(ids) {
        let mut q = db::query_as::<(String, i64)>(by_ids_sql("id, revision", chunk.len()));
        for id in chunk {
            q = q.bind(id.as_str());
        }
        for (id, revision) in q.fetch_all(&mut *tx).await? {
            found.insert(EscalationId(id), revision as u32);
        }
    }
    Ok(found)
}

/// The escalations these (agent, idempotency key) pairs created, if any, through the
/// unique index on the pair.
pub(super) async fn find_by_idempotency_keys(
    tx: &mut Tx,
    keys: &[(&AgentId, &str)],
) -> Result<Vec<Escalation>> {
    let mut found = Vec::new();
    for chunk in batch::chunks(keys) {
        let mut q = db::query_scalar::<String>(idempotency_sql(chunk.len()));
        for (agent, key) in chunk {
            q = q.bind(agent.as_str()).bind(*key);
        }
        for state in q.fetch_all(&mut *tx).await? {
            found.push(decode(&state)?);
        }
    }
    Ok(found)
}

/// Rewrites who may vote on these escalations now: the rows of those that had some
/// (`existing`) are cleared, then every new row is inserted.
pub(super) async fn replace_pending_reviews(
    tx: &mut Tx,
    existing: &[&EscalationId],
    reviews: &[(&EscalationId, &[ReviewerId])],
) -> Result<()> {
    let existing: Vec<&str> = existing.iter().map(|id| id.as_str()).collect();
    batch::execute_in(
        tx,
        "DELETE FROM pending_reviews WHERE escalation_id IN ({})",
        None,
        &existing,
    )
    .await?;
    let rows: Vec<(&ReviewerId, &EscalationId)> = reviews
        .iter()
        .flat_map(|(id, reviewers)| reviewers.iter().map(move |r| (r, *id)))
        .collect();
    for chunk in batch::chunks(&rows) {
        let mut q = batch::query(format!(
            "INSERT INTO pending_reviews (reviewer_id, escalation_id) VALUES {}",
            batch::values(chunk.len(), 2)
        ));
        for (reviewer, id) in chunk {
            q = q.bind(reviewer.as_str()).bind(id.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Escalations waiting on this reviewer, oldest first.
pub(super) async fn pending_for_reviewer(
    pool: &Pool,
    reviewer: &ReviewerId,
    limit: u32,
) -> Result<Vec<Escalation>> {
    let rows: Vec<String> = db::query_scalar(PENDING_FOR_REVIEWER)
        .bind(reviewer.as_str())
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|s| decode(s)).collect()
}

/// The latest decided escalations with this intent, newest first, for reviewers' context.
pub(super) async fn recent_decisions(
    pool: &Pool,
    intent: &str,
    limit: u32,
) -> Result<Vec<Escalation>> {
    let rows: Vec<String> = db::query_scalar(RECENT_DECISIONS)
        .bind(intent)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|s| decode(s)).collect()
}

pub(super) async fn count_by_status(pool: &Pool) -> Result<Vec<(String, i64)>> {
    db::query_as("SELECT status, COUNT(*) FROM escalations GROUP BY status")
        .fetch_all(pool)
        .await
}

fn encode(esc: &Escalation) -> Result<String> {
    serde_json::to_string(esc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(state: &str) -> Result<Escalation> {
    let mut esc: Escalation =
        serde_json::from_str(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    esc.upgrade_stored();
    Ok(esc)
}

/// How many of this agent's escalations are still open (no decision yet), for `max_pending`.
/// Read inside the intake transaction, so concurrent intakes cannot both take the last place.
/// The count is kept by triggers (migration 0005), so this is one primary-key lookup
/// however many are open.
pub(super) async fn count_open_for_agent(tx: &mut Tx, agent: &AgentId) -> Result<u64> {
    let n: i64 = db::query_scalar(OPEN_FOR_AGENT)
        .bind(agent.as_str())
        .fetch_one(&mut *tx)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
