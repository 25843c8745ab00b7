//! Analytics facts (design.md §8): what a step did, in rows made for counting — one per
//! vote, per closed stage opening, per decision, per execution outcome. The engine emits
//! them where it acts (a rollback drops the stage's votes from the state, so they cannot
//! be diffed back out of it), and the store writes them in the step's transaction.

use super::Time;
use super::escalation::{Escalation, ExecutionStatus, Outcome, VoteChannel, VoteChoice};
use super::ids::{AgentId, ReviewerId};
use chrono::{Datelike, Timelike};

/// One fact of one step.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Vote(VoteFact),
    StageClosed(StageFact),
    Decided(DecisionFact),
    Execution(ExecutionFact),
}

/// A vote that counted when it was cast (refused votes are not facts).
#[derive(Debug, Clone, PartialEq)]
pub struct VoteFact {
    pub workflow: String,
    pub intent: String,
    /// 0-based.
    pub stage: usize,
    pub round: u32,
    /// The submission voted on (design.md §7), 1-based.
    pub revision: u32,
    pub reviewer: ReviewerId,
    pub choice: VoteChoice,
    pub channel: VoteChannel,
    pub at: Time,
    /// From the opening of the stage to this vote: the reviewer's response time.
    pub response_ms: i64,
    /// The escalation's first vote of all: `at` minus its arrival is its time to first
    /// vote, grouped by the hour of the week it arrived in ([`hour_of_week`]).
    pub first: Option<FirstVote>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstVote {
    pub created_at: Time,
    pub wait_ms: i64,
}

/// How a stage opening ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageOutcome {
    Approved,
    /// Denied at this stage, whether that ended the escalation or rolled it back.
    Rejected,
    ChangesRequested,
    /// The escalation timed out with this stage open.
    Expired,
    Cancelled,
}

impl StageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::ChangesRequested => "changes_requested",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One opening of one stage, from its start to how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StageFact {
    pub workflow: String,
    /// 0-based.
    pub stage: usize,
    pub name: String,
    pub round: u32,
    pub revision: u32,
    pub opened_at: Time,
    pub closed_at: Time,
    pub outcome: StageOutcome,
    /// Closed after its SLA deadline (or escalated on it).
    pub sla_breached: bool,
    /// How many delegation tiers had widened the pool when it closed.
    pub tiers: usize,
}

/// An escalation decided, however it was.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionFact {
    pub workflow: String,
    pub intent: String,
    pub agent: AgentId,
    /// `None` when the request carried no risk.
    pub risk: Option<u8>,
    pub outcome: Outcome,
    pub created_at: Time,
    pub decided_at: Time,
    /// Decided by the workflow's `auto` rule, nobody asked.
    pub automatic: bool,
    /// The decision's reason: for a denial, the denying reviewer's comment.
    pub reason: Option<String>,
}

/// How an approved action's execution turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionResult {
    /// Reported, and executed as approved.
    Matched,
    /// Reported with another payload than the approved one.
    Mismatched,
    /// Reported, but a constraint was broken.
    Violated,
    /// No report by the receipt's `exp`.
    Unreported,
}

impl ExecutionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::Mismatched => "mismatched",
            Self::Violated => "violated",
            Self::Unreported => "unreported",
        }
    }

    /// An execution problem: the executor did something other than what was approved
    /// (an unreported execution is not known to be one).
    pub fn is_problem(self) -> bool {
        matches!(self, Self::Mismatched | Self::Violated)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionFact {
    pub workflow: String,
    pub intent: String,
    pub result: ExecutionResult,
    pub at: Time,
}

impl VoteFact {
    /// The vote just appended to the current stage of `esc`, cast at `now`. `first` is
    /// whether no vote was cast on the escalation before it.
    pub fn of(esc: &Escalation, now: Time, first: bool) -> Option<Self> {
        let stage = esc.current_stage;
        let state = esc.stages.get(stage)?;
        let vote = state.votes.last()?;
        let opened = state.started_at.unwrap_or(esc.created_at);
        Some(Self {
            workflow: esc.workflow.id.clone(),
            intent: esc.request.intent.clone(),
            stage,
            round: state.round,
            revision: esc.submission(),
            reviewer: vote.reviewer.clone(),
            choice: vote.choice,
            channel: vote.channel,
            at: now,
            response_ms: millis_between(opened, now),
            first: first.then(|| FirstVote {
                created_at: esc.created_at,
                wait_ms: millis_between(esc.created_at, now),
            }),
        })
    }
}

/// Whether no vote was ever cast on `esc`: none in any stage or earlier submission, and no
/// stage reopened (a rollback reopens a stage and clears the votes that led to it).
pub fn no_vote_yet(esc: &Escalation) -> bool {
    esc.submissions.len() <= 1
        && esc
            .stages
            .iter()
            .all(|s| s.votes.is_empty() && s.round <= 1)
}

impl StageFact {
    /// The current opening of `stage` in `esc` (call before it is reset), ending at `now`.
    pub fn closing(
        esc: &Escalation,
        stage: usize,
        outcome: StageOutcome,
        now: Time,
    ) -> Option<Self> {
        let state = esc.stages.get(stage)?;
        let opened_at = state.started_at?;
        let escalated = state.status == super::escalation::StageStatus::Escalated;
        Some(Self {
            workflow: esc.workflow.id.clone(),
            stage,
            name: esc.workflow.stages.get(stage)?.name.clone(),
            round: state.round,
            revision: esc.submission(),
            opened_at,
            closed_at: now,
            outcome,
            sla_breached: escalated || state.sla_deadline.is_some_and(|d| now > d),
            tiers: state.tiers_applied,
        })
    }

    pub fn duration_ms(&self) -> i64 {
        millis_between(self.opened_at, self.closed_at)
    }
}

impl DecisionFact {
    /// The decision `esc` now carries.
    pub fn of(esc: &Escalation) -> Option<Self> {
        let d = esc.decision.as_ref()?;
        Some(Self {
            workflow: esc.workflow.id.clone(),
            intent: esc.request.intent.clone(),
            agent: esc.agent_id.clone(),
            risk: esc.request.risk.as_ref().map(|r| r.score),
            outcome: d.outcome,
            created_at: esc.created_at,
            decided_at: d.decided_at,
            automatic: d
                .decided_by
                .iter()
                .any(|by| matches!(by, super::escalation::Decider::Policy(_))),
            reason: d.reason.clone(),
        })
    }

    pub fn duration_ms(&self) -> i64 {
        millis_between(self.created_at, self.decided_at)
    }
}

impl ExecutionFact {
    /// The execution `esc` now carries, recorded at `now`.
    pub fn of(esc: &Escalation, now: Time) -> Option<Self> {
        let e = esc.execution.as_ref()?;
        let result = if e.status == ExecutionStatus::Unreported {
            ExecutionResult::Unreported
        } else if e.matches == Some(false) {
            ExecutionResult::Mismatched
        } else if !e.violations.is_empty() {
            ExecutionResult::Violated
        } else {
            ExecutionResult::Matched
        };
        Some(Self {
            workflow: esc.workflow.id.clone(),
            intent: esc.request.intent.clone(),
            result,
            at: e.reported_at.unwrap_or(now),
        })
    }
}

/// The risk tier of a score (design.md §8): low 0–39, medium 40–69, high 70–89,
/// critical 90–100. A request without a risk is `unscored`.
pub fn risk_tier(score: Option<u8>) -> &'static str {
    match score {
        None => "unscored",
        Some(0..=39) => "low",
        Some(40..=69) => "medium",
        Some(70..=89) => "high",
        Some(_) => "critical",
    }
}

/// 0 (Monday 00:00–00:59 UTC) to 167 (Sunday 23:00–23:59 UTC).
pub fn hour_of_week(at: Time) -> u32 {
    at.weekday().num_days_from_monday() * 24 + at.hour()
}

fn millis_between(from: Time, to: Time) -> i64 {
    (to - from).num_milliseconds().max(0)
}
