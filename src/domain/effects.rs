//! What an engine step asks the shell to do: notify, update messages, call back, and what to audit.

use super::escalation::{Escalation, Opening};
use super::ids::ReviewerId;
use serde::{Deserialize, Serialize};

/// The result of an accepted engine step. The shell commits the new state,
/// the audit records, the outbox rows planned from `effects` and the timers
/// derived from the new state in one transaction.
#[derive(Debug, Clone)]
pub struct Step {
    pub escalation: Escalation,
    pub effects: Vec<Effect>,
    pub audit: Vec<AuditRecord>,
    /// What analytics count (design.md §8), written with the step.
    pub facts: Vec<super::facts::Fact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// These reviewers became eligible at this opening of a stage: send them the request.
    NotifyReviewers {
        opening: Opening,
        reviewers: Vec<ReviewerId>,
        reason: NotifyReason,
    },
    /// A vote was recorded: the voter's message should show it.
    VoteRecorded { stage: usize, reviewer: ReviewerId },
    /// The stage closed (advanced, rejected or rolled back): its messages lose their buttons.
    StageClosed { stage: usize },
    /// The escalation is decided: every message shows the outcome, the agent is called back.
    Decided,
    /// An execution was reported, or marked unreported: every message shows how it went.
    ExecutionRecorded,
    /// A reviewer asked for changes: messages lose their buttons and say so; the agent
    /// gets an `escalation.changes_requested` callback.
    ChangesRequested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyReason {
    StageStarted,
    Delegation,
    SlaEscalation,
    /// The agent revised the request after changes were asked for: voting starts again.
    Revised,
}

/// One audit event, before the store chains it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub kind: AuditKind,
    pub actor: Option<String>,
    pub data: serde_json::Value,
}

impl AuditRecord {
    pub fn new(kind: AuditKind, actor: Option<String>, data: serde_json::Value) -> Self {
        Self { kind, actor, data }
    }
}

/// Every kind of event the audit chain records. The stored text is [`AuditKind::as_str`];
/// chains written earlier keep verifying because the text of each kind never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Created,
    StageStarted,
    Vote,
    VoteRefused,
    StageAdvanced,
    RolledBack,
    DelegationTier,
    SlaEscalated,
    Decided,
    /// An outbound message of a channel without kinds of its own was delivered / given up.
    Notified,
    NotificationFailed,
    CallbackDelivered,
    CallbackFailed,
    EmailSent,
    EmailFailed,
    SlackDelivered,
    SlackFailed,
    /// The agent reported what it executed (with how it compares to the approval).
    ExecutionReported,
    /// No execution report arrived by the receipt's `exp`.
    ExecutionUnreported,
    /// A reviewer asked for changes.
    ChangesRequested,
    /// The agent submitted a revision.
    Revised,
    /// A config version started serving (at start or by a reload); data holds its SHA-256.
    #[serde(rename = "config.applied")]
    ConfigApplied,
    /// An alert fired (design.md §8); data: kind, subject, figures.
    AlertFired,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::StageStarted => "stage_started",
            Self::Vote => "vote",
            Self::VoteRefused => "vote_refused",
            Self::StageAdvanced => "stage_advanced",
            Self::RolledBack => "rolled_back",
            Self::DelegationTier => "delegation_tier",
            Self::SlaEscalated => "sla_escalated",
            Self::Decided => "decided",
            Self::Notified => "notified",
            Self::NotificationFailed => "notification_failed",
            Self::CallbackDelivered => "callback_delivered",
            Self::CallbackFailed => "callback_failed",
            Self::EmailSent => "email_sent",
            Self::EmailFailed => "email_failed",
            Self::SlackDelivered => "slack_delivered",
            Self::SlackFailed => "slack_failed",
            Self::ExecutionReported => "execution_reported",
            Self::ExecutionUnreported => "execution_unreported",
            Self::ChangesRequested => "changes_requested",
            Self::Revised => "revised",
            Self::ConfigApplied => "config.applied",
            Self::AlertFired => "alert_fired",
        }
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of outbound channel: where an outbox row goes, and which of them a
/// workflow notifies reviewers on (`slack`, `email`; callbacks go to every agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Callback,
    Slack,
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Slack => "slack",
            Self::Email => "email",
        }
    }

    /// The stored text back to a kind; `None` for text this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "callback" => Some(Self::Callback),
            "slack" => Some(Self::Slack),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
