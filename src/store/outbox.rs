//! The durable outbox: deliveries written with the state change that caused them, claimed and retried by the outbox worker.

use super::{Result, Store, Tx, batch, from_ms, ms};
use crate::domain::Time;
use serde_json::Value;
use sqlx::SqlitePool;
use std::time::Duration;

/// A delivery to make, planned by a channel inside the step's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub channel: &'static str,
    pub kind: String,
    /// Items sharing a key are delivered strictly in order.
    pub ordering_key: String,
    pub payload: Value,
    /// Stable across retries (webhook-id, Message-ID).
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: i64,
    pub escalation_id: String,
    pub channel: String,
    pub kind: String,
    pub payload: Value,
    pub message_id: String,
    pub created_at: Time,
    /// Including the attempt now being made.
    pub attempts: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    escalation_id: String,
    channel: String,
    kind: String,
    payload: String,
    message_id: String,
    created_at: i64,
    attempts: i64,
}

/// A planned item encoded for its row, before the write transaction.
#[derive(Debug, Clone)]
pub struct Queued {
    escalation_id: String,
    channel: &'static str,
    kind: String,
    ordering_key: String,
    payload: String,
    message_id: String,
    created_at: i64,
}

impl Queued {
    pub fn new(escalation_id: &str, now: Time, item: NewItem) -> Self {
        Self {
            escalation_id: escalation_id.to_owned(),
            channel: item.channel,
            kind: item.kind,
            ordering_key: item.ordering_key,
            payload: item.payload.to_string(),
            message_id: item.message_id,
            created_at: ms(now),
        }
    }
}

/// Enqueues items, a few multi-row statements for the whole batch. Ids follow the order
/// given: items sharing an ordering key are delivered in id order.
pub async fn enqueue(tx: &mut Tx, items: &[&Queued]) -> Result<()> {
    for chunk in batch::chunks(items) {
        let mut q = batch::query(format!(
            "INSERT INTO outbox (escalation_id, channel, kind, ordering_key, payload, message_id,
                                 created_at, next_attempt_at)
             VALUES {}",
            batch::values(chunk.len(), 8)
        ));
        for item in chunk {
            q = q
                .bind(item.escalation_id.as_str())
                .bind(item.channel)
                .bind(item.kind.as_str())
                .bind(item.ordering_key.as_str())
                .bind(item.payload.as_str())
                .bind(item.message_id.as_str())
                .bind(item.created_at)
                .bind(item.created_at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Ready items, oldest first, skipping any whose ordering key has an earlier open item:
/// the partial index `outbox_ready` holds only open items, `outbox_open_by_key` answers
/// the ordering check.
pub(super) const CLAIM: &str =
    "SELECT o.id, o.escalation_id, o.channel, o.kind, o.payload, o.message_id,
            o.created_at, o.attempts + 1 AS attempts
     FROM outbox o
     WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= ?
       AND NOT EXISTS (
         SELECT 1 FROM outbox p
         WHERE p.ordering_key = o.ordering_key AND p.id < o.id
           AND p.delivered_at IS NULL AND p.failed_at IS NULL)
     ORDER BY o.next_attempt_at, o.id LIMIT ?";
/// When the next open item is due: the first entry of `outbox_ready`.
pub(super) const NEXT_READY: &str =
    "SELECT MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL";

impl Store {
    /// Claims up to `limit` ready items: each is leased for `lease` (pushed
    /// forward), so a crash mid-delivery retries it after the lease instead of
    /// losing it. An item waits while an earlier one with its ordering key is open.
    pub async fn claim_outbox(&self, now: Time, limit: u32, lease: Duration) -> Result<Vec<Item>> {
        let mut tx = self.begin().await?;
        let rows: Vec<Row> = sqlx::query_as(CLAIM)
            .bind(ms(now))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let lease_until = ms(now) + lease.as_millis() as i64;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        batch::execute_in(
            &mut tx,
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id IN ({})",
            Some(lease_until),
            &ids,
        )
        .await?;
        self.commit(tx).await?;
        Ok(rows
            .into_iter()
            .map(|r| Item {
                id: r.id,
                escalation_id: r.escalation_id,
                channel: r.channel,
                kind: r.kind,
                payload: serde_json::from_str(&r.payload).unwrap_or(Value::Null),
                message_id: r.message_id,
                created_at: from_ms(r.created_at),
                attempts: r.attempts,
            })
            .collect())
    }
}

/// Marks items delivered, a few statements for the whole batch.
pub async fn mark_delivered(tx: &mut Tx, ids: &[i64], now: Time) -> Result<()> {
    batch::execute_in(
        tx,
        "UPDATE outbox SET delivered_at = ?, last_error = NULL WHERE id IN ({})",
        Some(ms(now)),
        ids,
    )
    .await
}

pub async fn mark_retry(tx: &mut Tx, id: i64, at: Time, error: &str) -> Result<()> {
    sqlx::query("UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE id = ?")
        .bind(ms(at))
        .bind(error)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn mark_failed(tx: &mut Tx, id: i64, now: Time, error: &str) -> Result<()> {
    sqlx::query("UPDATE outbox SET failed_at = ?, last_error = ? WHERE id = ?")
        .bind(ms(now))
        .bind(error)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Undelivered, not given up: the outbox depth metric.
pub async fn depth(pool: &SqlitePool) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
    )
    .fetch_one(pool)
    .await?)
}

/// When the next item becomes ready, so the worker sleeps until then.
pub async fn next_ready(pool: &SqlitePool) -> Result<Option<Time>> {
    let at: Option<i64> = sqlx::query_scalar(NEXT_READY).fetch_one(pool).await?;
    Ok(at.map(from_ms))
}
