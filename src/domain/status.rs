//! The status document of the contract: what agents poll, long-poll and receive in callbacks.

use super::Time;
use super::eligibility;
use super::escalation::{Escalation, StageStatus};
use super::workflow::Directory;
use serde_json::{Value, json};

/// RFC 3339 with milliseconds and `Z`, the one timestamp format of the API.
pub fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn status_document(esc: &Escalation, dir: &Directory) -> Value {
    let stages: Vec<Value> = esc
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let spec = &esc.workflow.stages[i];
            let votes: Vec<Value> = stage
                .votes
                .iter()
                .map(|v| {
                    json!({
                        "reviewer": v.reviewer,
                        "decision": v.choice.as_str(),
                        "comment": v.comment,
                        "conditions": v.conditions,
                        "channel": v.channel.as_str(),
                        "at": rfc3339(v.at),
                    })
                })
                .collect();
            let mut doc = json!({
                "stage": i + 1,
                "name": spec.name,
                "status": stage_status(stage.status),
                "required_approvals": spec.required_approvals,
                "sla_deadline": stage.sla_deadline.map(rfc3339),
                "votes": votes,
            });
            if i == esc.current_stage && esc.is_pending() && stage.status.is_open() {
                doc["eligible"] = json!(eligibility::eligible(esc, dir));
            }
            doc
        })
        .collect();
    json!({
        "id": esc.id,
        "status": esc.status.as_str(),
        "workflow": esc.workflow.id,
        "agent": esc.agent_id,
        "intent": esc.request.intent,
        "summary": esc.request.summary,
        "payload_sha256": esc.payload_sha256,
        "created_at": rfc3339(esc.created_at),
        "deadline": rfc3339(esc.expires_at),
        "current_stage": esc.current_stage + 1,
        "total_stages": esc.stages.len(),
        "stages": stages,
        "decision": esc.decision.as_ref().map(|d| json!({
            "outcome": d.outcome.as_str(),
            "decided_at": rfc3339(d.decided_at),
            "reason": d.reason,
            "conditions": d.conditions,
            "decided_by": d.decided_by,
        })),
    })
}

fn stage_status(s: StageStatus) -> &'static str {
    match s {
        StageStatus::Waiting => "waiting",
        StageStatus::Pending => "pending",
        StageStatus::Approved => "approved",
        StageStatus::Rejected => "rejected",
        StageStatus::Escalated => "escalated",
    }
}
