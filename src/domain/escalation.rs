//! The escalation aggregate: the request, its pinned workflow, per-stage state, votes and decision.

use super::Time;
use super::conditions::{Constraints, Violation};
use super::ids::{AgentId, EscalationId, ReviewerId};
use super::request::EscalationRequest;
use super::timers;
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
    /// Every submission of the request (design.md §7), the first at intake; the last is
    /// the one under review. Not to be confused with `revision`, the state's version.
    #[serde(default)]
    pub submissions: Vec<Submission>,
    /// The request as the previous submission had it, so reviewers see what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_request: Option<EscalationRequest>,
    /// What the agent reported it executed (approved escalations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

impl Escalation {
    pub fn is_pending(&self) -> bool {
        self.status == EscalationStatus::Pending
    }

    /// Decided for good: approved, denied, expired or cancelled. An escalation waiting for
    /// a revision is not final: its deadline still runs and the agent may still cancel it.
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    pub fn current(&self) -> &StageState {
        &self.stages[self.current_stage]
    }

    /// The opening votes are taken in now: the current stage and its round.
    pub fn opening(&self) -> Opening {
        // A workflow that decides automatically has no stage: round 0 is never open.
        let round = self.stages.get(self.current_stage).map_or(0, |s| s.round);
        Opening {
            stage: self.current_stage,
            round,
        }
    }

    /// Is `opening` the one votes are taken in now? Messages show their buttons, and
    /// planned requests go out, only while it is.
    pub fn is_open(&self, opening: Opening) -> bool {
        self.is_pending() && opening == self.opening() && self.current().status.is_open()
    }

    /// The round a Slack button from before rounds existed meant: it named the opening
    /// by the instant the stage started (ms). It maps to the current round only while
    /// that opening is still the stage's latest; otherwise to round 0, which no opening
    /// has, so the engine finds the vote stale.
    pub fn legacy_round_started(&self, stage: usize, started_ms: i64) -> u32 {
        self.legacy_round(stage, |started| started == started_ms)
    }

    /// The opening an email link or a planned email names: its round, or, for one issued
    /// before rounds existed (round 0), the instant it was issued — a stage that
    /// (re)opened after that instant is a later opening.
    pub fn opening_issued(
        &self,
        stage: usize,
        round: u32,
        legacy_issued_ms: Option<i64>,
    ) -> Opening {
        let round = match (round, legacy_issued_ms) {
            (0, Some(issued)) => self.legacy_round(stage, |started| started <= issued),
            _ => round,
        };
        Opening { stage, round }
    }

    fn legacy_round(&self, stage: usize, same: impl Fn(i64) -> bool) -> u32 {
        self.stages
            .get(stage)
            .filter(|s| s.started_at.is_some_and(|t| same(t.timestamp_millis())))
            .map_or(0, |s| s.round)
    }

    /// State stored before stages had rounds: a stage that started is in its first round.
    /// State stored before revisions existed: its request is the first submission.
    pub fn upgrade_stored(&mut self) {
        if self.submissions.is_empty() {
            self.submissions
                .push(Submission::of(&self.request, self.created_at));
        }
        for stage in &mut self.stages {
            if stage.round == 0 && stage.started_at.is_some() {
                stage.round = 1;
            }
        }
    }

    /// The revision of the request under review (design.md §7), 1-based.
    pub fn submission(&self) -> u32 {
        u32::try_from(self.submissions.len())
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// Whether a reviewer may still ask for changes: the workflow allows
    /// `max_revisions` revisions after the first submission.
    pub fn may_request_changes(&self) -> bool {
        self.submission() <= self.workflow.max_revisions
    }

    /// The receipt's `exp`: the decision time plus the workflow's `execute_within`.
    /// `None` while pending.
    pub fn execute_by(&self) -> Option<Time> {
        let decision = self.decision.as_ref()?;
        Some(
            decision.execute_by.unwrap_or_else(|| {
                timers::after(decision.decided_at, self.workflow.execute_within)
            }),
        )
    }

    /// Whether the deadline has passed at `now` (the escalation then meets any event expired).
    pub fn past_deadline(&self, now: Time) -> bool {
        timers::is_due(self.expires_at, now)
    }
}

/// One opening of one stage. A stage opens once when the workflow reaches it and again
/// each time an `on_deny: rollback` returns to it; every opening has a new round, so a
/// vote cast on an earlier opening (an old Slack message or email link) can never count
/// in a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Opening {
    /// 0-based stage index.
    pub stage: usize,
    /// 1 for the stage's first opening, then +1 for each re-entry; 0 is never an opening.
    pub round: u32,
}

/// One submission of the request: the first at intake, then one per revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub submitted_at: Time,
    pub summary: String,
    pub payload_sha256: String,
    /// Set when a reviewer asked for changes to this submission.
    pub changes_requested: Option<ChangeRequest>,
    /// The votes cast on this submission, kept once a revision replaces it (they no longer
    /// count); empty for the submission under review, whose votes are in the stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<StageVote>,
}

impl Submission {
    pub fn of(request: &EscalationRequest, at: Time) -> Self {
        Self {
            submitted_at: at,
            summary: request.summary.clone(),
            payload_sha256: super::request::payload_sha256(&request.payload),
            changes_requested: None,
            votes: Vec::new(),
        }
    }
}

/// Who asked for changes, why and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRequest {
    pub by: ReviewerId,
    pub comment: String,
    pub at: Time,
}

/// A vote of an earlier submission, with the stage (0-based) it was cast at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageVote {
    pub stage: usize,
    pub vote: Vote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationStatus {
    Pending,
    /// A reviewer asked for changes; the agent may submit a revision (not final).
    ChangesRequested,
    Approved,
    Denied,
    Expired,
    Cancelled,
}

impl EscalationStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::ChangesRequested)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::ChangesRequested => "changes_requested",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// How many times this stage has opened (see [`Opening`]); kept when the stage is
    /// reset to waiting, so a later re-entry gets a round never used before.
    #[serde(default)]
    pub round: u32,
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
            round: 0,
            started_at: None,
            sla_deadline: None,
            pool: Vec::new(),
            tiers_applied: 0,
            votes: Vec::new(),
        }
    }

    /// The same stage back to waiting (a rollback left it), keeping its round count.
    pub fn reset(&mut self) {
        *self = Self {
            round: self.round,
            ..Self::waiting()
        };
    }

    pub fn approvals(&self) -> impl Iterator<Item = &Vote> {
        self.votes
            .iter()
            .filter(|v| v.choice == VoteChoice::Approve)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteChoice {
    Approve,
    Deny,
    /// Stops the stage and asks the agent for a revision (design.md §7).
    RequestChanges,
}

impl VoteChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::RequestChanges => "request_changes",
        }
    }

    /// A deny and a request for changes must say why.
    pub fn needs_comment(self) -> bool {
        matches!(self, Self::Deny | Self::RequestChanges)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteChannel {
    Slack,
    Email,
    Api,
    /// The web UI's queue (design.md §2 and §8 call it `ui`).
    #[serde(rename = "ui")]
    Web,
}

impl VoteChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Email => "email",
            Self::Api => "api",
            Self::Web => "ui",
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
    /// Values for the workflow's typed conditions, by id (approvals only).
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
    pub channel: VoteChannel,
    pub at: Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The approving reviewers, the denying one, the cancelling agent; empty for a timeout.
    pub decided_by: Vec<Decider>,
    /// The approvers' constraint values merged, the strictest winning (approvals only).
    #[serde(default)]
    pub constraints: Constraints,
    /// The receipt's `exp`; absent in decisions stored before receipts existed.
    #[serde(default)]
    pub execute_by: Option<Time>,
    /// The signed receipt; the shell signs it in the step's transaction.
    #[serde(default)]
    pub receipt: Option<Receipt>,
}

/// A decision's signed receipt, kept so every read and callback hands out the same token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// `jti`: `rcpt_` + a ULID.
    pub id: String,
    /// The compact JWS.
    pub token: String,
}

/// What the agent reported it executed, judged against the approval (design.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub status: ExecutionStatus,
    /// `None` for `unreported`.
    pub reported_at: Option<Time>,
    /// The executed payload's hash; `None` for `unreported`.
    pub payload_sha256: Option<String>,
    /// Whether the executed payload is the approved one; `None` for `unreported`.
    pub matches: Option<bool>,
    pub violations: Vec<Violation>,
    pub detail: Option<String>,
    /// SHA-256 of the report as received (canonical JSON), so a repeat is recognised.
    pub report_sha256: Option<String>,
}

impl Execution {
    /// Executed, but not as approved: another payload, or a constraint broken.
    pub fn is_problem(&self) -> bool {
        self.matches == Some(false) || !self.violations.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
    /// No report arrived by the receipt's `exp`.
    Unreported,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unreported => "unreported",
        }
    }
}

/// Who decided. In the status document and the audit chain a reviewer is their id, an agent
/// `agent:<id>` and a workflow that decides automatically `policy:<id>`, so none can be
/// taken for another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decider {
    Reviewer(ReviewerId),
    Agent(AgentId),
    /// The workflow, by id, that decided automatically (design.md §9).
    Policy(String),
}

const AGENT_PREFIX: &str = "agent:";
const POLICY_PREFIX: &str = "policy:";

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reviewer(id) => write!(f, "{id}"),
            Self::Agent(id) => write!(f, "{AGENT_PREFIX}{id}"),
            Self::Policy(id) => write!(f, "{POLICY_PREFIX}{id}"),
        }
    }
}

/// Tests and logs compare a decider with its text form.
impl PartialEq<&str> for Decider {
    fn eq(&self, other: &&str) -> bool {
        match self {
            Self::Reviewer(id) => id.as_str() == *other,
            Self::Agent(id) => other
                .strip_prefix(AGENT_PREFIX)
                .is_some_and(|a| a == id.as_str()),
            Self::Policy(id) => other.strip_prefix(POLICY_PREFIX) == Some(id.as_str()),
        }
    }
}

impl Serialize for Decider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Some(agent) = s.strip_prefix(AGENT_PREFIX) {
            return Ok(Self::Agent(AgentId::from(agent)));
        }
        if let Some(policy) = s.strip_prefix(POLICY_PREFIX) {
            return Ok(Self::Policy(policy.to_owned()));
        }
        Ok(Self::Reviewer(ReviewerId::from(s.as_str())))
    }
}
