//! The status document of the contract: what agents poll, long-poll and receive in callbacks.
//! Plain serde structs, so the shape is written down once and can be described (OpenAPI).

use super::Time;
use super::eligibility;
use super::escalation::{
    Decider, Escalation, EscalationStatus, Outcome, StageStatus, VoteChannel, VoteChoice,
};
use super::ids::{AgentId, EscalationId, ReviewerId};
use super::workflow::Directory;
use serde::{Deserialize, Serialize, Serializer};

/// RFC 3339 with milliseconds and `Z`, the one timestamp format of the API.
pub fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDocument {
    pub id: EscalationId,
    pub status: EscalationStatus,
    pub workflow: String,
    pub agent: AgentId,
    pub intent: String,
    pub summary: String,
    pub payload_sha256: String,
    #[serde(serialize_with = "millis")]
    pub created_at: Time,
    /// The effective deadline: the earlier of the agent's and the workflow timeout.
    #[serde(serialize_with = "millis")]
    pub deadline: Time,
    /// 1-based.
    pub current_stage: usize,
    pub total_stages: usize,
    pub stages: Vec<StageDocument>,
    pub decision: Option<DecisionDocument>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageDocument {
    /// 1-based.
    pub stage: usize,
    pub name: String,
    pub status: StageStatus,
    pub required_approvals: u32,
    #[serde(serialize_with = "millis_opt")]
    pub sla_deadline: Option<Time>,
    pub votes: Vec<VoteDocument>,
    /// Who may vote now; present only on the open current stage of a pending escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible: Option<Vec<ReviewerId>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteDocument {
    pub reviewer: ReviewerId,
    pub decision: VoteChoice,
    pub comment: Option<String>,
    pub conditions: Vec<String>,
    pub channel: VoteChannel,
    #[serde(serialize_with = "millis")]
    pub at: Time,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionDocument {
    pub outcome: Outcome,
    #[serde(serialize_with = "millis")]
    pub decided_at: Time,
    pub reason: Option<String>,
    pub conditions: Vec<String>,
    /// Reviewer ids, `agent:<id>` for a cancel, empty for a timeout.
    pub decided_by: Vec<Decider>,
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
        current_stage: esc.current_stage + 1,
        total_stages: esc.stages.len(),
        stages: (0..esc.stages.len())
            .map(|i| stage_document(esc, dir, i))
            .collect(),
        decision: esc.decision.as_ref().map(|d| DecisionDocument {
            outcome: d.outcome,
            decided_at: d.decided_at,
            reason: d.reason.clone(),
            conditions: d.conditions.clone(),
            decided_by: d.decided_by.clone(),
        }),
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
