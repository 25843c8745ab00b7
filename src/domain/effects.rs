//! What an engine step asks the shell to do: notify, update messages, call back, and what to audit.

use super::escalation::Escalation;
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// These reviewers became eligible at `stage` (0-based): send them the request.
    NotifyReviewers {
        stage: usize,
        reviewers: Vec<ReviewerId>,
        reason: NotifyReason,
    },
    /// A vote was recorded: the voter's message should show it.
    VoteRecorded { stage: usize, reviewer: ReviewerId },
    /// The stage closed (advanced, rejected or rolled back): its messages lose their buttons.
    StageClosed { stage: usize },
    /// The escalation is decided: every message shows the outcome, the agent is called back.
    Decided,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyReason {
    StageStarted,
    Delegation,
    SlaEscalation,
}

/// One audit event, before the store chains it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub kind: &'static str,
    pub actor: Option<String>,
    pub data: serde_json::Value,
}

impl AuditRecord {
    pub fn new(kind: &'static str, actor: Option<String>, data: serde_json::Value) -> Self {
        Self { kind, actor, data }
    }
}
