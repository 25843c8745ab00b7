//! The Slack channel: reviewers get a Block Kit message per stage round (DM or the
//! stage's channel), and every message is kept true with `chat.update` as the
//! escalation moves.
//!
//! Planning writes small intents ([`refs::Op`]) into the outbox inside the step's
//! transaction; delivery loads the escalation fresh and renders it, so a message
//! never shows a state older than the one it was delivered in. All items of an
//! escalation share one ordering key, so an update never overtakes its post.
//! Reviewers' Home tabs are republished the same way (see [`publish`]), under a key of
//! their own.

mod after;
pub mod api;
pub mod blocks;
mod deliver;
pub mod home;
pub mod kit;
pub mod modals;
pub mod mrkdwn;
pub mod publish;
pub mod refs;
pub mod revision;
pub mod who;

use super::{Channel, Delivery, PlanContext, message_id};
use crate::config::Config;
use crate::domain::{
    AuditKind, ChannelKind, Directory, Effect, Escalation, NotifyReason, ReviewerId,
};
use crate::service::Live;
use crate::store::Store;
use crate::store::outbox::{Item, NewItem, Priority};
use api::SlackApi;
use refs::{Op, Target};
use std::collections::HashSet;
use std::sync::Arc;

/// `config` and `dir` are one config version: each delivery takes the one serving then
/// ([`SlackChannel::current`]), so a removed reviewer gets no more posts.
/// How often a replica re-reads who opened the Home tab on other replicas.
const OPENERS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct SlackChannel {
    api: Arc<SlackApi>,
    config: Arc<Config>,
    dir: Arc<Directory>,
    live: Live,
    store: Store,
    /// Reviewers who have opened the Home tab: only their queues are worth republishing,
    /// so a step plans no Home item while nobody has (see [`publish::plan`]).
    openers: Arc<std::sync::RwLock<HashSet<ReviewerId>>>,
}

impl SlackChannel {
    /// `openers`: the reviewers who had opened the Home tab when the process started
    /// ([`Store::home_reviewers`]).
    pub fn new(api: Arc<SlackApi>, live: Live, store: Store, openers: Vec<ReviewerId>) -> Self {
        let snap = live.load();
        let channel = Self {
            api,
            dir: snap.dir.clone(),
            config: snap.config.clone(),
            live,
            store,
            openers: Arc::new(std::sync::RwLock::new(openers.into_iter().collect())),
        };
        if channel.store.backend() == crate::store::db::Backend::Postgres {
            tokio::spawn(channel.clone().follow_openers());
        }
        channel
    }

    /// With replicas, Slack's `app_home_opened` reaches one of them: the others learn of
    /// the new opener from the table, re-read every [`OPENERS_EVERY`] (a queue change in
    /// between reaches that reviewer's Home tab at their next open, as without replicas).
    /// Ends when the store closes.
    async fn follow_openers(self) {
        loop {
            tokio::time::sleep(OPENERS_EVERY).await;
            match self.store.home_reviewers().await {
                Ok(all) => {
                    if let Ok(mut openers) = self.openers.write() {
                        openers.extend(all);
                    }
                }
                Err(e) if e.is_closed() => return,
                Err(e) => tracing::debug!(error = %e, "re-reading Home tab openers failed"),
            }
        }
    }

    /// Notes a reviewer who opened the Home tab, so their queue is republished from now on.
    fn opened_home(&self, reviewer: &ReviewerId) {
        if let Ok(mut openers) = self.openers.write() {
            openers.insert(reviewer.clone());
        }
    }

    /// This channel on the config version serving now.
    fn current(&self) -> Self {
        let snap = self.live.load();
        Self {
            config: snap.config.clone(),
            dir: snap.dir.clone(),
            ..self.clone()
        }
    }
}

/// Every Slack item of an escalation is delivered in order: posts before the updates after them.
pub fn ordering_key(esc: &Escalation) -> String {
    format!("slack:{}", esc.id)
}

#[async_trait::async_trait]
impl Channel for SlackChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    fn plan(&self, esc: &Escalation, effects: &[Effect], _ctx: &PlanContext<'_>) -> Vec<NewItem> {
        // The Home tab lists a reviewer's whole queue, whatever channels a workflow uses.
        let home = self
            .openers
            .read()
            .ok()
            .and_then(|openers| publish::plan(esc, effects, &openers));
        if !esc.workflow.channels.contains(&ChannelKind::Slack) {
            return home.into_iter().collect();
        }
        let item = |kind: &str, op: Op| NewItem {
            channel: ChannelKind::Slack,
            kind: kind.to_owned(),
            ordering_key: ordering_key(esc),
            payload: serde_json::to_value(op).unwrap_or_default(),
            message_id: message_id(),
            priority: Priority::Notification,
            // Every call goes to one Web API (and its rate limits): one destination.
            destination: "slack".to_owned(),
        };
        let mut items = Vec::new();
        // Anything but a fresh stage changes what earlier messages should show.
        let changed = effects.iter().any(|e| {
            !matches!(
                e,
                Effect::NotifyReviewers {
                    reason: NotifyReason::StageStarted,
                    ..
                }
            )
        });
        if changed {
            items.push(item("slack.sync", Op::Sync));
        }
        for effect in effects {
            if let Effect::NotifyReviewers {
                opening,
                reviewers,
                reason,
            } = effect
            {
                for to in targets(esc, opening.stage, reviewers) {
                    let op = Op::Post {
                        stage: opening.stage,
                        round: i64::from(opening.round),
                        reason: *reason,
                        to,
                    };
                    items.push(item("slack.post", op));
                }
            }
        }
        items.extend(home);
        items
    }

    async fn deliver(&self, item: &Item) -> Delivery {
        if super::alerts::is_alert(&item.kind) {
            let limit = self.current().config.delivery.timeout;
            return super::alerts::deliver_slack(&self.api, item, limit).await;
        }
        let op: Op = match serde_json::from_value(item.payload.clone()) {
            Ok(op) => op,
            Err(e) => {
                return Delivery::Failed {
                    error: format!("malformed Slack item: {e}"),
                };
            }
        };
        let result = match op {
            Op::Post {
                stage,
                round,
                reason,
                to,
            } => self.current().post(item, stage, round, reason, to).await,
            Op::Sync => self.current().sync(item).await,
            op @ (Op::Home { .. } | Op::HomeFor { .. }) => self.current().home(item, op).await,
        };
        match result {
            Ok(()) => Delivery::Delivered,
            Err(e) => e.into(),
        }
    }

    fn audit_kinds(&self) -> (AuditKind, AuditKind) {
        (AuditKind::SlackDelivered, AuditKind::SlackFailed)
    }

    /// A Home view is a reviewer's own screen, refreshed on every change of their queue,
    /// not a message about one escalation: its publishes stay out of the audit chain.
    fn audited(&self, item: &Item) -> bool {
        item.kind != "slack.home"
    }
}

/// A stage with a `slack_channel` gets one post there; otherwise each reviewer gets a DM.
fn targets(esc: &Escalation, stage: usize, reviewers: &[crate::domain::ReviewerId]) -> Vec<Target> {
    let channel = esc
        .workflow
        .stages
        .get(stage)
        .and_then(|s| s.slack_channel.clone())
        .filter(|c| !c.trim().is_empty());
    match channel {
        Some(c) => vec![Target::Channel(c)],
        None => reviewers.iter().cloned().map(Target::Reviewer).collect(),
    }
}
