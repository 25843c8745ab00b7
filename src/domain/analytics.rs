//! The analytics report (design.md §8): how the organisation's approvals perform over a
//! window — the body of `GET /v1/analytics`, the tables of `countersign report` and the
//! Insights pages. Durations are seconds, rates fractions of 1, times UTC; a median or a
//! rate with nothing to measure is `null`.

use super::Time;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Analytics {
    /// The window's start: `until` minus `since`, rounded down to the hour.
    #[schema(value_type = String, format = DateTime)]
    pub since: Time,
    #[schema(value_type = String, format = DateTime)]
    pub until: Time,
    pub totals: Totals,
    pub by_intent: Vec<IntentStats>,
    pub by_reviewer: Vec<ReviewerStats>,
    pub by_stage: Vec<StageStats>,
    pub by_hour: Vec<HourStats>,
    pub by_risk: Vec<RiskStats>,
    pub executions: ExecutionStats,
    pub suggestions: Vec<Suggestion>,
    /// Alerts open now (whatever the window).
    pub alerts: Vec<AlertView>,
}

/// Escalations decided in the window, by outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub decided: u64,
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
    pub cancelled: u64,
    /// Of those, decided by a workflow's `auto` rule.
    pub automatic: u64,
    /// Pending (or waiting for changes) now.
    pub open: u64,
}

/// How often an outcome happened, of the decisions counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rates {
    pub approval_rate: Option<f64>,
    pub deny_rate: Option<f64>,
    pub timeout_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IntentStats {
    pub intent: String,
    /// Decided in the window.
    pub decided: u64,
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
    pub cancelled: u64,
    #[serde(flatten)]
    pub rates: Rates,
    /// Time from arrival to decision.
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// The latest denials' comments, newest first (at most 5): reasons that may become rules.
    pub latest_denials: Vec<Denial>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Denial {
    pub escalation_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReviewerStats {
    pub reviewer: String,
    /// Votes cast in the window, and of those approvals, denials and requests for changes.
    pub votes: u64,
    pub approvals: u64,
    pub denials: u64,
    pub changes_requested: u64,
    /// From a stage's opening to this reviewer's vote.
    pub median_response_seconds: Option<f64>,
    /// Escalations waiting on this reviewer now.
    pub pending: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StageStats {
    pub workflow: String,
    /// 1-based, as in the status document.
    pub stage: u32,
    pub name: String,
    /// Openings of this stage that ended in the window, however they ended.
    pub closed: u64,
    pub approved: u64,
    pub rejected: u64,
    pub changes_requested: u64,
    pub expired: u64,
    pub cancelled: u64,
    /// From opening to close.
    pub median_seconds: Option<f64>,
    pub sla_breach_rate: Option<f64>,
    /// Rejected (denied, or rolled back) of those closed.
    pub rejection_rate: Option<f64>,
    /// For delegation tier 1, 2 …: the share of closed openings that reached it.
    pub delegation: Vec<TierShare>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TierShare {
    pub tier: u32,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HourStats {
    /// 0 = Monday 00:00–00:59 UTC … 167 = Sunday 23:00–23:59 UTC, the hour the
    /// escalation arrived in.
    pub hour_of_week: u32,
    /// `mon` … `sun`.
    pub day: String,
    /// 0–23 (UTC).
    pub hour: u32,
    /// Escalations whose first vote came in the window.
    pub first_votes: u64,
    /// From arrival to the first vote.
    pub median_first_vote_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RiskStats {
    /// `low` (0–39), `medium` (40–69), `high` (70–89), `critical` (90–100), or
    /// `unscored` (no risk given).
    pub tier: String,
    pub decided: u64,
    #[serde(flatten)]
    pub rates: Rates,
}

/// Execution reports recorded in the window (design.md §6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExecutionStats {
    /// Reports received: matched + mismatched + violated.
    pub reported: u64,
    pub matched: u64,
    /// Executed with another payload than the approved one.
    pub mismatched: u64,
    /// Executed breaking a constraint.
    pub violated: u64,
    /// No report by the receipt's expiry.
    pub unreported: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestedRule {
    AutoApprove,
    AutoDeny,
}

/// An intent whose reviewers always say the same: a candidate for a workflow with `auto`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub intent: String,
    pub suggestion: SuggestedRule,
    pub decided: u64,
    /// The share approved (auto_approve) or denied (auto_deny).
    pub rate: f64,
    /// A sentence for people.
    pub reason: String,
}

/// An alert as analytics and the Insights page show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: i64,
    /// `stuck`, `overloaded`, `rejection_rate`, `execution_mismatch`, `delivery_failed`.
    pub kind: String,
    /// What it is about: an escalation's stage, a reviewer, a workflow stage, a delivery.
    pub subject: String,
    pub message: String,
    #[schema(value_type = String, format = DateTime)]
    pub fired_at: Time,
    pub escalation_id: Option<String>,
}

/// The least decisions an intent needs before a suggestion is made about it.
pub const SUGGESTION_MIN_DECISIONS: u64 = 20;
/// The share of one outcome that makes the suggestion.
pub const SUGGESTION_RATE: f64 = 0.99;
