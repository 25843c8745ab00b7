//! Outbound channels: each plans outbox items from an engine step and later delivers them.
//! Callbacks live here; Slack and email plug in through the same [`Channel`] trait.

pub mod alerts;
pub mod backoff;
pub mod callback;
pub mod callback_guard;
pub mod email;
pub mod slack;

use crate::config::Config;
use crate::domain::{AuditKind, ChannelKind, Directory, Effect, Escalation, Time};
use crate::store::outbox::{Item, NewItem};
use std::sync::Arc;
use std::time::Duration;

/// What planning may look at. Planning runs inside the step's transaction, so it must not do I/O.
pub struct PlanContext<'a> {
    pub config: &'a Config,
    pub dir: &'a Directory,
    pub now: Time,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Delivered,
    /// Transient: try again, after `retry_after` when the peer said so (HTTP 429).
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Permanent: retrying cannot help (the agent was removed from the config, say).
    Failed {
        error: String,
    },
}

#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// Which channel this is: the `channel` column of its outbox rows.
    fn kind(&self) -> ChannelKind;

    /// Outbox items for the effects of one step of `esc` (already the new state).
    fn plan(&self, esc: &Escalation, effects: &[Effect], ctx: &PlanContext<'_>) -> Vec<NewItem>;

    /// One attempt at delivering an item. Must not panic; errors are values.
    async fn deliver(&self, item: &Item) -> Delivery;

    /// The audit kinds recorded when an item is delivered or given up.
    fn audit_kinds(&self) -> (AuditKind, AuditKind) {
        (AuditKind::Notified, AuditKind::NotificationFailed)
    }

    /// Whether delivering (or giving up) this item is recorded in the audit chain.
    fn audited(&self, _item: &Item) -> bool {
        true
    }
}

/// The channels enabled for this process.
#[derive(Clone, Default)]
pub struct Notifier {
    channels: Vec<Arc<dyn Channel>>,
}

impl Notifier {
    pub fn new(channels: Vec<Arc<dyn Channel>>) -> Self {
        Self { channels }
    }

    pub fn plan(
        &self,
        esc: &Escalation,
        effects: &[Effect],
        ctx: &PlanContext<'_>,
    ) -> Vec<NewItem> {
        if effects.is_empty() {
            return Vec::new();
        }
        self.channels
            .iter()
            .flat_map(|c| c.plan(esc, effects, ctx))
            .collect()
    }

    /// The enabled channel of this kind; `None` for a kind that is off (or stored text
    /// this version does not know).
    pub fn channel(&self, kind: Option<ChannelKind>) -> Option<&Arc<dyn Channel>> {
        self.channels.iter().find(|c| Some(c.kind()) == kind)
    }
}

/// A fresh id for an outbound message, in the Standard Webhooks `msg_` style.
pub fn message_id() -> String {
    format!("msg_{}", ulid::Ulid::new())
}
