//! The status document: what agents poll, long-poll and receive in callbacks (README
//! "Walk-through"). Plain serde structs, so the shape is written down once, and the
//! OpenAPI document (src/http/openapi.rs) describes these very types.

use super::Time;
use super::conditions::{Constraints, Violation};
use super::eligibility;
use super::escalation::{
    Decider, Escalation, EscalationStatus, Execution, ExecutionStatus, Outcome, StageStatus,
    VoteChannel, VoteChoice,
};
use super::ids::{AgentId, EscalationId, ReviewerId};
use super::workflow::Directory;
use serde::{Deserialize, Serialize, Serializer};

/// RFC 3339 with milliseconds and `Z`, the one timestamp format of the API.
pub fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An escalation as agents see it: `GET /v1/escalations/{id}`, intake and vote answers,
/// and the `data` of the `escalation.decided` callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusDocument {
    /// `esc_` + a ULID.
    #[schema(value_type = String, pattern = "^esc_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: EscalationId,
    pub status: EscalationStatus,
    /// The workflow that governs it (the first whose `match` fitted).
    pub workflow: String,
    /// The agent that submitted it.
    #[schema(value_type = String)]
    pub agent: AgentId,
    pub intent: String,
    pub summary: String,
    /// SHA-256 (hex) of the payload's RFC 8785 canonical JSON.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub payload_sha256: String,
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Time,
    /// The effective deadline: the earlier of the agent's `deadline` and `created_at` plus
    /// the workflow's `timeout`.
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub deadline: Time,
    /// 1-based; 0 when the workflow decides automatically and has no stages.
    #[schema(minimum = 0, maximum = 5)]
    pub current_stage: usize,
    /// 0 when the workflow decides automatically (`auto`, design.md §9).
    #[schema(minimum = 0, maximum = 5)]
    pub total_stages: usize,
    pub stages: Vec<StageDocument>,
    /// The submission under review, 1-based; +1 with each revision (design.md §7).
    #[schema(minimum = 1)]
    pub revision: u32,
    /// Every submission, the first at intake.
    pub revisions: Vec<RevisionDocument>,
    /// `null` while pending.
    #[schema(required = true)]
    pub decision: Option<DecisionDocument>,
    /// What the agent reported it executed; present once an approved escalation has a
    /// report, or `{"status": "unreported"}` when none came by the receipt's `exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionDocument>,
    /// While pending: now plus the median time of its remaining stages over the last 30
    /// days (what is left of the current one's, then the later ones'); `null` without that
    /// history, and once it is no longer pending.
    #[serde(default, serialize_with = "millis_opt")]
    #[schema(value_type = Option<String>, required = true, format = DateTime)]
    pub estimated_completion: Option<Time>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageDocument {
    /// 1-based.
    #[schema(minimum = 1)]
    pub stage: usize,
    pub name: String,
    pub status: StageStatus,
    #[schema(minimum = 1)]
    pub required_approvals: u32,
    /// `null` for a stage without an SLA or not yet started.
    #[serde(serialize_with = "millis_opt")]
    #[schema(value_type = Option<String>, required = true, format = DateTime)]
    pub sla_deadline: Option<Time>,
    pub votes: Vec<VoteDocument>,
    /// Reviewer ids who may vote now; present only on the open current stage of a pending
    /// escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub eligible: Option<Vec<ReviewerId>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoteDocument {
    /// The reviewer's id.
    #[schema(value_type = String)]
    pub reviewer: ReviewerId,
    pub decision: VoteChoice,
    #[schema(required = true)]
    pub comment: Option<String>,
    pub conditions: Vec<String>,
    /// Values given for the workflow's typed conditions, by id; absent when none.
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    #[schema(value_type = Object)]
    pub constraints: Constraints,
    pub channel: VoteChannel,
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionDocument {
    pub outcome: Outcome,
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub decided_at: Time,
    #[schema(required = true)]
    pub reason: Option<String>,
    /// The union of every approver's conditions, in the order first given.
    pub conditions: Vec<String>,
    /// Reviewer ids, `agent:<id>` for a cancelling agent, `policy:<workflow id>` for a
    /// workflow that decides automatically; empty for a timeout.
    #[schema(value_type = Vec<String>)]
    pub decided_by: Vec<Decider>,
    /// The approvers' constraint values merged, the strictest winning for `lte`/`gte`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub constraints: Constraints,
    /// The signed receipt: a compact JWS (EdDSA) the executor verifies against
    /// `/.well-known/jwks.json`; `null` only for decisions made before receipts existed.
    #[schema(required = true)]
    pub receipt: Option<String>,
}

/// The body of every callback to the agent (design.md §3, §7): what happened, when the
/// message was made, and the status document as it stood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallbackEvent {
    #[serde(rename = "type")]
    pub kind: CallbackKind,
    /// When the event happened (RFC 3339); retries resend the same body.
    pub timestamp: String,
    pub data: StatusDocument,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CallbackKind {
    /// The escalation is decided (approved, denied, expired, cancelled).
    #[serde(rename = "escalation.decided")]
    Decided,
    /// A reviewer asked for changes; the agent may revise.
    #[serde(rename = "escalation.changes_requested")]
    ChangesRequested,
}

impl CallbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decided => "escalation.decided",
            Self::ChangesRequested => "escalation.changes_requested",
        }
    }
}

/// One entry of `revisions` (design.md §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevisionDocument {
    #[schema(minimum = 1)]
    pub revision: u32,
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub submitted_at: Time,
    pub summary: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub payload_sha256: String,
    /// Who asked for changes to this submission, why and when; `null` if nobody did.
    #[schema(required = true)]
    pub changes_requested: Option<ChangesRequestedDocument>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangesRequestedDocument {
    /// The reviewer's id.
    #[schema(value_type = String)]
    pub by: ReviewerId,
    pub comment: String,
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Time,
}

/// `execution` (design.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionDocument {
    pub status: ExecutionStatus,
    /// Absent for `unreported`.
    #[serde(
        default,
        serialize_with = "millis_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reported_at: Option<Time>,
    /// The executed payload's hash; absent for `unreported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_sha256: Option<String>,
    /// Whether the executed payload is the approved one; absent for `unreported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<bool>,
    /// Each constraint check the executed payload fails.
    pub violations: Vec<Violation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<&Execution> for ExecutionDocument {
    fn from(e: &Execution) -> Self {
        Self {
            status: e.status,
            reported_at: e.reported_at,
            payload_sha256: e.payload_sha256.clone(),
            matches: e.matches,
            violations: e.violations.clone(),
            detail: e.detail.clone(),
        }
    }
}

pub fn status_document(esc: &Escalation, dir: &Directory) -> StatusDocument {
    StatusDocument {
        id: esc.id.clone(),
        status: esc.status,
        workflow: esc.workflow.id.clone(),
        agent: esc.agent_id.clone(),
        intent: esc.request.intent.clone(),
        summary: esc.request.summary.clone(),
        payload_sha256: esc.payload_sha256.clone(),
        created_at: esc.created_at,
        deadline: esc.expires_at,
        current_stage: if esc.stages.is_empty() {
            0
        } else {
            esc.current_stage + 1
        },
        total_stages: esc.stages.len(),
        stages: (0..esc.stages.len())
            .map(|i| stage_document(esc, dir, i))
            .collect(),
        revision: esc.submission(),
        revisions: esc
            .submissions
            .iter()
            .enumerate()
            .map(|(i, s)| RevisionDocument {
                revision: u32::try_from(i + 1).unwrap_or(u32::MAX),
                submitted_at: s.submitted_at,
                summary: s.summary.clone(),
                payload_sha256: s.payload_sha256.clone(),
                changes_requested: s
                    .changes_requested
                    .as_ref()
                    .map(|c| ChangesRequestedDocument {
                        by: c.by.clone(),
                        comment: c.comment.clone(),
                        at: c.at,
                    }),
            })
            .collect(),
        decision: esc.decision.as_ref().map(|d| DecisionDocument {
            outcome: d.outcome,
            decided_at: d.decided_at,
            reason: d.reason.clone(),
            conditions: d.conditions.clone(),
            decided_by: d.decided_by.clone(),
            constraints: d.constraints.clone(),
            receipt: d.receipt.as_ref().map(|r| r.token.clone()),
        }),
        execution: esc.execution.as_ref().map(ExecutionDocument::from),
        // Needs the store's history; the routes that show a pending escalation fill it in.
        estimated_completion: None,
    }
}

fn stage_document(esc: &Escalation, dir: &Directory, i: usize) -> StageDocument {
    let (state, spec) = (&esc.stages[i], &esc.workflow.stages[i]);
    StageDocument {
        stage: i + 1,
        name: spec.name.clone(),
        status: state.status,
        required_approvals: spec.required_approvals,
        sla_deadline: state.sla_deadline,
        votes: state
            .votes
            .iter()
            .map(|v| VoteDocument {
                reviewer: v.reviewer.clone(),
                decision: v.choice,
                comment: v.comment.clone(),
                conditions: v.conditions.clone(),
                constraints: v.constraints.clone(),
                channel: v.channel,
                at: v.at,
            })
            .collect(),
        eligible: awaiting(esc, dir, i),
    }
}

/// Who may still vote at stage `i`: only the open current stage of a pending escalation
/// awaits anyone. The status document and every reviewer-facing view ask this one question.
pub fn awaiting(esc: &Escalation, dir: &Directory, i: usize) -> Option<Vec<ReviewerId>> {
    let open = esc.stages.get(i).is_some_and(|s| s.status.is_open());
    (i == esc.current_stage && esc.is_pending() && open).then(|| eligibility::eligible(esc, dir))
}

fn millis<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

fn millis_opt<S: Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => millis(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{
        approve_with, at, directory, mins, stage, start, voted, workflow,
    };

    #[test]
    fn the_document_reads_back_as_it_was_written() {
        let flow = workflow(vec![stage("One", &["alice"]), stage("Two", &["bob"])]);
        let esc = start(flow).escalation;
        let esc = voted(
            &esc,
            approve_with("alice", &["Mask PII fields"]),
            at(mins(5)),
        );
        let doc = status_document(&esc, &directory());
        let json = serde_json::to_string(&doc).unwrap();
        assert!(
            json.contains(r#""created_at":"2026-11-21T10:00:00.000Z""#),
            "{json}"
        );
        assert_eq!(
            json.matches("\"eligible\"").count(),
            1,
            "only the open stage: {json}"
        );
        let back: StatusDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
    }
}
