//! Unit tests for automatic decisions (design.md §9): a workflow with `auto` and no stages
//! decides in `engine::start`, and the escalation then behaves as any decided one.

use super::effects::{AuditKind, Effect};
use super::engine::{self, Event};
use super::execution::ExecutionReport;
use super::fixtures::*;
use super::status::status_document;
use super::timers::{self, Timer, TimerKind};
use super::{
    AutoDecision, Decider, EscalationStatus, ExecutionStatus, Outcome, Refusal, VoteChoice,
    WorkflowSpec,
};
use serde_json::json;

fn auto(decision: AutoDecision) -> WorkflowSpec {
    let mut w = workflow(Vec::new());
    w.id = "rollbacks".to_owned();
    w.auto = Some(decision);
    w
}

#[test]
fn auto_approve_decides_at_start_for_the_policy_without_asking_anyone() {
    let step = start(auto(AutoDecision::Approve));
    let esc = &step.escalation;
    assert_eq!(esc.status, EscalationStatus::Approved);
    assert!(esc.stages.is_empty());
    let decision = esc.decision.as_ref().expect("decided at start");
    assert_eq!(decision.outcome, Outcome::Approved);
    assert_eq!(decision.decided_at, t0());
    assert_eq!(
        decision.decided_by,
        vec![Decider::Policy("rollbacks".into())]
    );
    assert_eq!(decision.decided_by, vec!["policy:rollbacks"]);
    assert_eq!(
        decision.reason.as_deref(),
        Some("Decided automatically by policy rollbacks.")
    );
    assert_eq!(decision.execute_by, Some(at(mins(60))));
    // Nobody is notified: the only effect is the decision (callback, receipt).
    assert_eq!(step.effects, vec![Effect::Decided]);
    let kinds: Vec<AuditKind> = step.audit.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, vec![AuditKind::Created, AuditKind::Decided]);
    assert_eq!(step.audit[1].actor.as_deref(), Some("policy:rollbacks"));
}

#[test]
fn auto_approve_arms_only_the_execution_timer() {
    let esc = start(auto(AutoDecision::Approve)).escalation;
    assert_eq!(
        timers::derive(&esc),
        vec![Timer {
            kind: TimerKind::Execution,
            stage: None,
            due: at(mins(60)),
        }]
    );
}

#[test]
fn auto_deny_decides_denied_and_arms_nothing() {
    let step = start(auto(AutoDecision::Deny));
    let esc = &step.escalation;
    assert_eq!(esc.status, EscalationStatus::Denied);
    let decision = esc.decision.as_ref().expect("decided at start");
    assert_eq!(decision.outcome, Outcome::Denied);
    assert_eq!(decision.decided_by, vec!["policy:rollbacks"]);
    assert_eq!(step.effects, vec![Effect::Decided]);
    assert!(timers::derive(esc).is_empty());
}

#[test]
fn a_workflow_without_auto_still_opens_its_first_stage() {
    let step = start(workflow(vec![stage("One", &["alice"])]));
    assert_eq!(step.escalation.status, EscalationStatus::Pending);
    assert!(step.escalation.decision.is_none());
}

#[test]
fn the_status_document_has_no_stages_and_stage_zero() {
    let esc = start(auto(AutoDecision::Approve)).escalation;
    let doc = status_document(&esc, &directory());
    assert_eq!(doc.total_stages, 0);
    assert_eq!(doc.current_stage, 0);
    assert!(doc.stages.is_empty());
    let value = serde_json::to_value(&doc).unwrap();
    assert_eq!(value["decision"]["decided_by"], json!(["policy:rollbacks"]));
}

#[test]
fn votes_cancels_and_revisions_meet_a_decided_escalation() {
    let esc = start(auto(AutoDecision::Approve)).escalation;
    let now = at(mins(1));
    assert_eq!(
        refuse(&esc, Event::Vote(approve("alice")), now),
        Refusal::AlreadyDecided(EscalationStatus::Approved)
    );
    assert_eq!(
        refuse(&esc, cancel(), now),
        Refusal::AlreadyDecided(EscalationStatus::Approved)
    );
    let precheck = engine::precheck(
        &esc,
        &rid("alice"),
        VoteChoice::Approve,
        None,
        &directory(),
        now,
    );
    assert_eq!(
        precheck,
        Err(Refusal::AlreadyDecided(EscalationStatus::Approved))
    );
}

#[test]
fn an_auto_approval_takes_an_execution_report_and_marks_unreported_ones() {
    let esc = start(auto(AutoDecision::Approve)).escalation;
    let report: ExecutionReport = serde_json::from_value(
        json!({"status": "succeeded", "payload": esc.request.payload.clone()}),
    )
    .unwrap();
    let done = accept(&esc, Event::ReportExecution(report), at(mins(5))).escalation;
    let execution = done.execution.expect("recorded");
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.matches, Some(true));

    let late = accept(&esc, Event::Tick, at(mins(61))).escalation;
    assert_eq!(
        late.execution.map(|e| e.status),
        Some(ExecutionStatus::Unreported)
    );
}

#[test]
fn policy_deciders_round_trip_beside_agents_and_reviewers() {
    let all = vec![
        Decider::Policy("rollbacks".into()),
        Decider::Agent("deploy-bot".into()),
        Decider::Reviewer(rid("alice")),
    ];
    let text = serde_json::to_value(&all).unwrap();
    assert_eq!(
        text,
        json!(["policy:rollbacks", "agent:deploy-bot", "alice"])
    );
    let back: Vec<Decider> = serde_json::from_value(text).unwrap();
    assert_eq!(back, all);
}

#[test]
fn nobody_is_eligible_on_an_escalation_without_stages() {
    let esc = start(auto(AutoDecision::Approve)).escalation;
    assert!(super::eligibility::eligible(&esc, &directory()).is_empty());
}
