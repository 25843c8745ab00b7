//! The escalation aggregate: the request, its pinned workflow, per-stage state, votes and decision.

use super::Time;
use super::ids::{AgentId, EscalationId, ReviewerId};
use super::request::EscalationRequest;
use super::workflow::WorkflowSpec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    pub id: EscalationId,
    pub agent_id: AgentId,
    pub request: EscalationRequest,
    pub payload_sha256: String,
    pub idempotency_key: Option<String>,
    /// The workflow as it was when the escalation arrived.
    pub workflow: WorkflowSpec,
    pub created_at: Time,
    /// When the escalation times out: the earlier of workflow timeout and agent deadline.
    pub expires_at: Time,
    /// Bumped on every accepted change; email links are bound to it.
    pub revision: u32,
    pub status: EscalationStatus,
    /// Index into `stages` (0-based; the status document shows it 1-based).
    pub current_stage: usize,
    pub stages: Vec<StageState>,
    pub decision: Option<Decision>,
}

impl Escalation {
    pub fn is_pending(&self) -> bool {
        self.status == EscalationStatus::Pending
    }

    pub fn current(&self) -> &StageState {
        &self.stages[self.current_stage]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    Cancelled,
}

impl EscalationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Waiting,
    Pending,
    Approved,
    Rejected,
    /// Open, past its SLA: the escalation target joined the pool.
    Escalated,
}

impl StageStatus {
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Escalated)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    pub status: StageStatus,
    pub started_at: Option<Time>,
    pub sla_deadline: Option<Time>,
    /// Who may vote: the base approvers, widened by delegation tiers and the SLA target.
    pub pool: Vec<ReviewerId>,
    /// How many delegation tiers have widened the pool so far.
    pub tiers_applied: usize,
    pub votes: Vec<Vote>,
}

impl StageState {
    pub fn waiting() -> Self {
        Self {
            status: StageStatus::Waiting,
            started_at: None,
            sla_deadline: None,
            pool: Vec::new(),
            tiers_applied: 0,
            votes: Vec::new(),
        }
    }

    pub fn approvals(&self) -> impl Iterator<Item = &Vote> {
        self.votes
            .iter()
            .filter(|v| v.choice == VoteChoice::Approve)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteChoice {
    Approve,
    Deny,
}

impl VoteChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteChannel {
    Slack,
    Email,
    Api,
}

impl VoteChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Email => "email",
            Self::Api => "api",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub reviewer: ReviewerId,
    #[serde(rename = "decision")]
    pub choice: VoteChoice,
    pub comment: Option<String>,
    pub conditions: Vec<String>,
    pub channel: VoteChannel,
    pub at: Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Denied,
    Expired,
    Cancelled,
}

impl Outcome {
    pub fn status(self) -> EscalationStatus {
        match self {
            Self::Approved => EscalationStatus::Approved,
            Self::Denied => EscalationStatus::Denied,
            Self::Expired => EscalationStatus::Expired,
            Self::Cancelled => EscalationStatus::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.status().as_str()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub decided_at: Time,
    pub reason: Option<String>,
    /// The union of every approver's conditions, in the order first given.
    pub conditions: Vec<String>,
    /// Reviewer ids (or `agent:<id>` for a cancel; empty for a timeout).
    pub decided_by: Vec<String>,
}
