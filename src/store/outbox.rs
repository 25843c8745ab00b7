//! The durable outbox: deliveries written with the state change that caused them, claimed and retried by the outbox worker.

use super::db;
use super::db::{Backend, Pool};
use super::{Result, Store, Tx, batch, from_ms, ms};
use crate::domain::{ChannelKind, Time};
use serde_json::Value;
use std::borrow::Cow;
use std::time::Duration;

/// A delivery to make, planned by a channel inside the step's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub channel: ChannelKind,
    pub kind: String,
    /// Items sharing a key are delivered strictly in order.
    pub ordering_key: String,
    pub payload: Value,
    /// Stable across retries (webhook-id, Message-ID).
    pub message_id: String,
    pub priority: Priority,
    /// Who receives it ([`Item::destination`]): concurrency is bounded per destination.
    pub destination: String,
}

/// Which items are claimed first when many are ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Decisions to agents: an agent is blocked until it hears.
    Decision = 0,
    /// Notifications to reviewers.
    Notification = 1,
}

impl Priority {
    /// Claim order, most urgent first.
    pub const ALL: [Priority; 2] = [Priority::Decision, Priority::Notification];
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
    /// A callback's `host:port`, or the channel for Slack and email.
    pub destination: String,
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
    destination: String,
}

/// A planned item encoded for its row, before the write transaction.
#[derive(Debug, Clone)]
pub(super) struct Queued {
    escalation_id: String,
    channel: ChannelKind,
    kind: String,
    ordering_key: String,
    payload: String,
    message_id: String,
    created_at: i64,
    priority: i64,
    destination: String,
}

impl Queued {
    pub(super) fn new(escalation_id: &str, now: Time, item: NewItem) -> Self {
        Self {
            escalation_id: escalation_id.to_owned(),
            channel: item.channel,
            kind: item.kind,
            ordering_key: item.ordering_key,
            payload: item.payload.to_string(),
            message_id: item.message_id,
            created_at: ms(now),
            priority: item.priority as i64,
            destination: item.destination,
        }
    }
}

/// Enqueues items, a few multi-row statements for the whole batch. Ids follow the order
/// given: items sharing an ordering key are delivered in id order.
pub(super) async fn enqueue(tx: &mut Tx, items: &[&Queued]) -> Result<()> {
    for chunk in batch::chunks(items) {
        let mut q = batch::query(format!(
            "INSERT INTO outbox (escalation_id, channel, kind, ordering_key, payload, message_id,
                                 created_at, next_attempt_at, priority, destination)
             VALUES {}",
            batch::values(chunk.len(), 10)
        ));
        for item in chunk {
            q = q
                .bind(item.escalation_id.as_str())
                .bind(item.channel.as_str())
                .bind(item.kind.as_str())
                .bind(item.ordering_key.as_str())
                .bind(item.payload.as_str())
                .bind(item.message_id.as_str())
                .bind(item.created_at)
                .bind(item.created_at)
                .bind(item.priority)
                .bind(item.destination.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Ready items of one priority, oldest first, skipping any whose ordering key has an
/// earlier open item and any whose destination is saturated: the partial index
/// `outbox_ready_by_priority` holds only open items, `outbox_open_by_key` answers the
/// ordering check. The saturated destinations come as one parameter, each framed by
/// newlines (`\nslack\nemail\n`), so one prepared statement serves any number of them.
pub(super) const CLAIM: &str =
    "SELECT o.id, o.escalation_id, o.channel, o.kind, o.payload, o.message_id,
            o.created_at, o.attempts + 1 AS attempts, o.destination
     FROM outbox o
     WHERE o.delivered_at IS NULL AND o.failed_at IS NULL
       AND o.priority = ? AND o.next_attempt_at <= ?
       AND instr(?, char(10) || o.destination || char(10)) = 0
       AND NOT EXISTS (
         SELECT 1 FROM outbox p
         WHERE p.ordering_key = o.ordering_key AND p.id < o.id
           AND p.delivered_at IS NULL AND p.failed_at IS NULL)
     ORDER BY o.next_attempt_at, o.id LIMIT ?";
/// When the next open item is due: the first entry of `outbox_ready`.
pub(super) const NEXT_READY: &str =
    "SELECT MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL";

/// What one claim may take.
pub struct Claim<'a> {
    pub now: Time,
    /// The most items to take.
    pub limit: usize,
    /// How long a claimed item stays invisible; a crash mid-delivery retries it after this
    /// (or at once when the next process starts, see [`Store::release_leases`]).
    pub lease: Duration,
    /// The process taking the leases.
    pub owner: &'a str,
    /// Destinations with no free slot: their items are left unclaimed, so they hold no lease.
    pub saturated: &'a [String],
}

impl Store {
    /// Claims up to `claim.limit` ready items, decisions before notifications, each
    /// leased (pushed forward) to `claim.owner`. An item waits while an earlier one with
    /// its ordering key is open. `admit` is asked for each candidate's destination and
    /// may refuse it (that destination has just filled up): refused items stay unclaimed.
    pub async fn claim_outbox(
        &self,
        claim: Claim<'_>,
        mut admit: impl FnMut(&str) -> bool + Send,
    ) -> Result<Vec<Item>> {
        let mut tx = self.begin().await?;
        let mut skip = String::from("\n");
        for d in claim.saturated {
            skip.push_str(d);
            skip.push('\n');
        }
        let mut taken: Vec<Row> = Vec::new();
        for priority in Priority::ALL {
            let room = claim.limit.saturating_sub(taken.len());
            if room == 0 {
                break;
            }
            // Candidates beyond `room`: some may be refused by `admit`.
            // PostgreSQL: rows another replica is claiming right now are skipped, not
            // waited for; once it commits, their pushed-forward lease keeps them out.
            let sql = match tx.tx().backend() {
                Backend::Sqlite => Cow::Borrowed(CLAIM),
                Backend::Postgres => Cow::Owned(format!("{CLAIM} FOR UPDATE OF o SKIP LOCKED")),
            };
            let rows: Vec<Row> = db::query_as(sql)
                .bind(priority as i64)
                .bind(ms(claim.now))
                .bind(skip.as_str())
                .bind((room * 2) as i64)
                .fetch_all(tx.tx())
                .await?;
            for row in rows {
                if taken.len() < claim.limit && admit(&row.destination) {
                    taken.push(row);
                }
            }
        }
        let lease_until = ms(claim.now) + claim.lease.as_millis() as i64;
        let ids: Vec<i64> = taken.iter().map(|r| r.id).collect();
        for chunk in batch::chunks(&ids) {
            let mut q = batch::query(format!(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, leased_by = ?
                 WHERE id IN ({})",
                batch::list(chunk.len())
            ))
            .bind(lease_until)
            .bind(claim.owner.to_owned());
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(tx.tx()).await?;
        }
        tx.commit().await?;
        Ok(taken
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
                destination: r.destination,
            })
            .collect())
    }

    /// Makes every item leased by another process ready now. Run at start-up: on SQLite
    /// one process serves a database file, so such a lease belongs to a process that
    /// died mid-delivery, and its items should not wait out the lease.
    /// On PostgreSQL other replicas are alive and hold their leases rightly: nothing is
    /// released; a dead replica's leases run out on their own.
    pub async fn release_leases(&self, owner: &str, now: Time) -> Result<u64> {
        if self.backend() == Backend::Postgres {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let released = db::query(
            "UPDATE outbox SET next_attempt_at = ?, leased_by = NULL
             WHERE delivered_at IS NULL AND failed_at IS NULL
               AND leased_by IS NOT NULL AND leased_by <> ?",
        )
        .bind(ms(now))
        .bind(owner)
        .execute(tx.tx())
        .await?;
        tx.commit().await?;
        Ok(released)
    }
}

/// Marks items delivered, a few statements for the whole batch.
pub(super) async fn mark_delivered(tx: &mut Tx, ids: &[i64], now: Time) -> Result<()> {
    batch::execute_in(
        tx,
        "UPDATE outbox SET delivered_at = ?, last_error = NULL, leased_by = NULL WHERE id IN ({})",
        Some(ms(now)),
        ids,
    )
    .await
}

pub(super) async fn mark_retry(tx: &mut Tx, id: i64, at: Time, error: &str) -> Result<()> {
    db::query(
        "UPDATE outbox SET next_attempt_at = ?, last_error = ?, leased_by = NULL WHERE id = ?",
    )
    .bind(ms(at))
    .bind(error)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(super) async fn mark_failed(tx: &mut Tx, id: i64, now: Time, error: &str) -> Result<()> {
    db::query("UPDATE outbox SET failed_at = ?, last_error = ?, leased_by = NULL WHERE id = ?")
        .bind(ms(now))
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Undelivered, not given up: the outbox depth metric.
pub(super) async fn depth(pool: &Pool) -> Result<i64> {
    db::query_scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL")
        .fetch_one(pool)
        .await
}

/// When the next item becomes ready, so the worker sleeps until then.
pub(super) async fn next_ready(pool: &Pool) -> Result<Option<Time>> {
    let at: Option<i64> = db::query_scalar(NEXT_READY).fetch_one(pool).await?;
    Ok(at.map(from_ms))
}
