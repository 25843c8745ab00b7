//! Delivering Slack intents: post a request (DM or channel), or bring every message of an
//! escalation up to date. Both render from the escalation as stored now.

use super::SlackChannel;
use super::api::ApiError;
use super::blocks::{self, Rendered, Scope, View};
use super::refs::{StoredRound, Target, parse_reason, reason_str};
use crate::domain::{Escalation, EscalationId, NotifyReason, ReviewerId, eligibility};
use crate::store::outbox::Item;
use crate::store::{self, StoreError};
use std::collections::HashMap;
use std::time::Duration;

/// Mentions in a channel post are a nicety: look each awaited reviewer up briefly, once.
const MENTION_LOOKUP: Duration = Duration::from_secs(3);

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Transient(format!("database: {e}"))
    }
}

impl SlackChannel {
    /// How long one Web API call may take in the worker before it counts as failed
    /// (`delivery.timeout`).
    pub(super) fn call(&self) -> Duration {
        self.config.delivery.timeout
    }

    pub(super) async fn post(
        &self,
        item: &Item,
        stage: usize,
        round: i64,
        reason: NotifyReason,
        to: Target,
    ) -> Result<(), ApiError> {
        // A retry after Slack took the post but we lost the answer's bookkeeping.
        if self
            .store
            .slack_message_for_item(&item.message_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let Some(esc) = self.load(&item.escalation_id).await? else {
            return Err(ApiError::Permanent(
                "the escalation no longer exists".into(),
            ));
        };
        let opening = StoredRound(round).opening(&esc, stage);
        // Slack was down until after the stage closed: asking now would only be noise.
        if !esc.is_open(opening) {
            tracing::info!(escalation = %esc.id, stage, "stage closed before its Slack request went out; not posting");
            return Ok(());
        }
        let (conversation, viewer) = match to {
            Target::Reviewer(r) => {
                let user = self.slack_user(&r).await?;
                (self.api.open_dm(&user, self.call()).await?, Some(r))
            }
            Target::Channel(c) => {
                self.resolve_awaited(&esc).await;
                (c, None)
            }
        };
        let scope = Scope {
            opening,
            viewer: viewer.clone(),
            reason,
        };
        let rendered = self.render(&esc, &scope).await?;
        let (channel, ts) = self
            .api
            .post(&conversation, rendered.content(), self.call())
            .await?;
        let record = store::slack::NewMessage {
            escalation_id: esc.id.as_str(),
            item_id: &item.message_id,
            stage,
            round: i64::from(opening.round),
            reviewer_id: viewer.as_ref().map(ReviewerId::as_str),
            reason: reason_str(reason),
            channel: &channel,
            ts: &ts,
            content_hash: &rendered.hash(),
        };
        let now = chrono::Utc::now();
        if let Err(e) = self.store.record_slack_message(&record, now).await {
            // The reviewer has the message; failing the item would post it twice.
            tracing::error!(escalation = %esc.id, error = %e, "posted to Slack but could not record the message; it will not be updated");
        }
        Ok(())
    }

    /// Re-renders every message of the escalation and updates those whose content changed.
    /// A rate limit stops the pass (the retry resumes it: updated messages are skipped).
    pub(super) async fn sync(&self, item: &Item) -> Result<(), ApiError> {
        let Some(esc) = self.load(&item.escalation_id).await? else {
            return Ok(());
        };
        let messages = self.store.slack_messages(esc.id.as_str()).await?;
        if messages.is_empty() {
            return Ok(());
        }
        let (recent, slack_ids) = self.view_parts(&esc).await?;
        let view = View {
            esc: &esc,
            config: &self.config,
            dir: &self.dir,
            recent: &recent,
            slack_ids: &slack_ids,
        };
        let mut failed = None;
        for m in messages {
            let stage = usize::try_from(m.stage).unwrap_or(usize::MAX);
            let scope = Scope {
                opening: StoredRound(m.round).opening(&esc, stage),
                viewer: m.reviewer_id.as_deref().map(ReviewerId::from),
                reason: parse_reason(&m.reason),
            };
            let rendered = blocks::render(&view, &scope);
            let hash = rendered.hash();
            if hash == m.content_hash {
                continue;
            }
            match self
                .api
                .update(&m.channel, &m.ts, rendered.content(), self.call())
                .await
            {
                Ok(()) => {
                    let now = chrono::Utc::now();
                    self.store.slack_message_updated(m.id, &hash, now).await?
                }
                Err(e @ ApiError::RateLimited(_)) => return Err(e),
                Err(ApiError::Permanent(e)) => {
                    // Deleted by someone, or too old to edit: nothing a retry can fix.
                    tracing::warn!(escalation = %esc.id, channel = %m.channel, ts = %m.ts, error = %e, "Slack message cannot be updated");
                }
                Err(e) => failed = Some(e),
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn load(&self, id: &str) -> Result<Option<Escalation>, ApiError> {
        let Some(id) = EscalationId::parse(id) else {
            return Ok(None);
        };
        Ok(self.store.escalation(&id).await?)
    }

    async fn render(&self, esc: &Escalation, scope: &Scope) -> Result<Rendered, ApiError> {
        let (recent, slack_ids) = self.view_parts(esc).await?;
        let view = View {
            esc,
            config: &self.config,
            dir: &self.dir,
            recent: &recent,
            slack_ids: &slack_ids,
        };
        Ok(blocks::render(&view, scope))
    }

    /// The last decisions for the same intent, and the Slack ids known for mentions.
    async fn view_parts(
        &self,
        esc: &Escalation,
    ) -> Result<(Vec<Escalation>, HashMap<String, String>), ApiError> {
        let limit = blocks::RECENT as u32 + 1; // this escalation may be among them
        let recent = self
            .store
            .recent_decisions(&esc.request.intent, limit)
            .await?;
        let ids = self.store.slack_users().await?.into_iter().collect();
        Ok((recent, ids))
    }

    /// The reviewer's Slack user: from the config, from an earlier lookup, or by email once.
    pub(super) async fn slack_user(&self, reviewer: &ReviewerId) -> Result<String, ApiError> {
        let Some(cfg) = self.config.reviewer(reviewer.as_str()) else {
            return Err(ApiError::Permanent(format!(
                "reviewer {reviewer} is no longer configured"
            )));
        };
        if let Some(user) = &cfg.slack_user {
            return Ok(user.clone());
        }
        if let Some(user) = self.store.slack_user(reviewer, &cfg.email).await? {
            return Ok(user);
        }
        match self.api.lookup_by_email(&cfg.email, self.call()).await? {
            Some(user) => {
                let now = chrono::Utc::now();
                (self.store)
                    .remember_slack_user(reviewer, &cfg.email, &user, now)
                    .await?;
                Ok(user)
            }
            None => Err(ApiError::Permanent(format!(
                "no Slack user has the email of reviewer {reviewer}; set slack_user in the config"
            ))),
        }
    }

    /// Looks up the awaited reviewers of a channel post, so the post can mention them.
    async fn resolve_awaited(&self, esc: &Escalation) {
        for reviewer in eligibility::eligible(esc, &self.dir) {
            let lookup =
                tokio::time::timeout(MENTION_LOOKUP.min(self.call()), self.slack_user(&reviewer))
                    .await;
            if let Ok(Err(e)) = lookup {
                tracing::debug!(reviewer = %reviewer, error = %e, "no Slack mention for reviewer");
            }
        }
    }
}
