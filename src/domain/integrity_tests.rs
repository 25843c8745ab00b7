//! Decision integrity in the engine (design.md §6): constraints on votes, their merge into
//! the decision, the receipt's claims, execution reports and the `unreported` mark.

use super::conditions::{Check, CheckOp, ConditionSpec, InputKind, TypedCondition};
use super::engine::{Event, VoteInput};
use super::escalation::{Escalation, ExecutionStatus, Outcome};
use super::execution::ExecutionReport;
use super::fixtures::*;
use super::timers::{self, TimerKind};
use super::{Effect, Refusal, receipt};
use serde_json::{Value, json};

fn typed(id: &str, input: InputKind, check: Option<(&str, CheckOp)>) -> ConditionSpec {
    ConditionSpec::Typed(TypedCondition {
        id: id.to_owned(),
        label: format!("Label of {id}"),
        input,
        check: check.map(|(pointer, op)| Check {
            pointer: pointer.to_owned(),
            op,
        }),
    })
}

/// Two stages (alice, then bob or dave needing two) over a payment payload, with a cap,
/// a floor, a region and a plain label.
fn payment() -> Escalation {
    let mut second = stage("Finance", &["bob", "dave"]);
    second.required_approvals = 2;
    let mut flow = workflow(vec![stage("Security", &["alice"]), second]);
    flow.conditions = vec![
        ConditionSpec::Label("Canary rollout required".into()),
        typed(
            "max_amount",
            InputKind::Number,
            Some(("/amount", CheckOp::Lte)),
        ),
        typed(
            "min_batch",
            InputKind::Number,
            Some(("/batch", CheckOp::Gte)),
        ),
        typed("region", InputKind::Text, Some(("/region", CheckOp::Eq))),
        typed("ticket", InputKind::Text, None),
    ];
    let mut req = request();
    req.payload = json!({"amount": 15000, "batch": 10, "region": "eu-west-1"});
    start_with(flow, req).escalation
}

fn with(who: &str, constraints: Value) -> VoteInput {
    VoteInput {
        constraints: serde_json::from_value(constraints).unwrap(),
        ..approve(who)
    }
}

fn approved(esc: &Escalation) -> Escalation {
    let esc = voted(
        esc,
        with("alice", json!({"max_amount": 20000, "min_batch": 5})),
        at(mins(1)),
    );
    let esc = voted(
        &esc,
        with(
            "bob",
            json!({"max_amount": 18000, "min_batch": 8, "region": "eu-west-1"}),
        ),
        at(mins(2)),
    );
    let esc = voted(
        &esc,
        with("dave", json!({"max_amount": 25000, "region": "us-east-1"})),
        at(mins(3)),
    );
    assert_eq!(esc.status, super::EscalationStatus::Approved);
    esc
}

#[test]
fn the_decision_keeps_the_strictest_cap_and_floor_and_the_first_other_value() {
    let esc = approved(&payment());
    let decision = esc.decision.as_ref().unwrap();
    assert_eq!(
        serde_json::to_value(&decision.constraints).unwrap(),
        json!({"max_amount": 18000, "min_batch": 8, "region": "eu-west-1"})
    );
    assert_eq!(decision.execute_by, Some(at(mins(3 + 60))));
}

#[test]
fn constraints_for_undeclared_ids_or_of_the_wrong_type_are_refused() {
    let esc = payment();
    for bad in [
        json!({"nope": 1}),
        json!({"max_amount": "20000"}),
        json!({"region": 5}),
        json!({"max_amount": null}),
        json!({"ticket": "x".repeat(501)}),
    ] {
        let refusal = refuse(&esc, Event::Vote(with("alice", bad.clone())), at(mins(1)));
        assert_eq!(refusal.code(), "validation", "{bad}");
    }
    // A workflow without typed conditions refuses every constraint.
    let plain = start(workflow(vec![stage("One", &["alice"])])).escalation;
    let refusal = refuse(
        &plain,
        Event::Vote(with("alice", json!({"max_amount": 1}))),
        at(mins(1)),
    );
    assert_eq!(refusal.code(), "validation");
}

#[test]
fn a_deny_drops_its_constraints() {
    let esc = payment();
    let denied = voted(
        &esc,
        VoteInput {
            constraints: serde_json::from_value(json!({"max_amount": 1})).unwrap(),
            ..deny("alice", "no")
        },
        at(mins(1)),
    );
    assert!(denied.stages[0].votes[0].constraints.is_empty());
    assert!(denied.decision.unwrap().constraints.is_empty());
}

#[test]
fn the_receipt_claims_bind_the_decision_to_the_payload() {
    let esc = approved(&payment());
    let claims = receipt::claims(&esc, "https://cs.example.com", "rcpt_1").unwrap();
    assert_eq!(claims.sub, esc.id);
    assert_eq!(claims.aud.as_str(), "deploy-bot");
    assert_eq!(claims.payload_sha256, esc.payload_sha256);
    assert_eq!(claims.outcome, Outcome::Approved);
    assert_eq!(claims.iat, at(mins(3)).timestamp());
    assert_eq!(claims.exp, at(mins(63)).timestamp());
    assert_eq!(claims.revision, 1);
    assert_eq!(claims.workflow, "test-flow");
    let approvers: Vec<&str> = claims.approvers.iter().map(|r| r.as_str()).collect();
    assert_eq!(approvers, ["alice", "bob", "dave"]);
    assert_eq!(claims.constraints["max_amount"], json!(18000));
    // Pending: nothing to sign.
    assert!(receipt::claims(&payment(), "x", "y").is_none());
}

#[test]
fn a_timeout_and_a_cancel_get_receipts_with_no_approvers() {
    let esc = payment();
    let expired = accept(&esc, Event::Tick, at(mins(121))).escalation;
    let claims = receipt::claims(&expired, "x", "y").unwrap();
    assert_eq!(claims.outcome, Outcome::Expired);
    assert!(claims.approvers.is_empty());
    assert_eq!(claims.exp, at(mins(121 + 60)).timestamp());
    let cancelled = accept(&esc, cancel(), at(mins(5))).escalation;
    assert_eq!(
        receipt::claims(&cancelled, "x", "y").unwrap().outcome,
        Outcome::Cancelled
    );
}

fn report(status: &str, payload: Value) -> Event {
    Event::ReportExecution(
        serde_json::from_value::<ExecutionReport>(json!({"status": status, "payload": payload}))
            .unwrap(),
    )
}

#[test]
fn an_execution_of_the_approved_payload_matches_and_passes_its_checks() {
    let esc = approved(&payment());
    let payload = esc.request.payload.clone();
    let step = accept(&esc, report("succeeded", payload.clone()), at(mins(10)));
    let done = step.escalation.execution.clone().unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.matches, Some(true));
    assert!(done.violations.is_empty(), "{:?}", done.violations);
    assert!(step.effects.contains(&Effect::ExecutionRecorded));
    // The same report again changes nothing; another one is refused.
    let again = accept(&step.escalation, report("succeeded", payload), at(mins(11)));
    assert_eq!(again.escalation.revision, step.escalation.revision);
    let other = refuse(
        &step.escalation,
        report("failed", json!({"amount": 1})),
        at(mins(12)),
    );
    assert_eq!(other, Refusal::AlreadyReported);
}

#[test]
fn another_payload_is_a_mismatch_and_each_broken_check_a_violation() {
    let esc = approved(&payment());
    let executed = json!({"amount": 19000, "batch": 8});
    let done = accept(&esc, report("succeeded", executed), at(mins(10)))
        .escalation
        .execution
        .unwrap();
    assert_eq!(done.matches, Some(false));
    let broken: Vec<(&str, Value)> = done
        .violations
        .iter()
        .map(|v| (v.id.as_str(), v.actual.clone()))
        .collect();
    // 19000 > the 18000 cap; batch 8 meets the floor; the region is missing.
    assert_eq!(
        broken,
        [("max_amount", json!(19000)), ("region", Value::Null)]
    );
    assert!(done.is_problem());
}

#[test]
fn a_matching_hash_alone_is_checked_against_the_approved_payload() {
    let esc = approved(&payment());
    let event = Event::ReportExecution(
        serde_json::from_value(
            json!({"status": "succeeded", "payload_sha256": esc.payload_sha256}),
        )
        .unwrap(),
    );
    let done = accept(&esc, event, at(mins(10)))
        .escalation
        .execution
        .unwrap();
    assert_eq!(done.matches, Some(true));
    assert!(done.violations.is_empty());
}

#[test]
fn reports_for_unapproved_escalations_or_without_a_payload_are_refused() {
    let pending = payment();
    assert_eq!(
        refuse(&pending, report("succeeded", json!({})), at(mins(1))).code(),
        "not_approved"
    );
    let denied = voted(&pending, deny("alice", "no"), at(mins(1)));
    assert_eq!(
        refuse(&denied, report("succeeded", json!({})), at(mins(2))).code(),
        "not_approved"
    );
    let esc = approved(&pending);
    let bare: ExecutionReport = serde_json::from_value(json!({"status": "failed"})).unwrap();
    assert_eq!(
        refuse(&esc, Event::ReportExecution(bare), at(mins(4))).code(),
        "validation"
    );
    let both: ExecutionReport = serde_json::from_value(
        json!({"status": "failed", "payload": {"a": 1}, "payload_sha256": "0".repeat(64)}),
    )
    .unwrap();
    assert_eq!(
        refuse(&esc, Event::ReportExecution(both), at(mins(4))).code(),
        "validation"
    );
}

#[test]
fn an_approval_without_a_report_by_the_receipts_exp_is_marked_unreported() {
    let esc = approved(&payment());
    let due = timers::derive(&esc);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, TimerKind::Execution);
    assert_eq!(due[0].due, at(mins(63)));
    // Before exp a tick changes nothing.
    let early = accept(&esc, Event::Tick, at(mins(62))).escalation;
    assert_eq!(early.revision, esc.revision);
    let late = accept(&esc, Event::Tick, at(mins(63))).escalation;
    assert_eq!(
        late.execution.as_ref().unwrap().status,
        ExecutionStatus::Unreported
    );
    assert!(timers::derive(&late).is_empty());
    // A late report still lands, replacing the mark.
    let reported = accept(
        &late,
        report("succeeded", esc.request.payload.clone()),
        at(mins(70)),
    );
    assert_eq!(
        reported.escalation.execution.unwrap().status,
        ExecutionStatus::Succeeded
    );
}

#[test]
fn denied_escalations_arm_no_execution_timer() {
    let denied = voted(&payment(), deny("alice", "no"), at(mins(1)));
    assert!(timers::derive(&denied).is_empty());
}
