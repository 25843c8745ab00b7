//! Every read the rest of the program makes, as typed methods on the readers' pool. Under
//! WAL a reader never waits for the writer and sees the last commit.

use super::audit::{self, Verdict};
use super::slack::{self, MessageRef};
use super::timers::{self, Cursor, DuePage};
use super::{Result, Store, escalations, outbox};
use crate::domain::{Escalation, EscalationId, ReviewerId, Time};
use serde_json::Value;

impl Store {
    pub async fn escalation(&self, id: &EscalationId) -> Result<Option<Escalation>> {
        escalations::get(&self.readers, id).await
    }

    /// Several escalations as of one snapshot (work done on them is checked against
    /// their revision when it is written). Unknown ids are absent from the answer.
    pub async fn escalations(&self, ids: &[EscalationId]) -> Result<Vec<Escalation>> {
        let mut conn = self.readers.acquire().await?;
        escalations::get_many(super::db::Ex::Conn(&mut conn), ids).await
    }

    /// Escalations waiting on this reviewer, oldest first.
    pub async fn pending_for_reviewer(
        &self,
        reviewer: &ReviewerId,
        limit: u32,
    ) -> Result<Vec<Escalation>> {
        escalations::pending_for_reviewer(&self.readers, reviewer, limit).await
    }

    /// The latest decided escalations with this intent, newest first.
    pub async fn recent_decisions(&self, intent: &str, limit: u32) -> Result<Vec<Escalation>> {
        escalations::recent_decisions(&self.readers, intent, limit).await
    }

    /// Escalations with a timer due at `now`, a page after `after` (see [`timers::due`]).
    pub async fn due_timers(
        &self,
        now: Time,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<DuePage> {
        timers::due(&self.readers, &self.owner, now, after, limit).await
    }

    /// The earliest armed timer, so the timer worker sleeps exactly until then.
    pub async fn next_due_timer(&self) -> Result<Option<Time>> {
        timers::next_due(&self.readers, &self.owner).await
    }

    /// How many timers are armed.
    pub async fn armed_timers(&self) -> Result<i64> {
        timers::count(&self.readers).await
    }

    /// When the next outbox item becomes ready, so the outbox worker sleeps until then.
    pub async fn next_outbox_ready(&self) -> Result<Option<Time>> {
        outbox::next_ready(&self.readers).await
    }

    /// The Slack message an outbox item already posted, if any.
    pub async fn slack_message_for_item(&self, item_id: &str) -> Result<Option<MessageRef>> {
        slack::message_for_item(&self.readers, item_id).await
    }

    /// Every Slack message sent for an escalation, oldest first.
    pub async fn slack_messages(&self, escalation_id: &str) -> Result<Vec<MessageRef>> {
        slack::messages(&self.readers, escalation_id).await
    }

    /// The Slack user id found for this reviewer, as long as their email has not changed.
    pub async fn slack_user(&self, reviewer: &ReviewerId, email: &str) -> Result<Option<String>> {
        slack::cached_user(&self.readers, reviewer, email).await
    }

    /// The (reviewer, email) pairs a Slack user id was resolved to (normally at most one).
    pub async fn reviewers_for_slack_user(
        &self,
        slack_user: &str,
    ) -> Result<Vec<(String, String)>> {
        slack::reviewers_for_user(&self.readers, slack_user).await
    }

    /// Every cached reviewer → Slack user pair, for rendering mentions.
    pub async fn slack_users(&self) -> Result<Vec<(String, String)>> {
        slack::all_users(&self.readers).await
    }

    /// Walks the whole audit chain in one read transaction (a consistent snapshot, safe
    /// while `serve` writes) and names the first bad event.
    pub async fn verify_audit(&self) -> Result<Verdict> {
        audit::verify(&self.readers).await
    }

    /// One escalation's audit events (seq, kind, actor, data), oldest first.
    pub async fn audit_events(
        &self,
        escalation_id: &str,
    ) -> Result<Vec<(i64, String, Option<String>, Value)>> {
        audit::for_escalation(&self.readers, escalation_id).await
    }
}
