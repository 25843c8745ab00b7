//! The simulator on fixture workflows: the chosen workflow and the misses before it, pools
//! after separation of duties, the timeline with the request's deadline.

use super::*;
use crate::domain::DelegationTier;
use crate::domain::fixtures::*;

fn subject<'a>(agent: &'a AgentId, request: &'a EscalationRequest) -> Subject<'a> {
    Subject {
        agent,
        intent: &request.intent,
        risk_score: request.risk_score(),
        body: &request.payload,
    }
}

#[test]
fn the_plan_of_the_first_matching_workflow() {
    let mut first = stage("Engineering", &["bob", "carol", "frank"]);
    first.required_role = Some("engineer".into());
    first.delegation = vec![DelegationTier {
        after: mins(30),
        approvers: rids(&["alice", "dave"]),
    }];
    first.sla = Some(mins(60));
    first.escalation_target = rids(&["erin"]);
    let mut flow = workflow(vec![first, stage("Security", &["alice", "erin"])]);
    flow.id = "chosen".into();
    let mut skipped = workflow(vec![stage("x", &["bob"])]);
    skipped.id = "earlier".into();
    let miss = Miss::Intents { intent: "x".into() };
    let agent = AgentId::from("a1");
    let mut req = request();
    req.deadline = Some(at(mins(90)));
    let sim = simulate(
        [(&skipped, Err(miss.clone())), (&flow, Ok(()))],
        &subject(&agent, &req),
        &req,
        &directory(),
        t0(),
    );
    assert_eq!(sim.workflow.as_deref(), Some("chosen"));
    assert_eq!(sim.skipped.len(), 1);
    assert_eq!(sim.skipped[0].failed, miss);
    let one = &sim.stages[0];
    // carol requested it (self-approval blocked); bob and frank lack the role `engineer`.
    assert!(one.eligible.is_empty(), "{one:?}");
    let excluded: Vec<_> = one.excluded.iter().map(|e| e.reviewer.as_str()).collect();
    assert_eq!(excluded, ["bob", "carol", "frank", "alice", "dave", "erin"]);
    assert!(one.excluded[1].reason.contains("self-approval"));
    assert_eq!(one.joins.len(), 2);
    assert_eq!(one.joins[0].after, "30m");
    assert_eq!(one.joins[1].why, "SLA escalation");
    assert_eq!(sim.stages[1].eligible, ["alice", "erin"]);
    // Stage 1's moments are absolute; the request's deadline comes before the 2h timeout.
    assert_eq!(sim.timeline[0].at, Some(at(mins(30))));
    assert_eq!(sim.timeline[1].at, Some(at(mins(60))));
    let end = &sim.timeline[2];
    assert!(end.what.contains("deadline"), "{end:?}");
    assert_eq!(end.at, Some(at(mins(90))));
    assert_eq!(end.offset_seconds, 90 * 60);
    assert_eq!(sim.timeline[3].from, "decision");
    assert_eq!(sim.channels, ["slack", "email"]);
    assert!(!sim.notes.is_empty());
}

#[test]
fn no_match_lists_every_workflow() {
    let flow = workflow(vec![stage("x", &["bob"])]);
    let agent = AgentId::from("a1");
    let req = request();
    let miss = Miss::Risk {
        score: 100,
        min: 0,
        max: 10,
    };
    let sim = simulate(
        [(&flow, Err(miss))],
        &subject(&agent, &req),
        &req,
        &directory(),
        t0(),
    );
    assert_eq!(sim.workflow, None);
    assert_eq!(sim.skipped.len(), 1);
    assert!(sim.stages.is_empty() && sim.timeline.is_empty());
}

#[test]
fn an_auto_workflow_reports_its_decision_instead_of_stages() {
    let mut flow = workflow(Vec::new());
    flow.id = "rollbacks".into();
    flow.auto = Some(crate::domain::AutoDecision::Approve);
    let agent = AgentId::from("a1");
    let req = request();
    let sim = simulate(
        [(&flow, Ok(()))],
        &subject(&agent, &req),
        &req,
        &directory(),
        t0(),
    );
    assert_eq!(sim.workflow.as_deref(), Some("rollbacks"));
    assert_eq!(sim.auto, Some(crate::domain::AutoDecision::Approve));
    assert!(sim.stages.is_empty() && sim.channels.is_empty());
    assert_eq!(sim.timeline.len(), 1);
    assert_eq!(sim.timeline[0].at, Some(at(mins(60))));
    flow.auto = Some(crate::domain::AutoDecision::Deny);
    let sim = simulate(
        [(&flow, Ok(()))],
        &subject(&agent, &req),
        &req,
        &directory(),
        t0(),
    );
    assert_eq!(sim.auto, Some(crate::domain::AutoDecision::Deny));
    assert!(sim.timeline.is_empty());
}
