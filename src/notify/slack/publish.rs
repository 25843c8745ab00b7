//! Planning and delivering Home tab publishes. A step plans one item naming the reviewers
//! whose queue may have changed; delivery publishes, for those who opened the Home tab,
//! their queue as it is then. All Home items share one ordering key, so an item that
//! finds a newer one covering the same user leaves that user to it: a burst of changes
//! ends in one publish per user.

use super::SlackChannel;
use super::api::ApiError;
use super::home::{self, Queue};
use super::refs::Op;
use super::who::{self, WhoError};
use crate::config::ReviewerConfig;
use crate::domain::ChannelKind;
use crate::domain::{Effect, Escalation, ReviewerId};
use crate::notify::message_id;
use crate::store::outbox::{Item, NewItem, Priority};
use serde_json::Value;
use std::collections::HashSet;

/// The ordering key of every Home item.
pub const HOME_KEY: &str = "slack:home";

/// An outbox item for a Home publish.
pub fn item(op: &Op) -> NewItem {
    NewItem {
        channel: ChannelKind::Slack,
        kind: "slack.home".to_owned(),
        ordering_key: HOME_KEY.to_owned(),
        payload: serde_json::to_value(op).unwrap_or_default(),
        message_id: message_id(),
        priority: Priority::Notification,
        destination: "slack".to_owned(),
    }
}

/// The Home item of a step, when it may change the queue of someone who has opened the
/// Home tab (`openers`): everyone in a pool of any stage (whoever could have had it
/// waiting), plus whoever was just notified.
pub fn plan(
    esc: &Escalation,
    effects: &[Effect],
    openers: &HashSet<ReviewerId>,
) -> Option<NewItem> {
    if effects
        .iter()
        .all(|e| matches!(e, Effect::ExecutionRecorded))
    {
        return None;
    }
    let mut reviewers: Vec<ReviewerId> = Vec::new();
    let notified = effects.iter().flat_map(|e| match e {
        Effect::NotifyReviewers { reviewers, .. } => reviewers.as_slice(),
        _ => &[],
    });
    for r in esc.stages.iter().flat_map(|s| &s.pool).chain(notified) {
        if openers.contains(r) && !reviewers.contains(r) {
            reviewers.push(r.clone());
        }
    }
    (!reviewers.is_empty()).then(|| item(&Op::Home { reviewers }))
}

/// Whether a newer queued Home item will publish for this user (or reviewer) anyway.
fn covered(newer: &[Op], user: &str, reviewer: Option<&str>) -> bool {
    newer.iter().any(|op| match op {
        Op::HomeFor { user: u } => u == user,
        Op::Home { reviewers } => {
            reviewer.is_some_and(|r| reviewers.iter().any(|x| x.as_str() == r))
        }
        _ => false,
    })
}

impl SlackChannel {
    pub(super) async fn home(&self, item: &Item, op: Op) -> Result<(), ApiError> {
        let newer: Vec<Op> = (self.store.newer_open_items(HOME_KEY, item.id).await?)
            .into_iter()
            .filter_map(|v: Value| serde_json::from_value(v).ok())
            .collect();
        match op {
            Op::Home { reviewers } => {
                for (user, reviewer) in self.store.home_users(&reviewers).await? {
                    if covered(&newer, &user, Some(&reviewer)) {
                        continue;
                    }
                    let cfg = self.config.reviewer(&reviewer).cloned();
                    self.publish(&user, cfg.as_ref()).await?;
                }
                Ok(())
            }
            Op::HomeFor { user } => {
                let reviewer = self.reviewer_for(&user).await?;
                if covered(&newer, &user, reviewer.as_ref().map(|r| r.id.as_str())) {
                    return Ok(());
                }
                if let Some(r) = &reviewer {
                    let now = chrono::Utc::now();
                    self.store.remember_home(&user, &r.id, now).await?;
                    self.opened_home(&r.id);
                }
                self.publish(&user, reviewer.as_ref()).await
            }
            _ => Ok(()),
        }
    }

    /// Renders the user's queue now and publishes it; a user who is no reviewer gets the
    /// view that says so.
    async fn publish(&self, user: &str, reviewer: Option<&ReviewerConfig>) -> Result<(), ApiError> {
        let view = match reviewer {
            None => home::unknown(user),
            Some(r) => {
                let (items, total) = self.store.home_queue(&r.id, home::ITEMS as u32).await?;
                let slack_ids = self.store.slack_users().await?.into_iter().collect();
                home::render(&Queue {
                    config: &self.config,
                    dir: &self.dir,
                    name: &r.name,
                    items: &items,
                    total,
                    slack_ids: &slack_ids,
                    now: chrono::Utc::now(),
                })
            }
        };
        self.api.publish_home(user, view, self.call()).await
    }

    /// The reviewer behind a Slack user: the config's `slack_user`, an earlier email
    /// lookup, or Slack's own record of the user's email.
    async fn reviewer_for(&self, user: &str) -> Result<Option<ReviewerConfig>, ApiError> {
        match who::reviewer(&self.config, &self.store, &self.api, user, self.call()).await {
            Ok(found) => Ok(found),
            Err(WhoError::Store(e)) => Err(e.into()),
            // No such user, or no email to know them by: they get the stranger's view.
            Err(WhoError::Slack(ApiError::Permanent(_))) => Ok(None),
            Err(WhoError::Slack(e)) => Err(e),
        }
    }
}
