//! Slack bookkeeping: the messages posted per escalation (for `chat.update`) and
//! the Slack user ids found by email, so each reviewer is looked up once.

use super::db;
use super::db::Pool;
use super::{Result, Store, Tx, ms};
use crate::domain::{ReviewerId, Time};

/// A message we posted and may have to update.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageRef {
    pub id: i64,
    pub escalation_id: String,
    pub item_id: String,
    pub stage: i64,
    pub round: i64,
    pub reviewer_id: Option<String>,
    pub reason: String,
    pub channel: String,
    pub ts: String,
    pub content_hash: String,
}

/// What a successful `chat.postMessage` leaves behind.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub escalation_id: &'a str,
    pub item_id: &'a str,
    pub stage: usize,
    pub round: i64,
    pub reviewer_id: Option<&'a str>,
    pub reason: &'a str,
    pub channel: &'a str,
    pub ts: &'a str,
    pub content_hash: &'a str,
}

/// Records a posted message. A second record for the same outbox item is ignored,
/// so a retry after a lost acknowledgement cannot create a twin row.
async fn record_message(tx: &mut Tx, m: &NewMessage<'_>, now: Time) -> Result<()> {
    db::query(
        "INSERT INTO slack_messages (escalation_id, item_id, stage, round, reviewer_id, reason,
                                     channel, ts, content_hash, posted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (item_id) DO NOTHING",
    )
    .bind(m.escalation_id)
    .bind(m.item_id)
    .bind(m.stage as i64)
    .bind(m.round)
    .bind(m.reviewer_id)
    .bind(m.reason)
    .bind(m.channel)
    .bind(m.ts)
    .bind(m.content_hash)
    .bind(ms(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The message an outbox item already posted, if any.
pub(super) async fn message_for_item(pool: &Pool, item_id: &str) -> Result<Option<MessageRef>> {
    db::query_as(
        "SELECT id, escalation_id, item_id, stage, round, reviewer_id, reason, channel, ts, content_hash
         FROM slack_messages WHERE item_id = ?",
    )
    .bind(item_id)
    .fetch_optional(pool)
    .await
}

/// Every message sent for an escalation, oldest first.
pub(super) async fn messages(pool: &Pool, escalation_id: &str) -> Result<Vec<MessageRef>> {
    db::query_as(
        "SELECT id, escalation_id, item_id, stage, round, reviewer_id, reason, channel, ts, content_hash
         FROM slack_messages WHERE escalation_id = ? ORDER BY id",
    )
    .bind(escalation_id)
    .fetch_all(pool)
    .await
}

/// Remembers what a message now shows, after a successful `chat.update`.
async fn mark_updated(tx: &mut Tx, id: i64, content_hash: &str, now: Time) -> Result<()> {
    db::query("UPDATE slack_messages SET content_hash = ?, updated_at = ? WHERE id = ?")
        .bind(content_hash)
        .bind(ms(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The Slack user id found for this reviewer, as long as their email has not changed since.
pub(super) async fn cached_user(
    pool: &Pool,
    reviewer: &ReviewerId,
    email: &str,
) -> Result<Option<String>> {
    db::query_scalar(
        "SELECT slack_user FROM slack_users WHERE reviewer_id = ? AND lower(email) = lower(?)",
    )
    .bind(reviewer.as_str())
    .bind(email)
    .fetch_optional(pool)
    .await
}

/// The reviewers a Slack user id was resolved to (normally at most one).
pub(super) async fn reviewers_for_user(
    pool: &Pool,
    slack_user: &str,
) -> Result<Vec<(String, String)>> {
    db::query_as("SELECT reviewer_id, email FROM slack_users WHERE slack_user = ?")
        .bind(slack_user)
        .fetch_all(pool)
        .await
}

/// Every cached reviewer → Slack user pair, for rendering mentions.
pub(super) async fn all_users(pool: &Pool) -> Result<Vec<(String, String)>> {
    db::query_as("SELECT reviewer_id, slack_user FROM slack_users")
        .fetch_all(pool)
        .await
}

async fn remember_user(
    tx: &mut Tx,
    reviewer: &ReviewerId,
    email: &str,
    slack_user: &str,
    now: Time,
) -> Result<()> {
    db::query(
        "INSERT INTO slack_users (reviewer_id, email, slack_user, resolved_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (reviewer_id) DO UPDATE
           SET email = excluded.email, slack_user = excluded.slack_user,
               resolved_at = excluded.resolved_at",
    )
    .bind(reviewer.as_str())
    .bind(email)
    .bind(slack_user)
    .bind(ms(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The writes, each its own small transaction on the writer (they follow Slack calls, not
/// engine steps, so they share no transaction with a step).
impl Store {
    /// Records a posted message; a second record for the same outbox item is ignored.
    pub async fn record_slack_message(&self, m: &NewMessage<'_>, now: Time) -> Result<()> {
        let mut tx = self.begin().await?;
        record_message(tx.tx(), m, now).await?;
        tx.commit().await
    }

    /// Remembers what a message now shows, after a successful `chat.update`.
    pub async fn slack_message_updated(
        &self,
        id: i64,
        content_hash: &str,
        now: Time,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        mark_updated(tx.tx(), id, content_hash, now).await?;
        tx.commit().await
    }

    /// Remembers the Slack user id found for a reviewer (with the email it was found by).
    pub async fn remember_slack_user(
        &self,
        reviewer: &ReviewerId,
        email: &str,
        slack_user: &str,
        now: Time,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        remember_user(tx.tx(), reviewer, email, slack_user, now).await?;
        tx.commit().await
    }
}
