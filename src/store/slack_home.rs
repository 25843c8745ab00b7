//! The Slack App Home tab's bookkeeping: who opened it (so their view is republished
//! when their queue changes), Events API deliveries already taken (so a retry does
//! nothing twice), and the queue a Home view shows, newest first.

use super::db;
use super::outbox::{NewItem, Queued};
use super::{Result, Store, escalations, ms, outbox};
use crate::domain::{Escalation, EscalationId, ReviewerId, Time};
use serde_json::Value;

/// How long an event id is remembered: Slack retries a delivery three times, the last
/// about five minutes after the first; an hour leaves a wide margin.
const EVENT_MEMORY_MS: i64 = 60 * 60 * 1000;

/// The open outbox items queued after `id` under the same ordering key, by the
/// `outbox_open_by_key` index.
pub(super) const NEWER_OPEN: &str = "SELECT payload FROM outbox
     WHERE ordering_key = ? AND id > ? AND delivered_at IS NULL AND failed_at IS NULL
     ORDER BY id";

/// What a reviewer's Home view lists: the newest escalations waiting on them, by the
/// `pending_reviews` primary key, read backwards.
pub(super) const NEWEST_PENDING: &str = "SELECT escalation_id FROM pending_reviews
     WHERE reviewer_id = ? ORDER BY escalation_id DESC LIMIT ?";

impl Store {
    /// Takes an Events API delivery once: `false` when `event_id` was already taken (a
    /// retry), and nothing is written. Otherwise `item` (if any) is queued in the same
    /// transaction, so a delivery is either taken with its work or not at all.
    pub async fn take_slack_event(
        &self,
        event_id: &str,
        item: Option<NewItem>,
        now: Time,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        db::query("DELETE FROM slack_events WHERE received_at < ?")
            .bind(ms(now) - EVENT_MEMORY_MS)
            .execute(tx.tx())
            .await?;
        let taken = db::query(
            "INSERT INTO slack_events (event_id, received_at) VALUES (?, ?)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(ms(now))
        .execute(tx.tx())
        .await?
            == 1;
        if taken && let Some(item) = item {
            // Not about one escalation: the column holds the empty id.
            tx.announce(super::Wake::Outbox);
            outbox::enqueue(tx.tx(), &[&Queued::new("", now, item)]).await?;
        }
        tx.commit().await?;
        Ok(taken)
    }

    /// Queues one outbox item outside any engine step (a Home view to republish after a
    /// click the engine refused).
    pub async fn queue_item(&self, item: NewItem, now: Time) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.announce(super::Wake::Outbox);
        outbox::enqueue(tx.tx(), &[&Queued::new("", now, item)]).await?;
        tx.commit().await
    }

    /// Remembers that this Slack user, reviewer `reviewer`, has opened the Home tab.
    pub async fn remember_home(
        &self,
        slack_user: &str,
        reviewer: &ReviewerId,
        now: Time,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        db::query(
            "INSERT INTO slack_home (slack_user_id, reviewer_id, opened_at) VALUES (?, ?, ?)
             ON CONFLICT (slack_user_id) DO UPDATE
               SET reviewer_id = excluded.reviewer_id, opened_at = excluded.opened_at",
        )
        .bind(slack_user)
        .bind(reviewer.as_str())
        .bind(ms(now))
        .execute(tx.tx())
        .await?;
        tx.commit().await
    }

    /// Every reviewer who has opened the Home tab.
    pub async fn home_reviewers(&self) -> Result<Vec<ReviewerId>> {
        let rows: Vec<(String,)> = db::query_as("SELECT DISTINCT reviewer_id FROM slack_home")
            .fetch_all(&self.readers)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(r,)| ReviewerId::from(r.as_str()))
            .collect())
    }

    /// The (Slack user, reviewer) pairs of these reviewers who have opened the Home tab.
    pub async fn home_users(&self, reviewers: &[ReviewerId]) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for chunk in super::batch::chunks(reviewers) {
            let sql = format!(
                "SELECT slack_user_id, reviewer_id FROM slack_home WHERE reviewer_id IN ({})",
                super::batch::list(chunk.len())
            );
            // Placeholders only, never a value (see `batch::query`).
            let mut q = db::query_as(sql);
            for r in chunk {
                q = q.bind(r.as_str());
            }
            found.extend(q.fetch_all(&self.readers).await?);
        }
        Ok(found)
    }

    /// The reviewer a Slack user was when they last opened the Home tab.
    pub async fn home_reviewer(&self, slack_user: &str) -> Result<Option<String>> {
        db::query_scalar("SELECT reviewer_id FROM slack_home WHERE slack_user_id = ?")
            .bind(slack_user)
            .fetch_optional(&self.readers)
            .await
    }

    /// The payloads of open items queued after `id` under `ordering_key`, oldest first.
    pub async fn newer_open_items(&self, ordering_key: &str, id: i64) -> Result<Vec<Value>> {
        let rows: Vec<String> = db::query_scalar(NEWER_OPEN)
            .bind(ordering_key)
            .bind(id)
            .fetch_all(&self.readers)
            .await?;
        Ok(rows
            .iter()
            .map(|p| serde_json::from_str(p).unwrap_or(Value::Null))
            .collect())
    }

    /// The newest `limit` escalations waiting on `reviewer`, newest first, and how many
    /// wait in all.
    pub async fn home_queue(
        &self,
        reviewer: &ReviewerId,
        limit: u32,
    ) -> Result<(Vec<Escalation>, u64)> {
        let mut conn = self.readers.acquire().await?;
        let total: i64 =
            db::query_scalar("SELECT COUNT(*) FROM pending_reviews WHERE reviewer_id = ?")
                .bind(reviewer.as_str())
                .fetch_one(&mut conn)
                .await?;
        let ids: Vec<String> = db::query_scalar(NEWEST_PENDING)
            .bind(reviewer.as_str())
            .bind(limit)
            .fetch_all(&mut conn)
            .await?;
        let ids: Vec<EscalationId> = ids.iter().filter_map(|s| EscalationId::parse(s)).collect();
        let mut found = escalations::get_many(db::Ex::Conn(&mut conn), &ids).await?;
        // Ids are ULIDs: newest first is the ids' descending order.
        found.sort_by(|a, b| b.id.as_str().cmp(a.id.as_str()));
        Ok((found, u64::try_from(total).unwrap_or(0)))
    }
}
