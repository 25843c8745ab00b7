//! The analytics facts each step emits: one per vote, per closed stage opening, per
//! decision and per execution outcome, with the durations the analytics measure.

use super::engine::Event;
use super::facts::{ExecutionResult, Fact, StageOutcome};
use super::fixtures::*;
use super::workflow::OnDeny;
use super::{Outcome, VoteChoice};

fn two_stages(on_deny: OnDeny) -> super::WorkflowSpec {
    let mut second = stage("Senior Approval", &["bob", "dave"]);
    second.on_deny = on_deny;
    second.sla = Some(mins(30));
    workflow(vec![stage("Security Review", &["alice", "erin"]), second])
}

fn votes(facts: &[Fact]) -> Vec<(&str, VoteChoice, i64, Option<i64>)> {
    facts
        .iter()
        .filter_map(|f| match f {
            Fact::Vote(v) => Some((
                v.reviewer.as_str(),
                v.choice,
                v.response_ms,
                v.first.map(|f| f.wait_ms),
            )),
            _ => None,
        })
        .collect()
}

fn stages(facts: &[Fact]) -> Vec<(usize, u32, StageOutcome, i64, bool)> {
    facts
        .iter()
        .filter_map(|f| match f {
            Fact::StageClosed(s) => {
                Some((s.stage, s.round, s.outcome, s.duration_ms(), s.sla_breached))
            }
            _ => None,
        })
        .collect()
}

const MIN: i64 = 60_000;

#[test]
fn an_approval_through_two_stages_counts_each_vote_stage_and_the_decision() {
    let opened = start(two_stages(OnDeny::Terminate));
    assert!(opened.facts.is_empty(), "opening is not a fact");
    let first = accept(
        &opened.escalation,
        Event::Vote(approve("alice")),
        at(mins(5)),
    );
    assert_eq!(
        votes(&first.facts),
        vec![("alice", VoteChoice::Approve, 5 * MIN, Some(5 * MIN))]
    );
    assert_eq!(
        stages(&first.facts),
        vec![(0, 1, StageOutcome::Approved, 5 * MIN, false)]
    );

    // Stage 2 opened at 5 min with a 30 min SLA; bob answers at 45 min: breached.
    let done = accept(&first.escalation, Event::Vote(approve("bob")), at(mins(45)));
    assert_eq!(
        votes(&done.facts),
        vec![("bob", VoteChoice::Approve, 40 * MIN, None)]
    );
    assert_eq!(
        stages(&done.facts),
        vec![(1, 1, StageOutcome::Approved, 40 * MIN, true)]
    );
    let decided: Vec<_> = done
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::Decided(d) => Some((d.outcome, d.duration_ms(), d.automatic)),
            _ => None,
        })
        .collect();
    assert_eq!(decided, vec![(Outcome::Approved, 45 * MIN, false)]);
}

#[test]
fn a_rollback_keeps_the_deny_and_the_rejected_stage_though_the_state_drops_them() {
    let esc = voted(
        &start(two_stages(OnDeny::Rollback)).escalation,
        approve("alice"),
        at(mins(5)),
    );
    let step = accept(
        &esc,
        Event::Vote(deny("bob", "Fix the canary first")),
        at(mins(9)),
    );
    assert_eq!(
        votes(&step.facts),
        vec![("bob", VoteChoice::Deny, 4 * MIN, None)]
    );
    assert_eq!(
        stages(&step.facts),
        vec![(1, 1, StageOutcome::Rejected, 4 * MIN, false)]
    );
    assert!(
        step.escalation.stages[1].votes.is_empty(),
        "the state forgets the deny"
    );

    // The reopened stage's next vote is not the escalation's first.
    let again = accept(&step.escalation, Event::Vote(approve("erin")), at(mins(12)));
    assert_eq!(
        votes(&again.facts),
        vec![("erin", VoteChoice::Approve, 3 * MIN, None)]
    );
    assert_eq!(
        stages(&again.facts),
        vec![(0, 2, StageOutcome::Approved, 3 * MIN, false)]
    );
}

#[test]
fn a_timeout_closes_the_open_stage_as_expired_and_a_cancel_as_cancelled() {
    let esc = start(two_stages(OnDeny::Terminate)).escalation;
    let step = accept(&esc, Event::Tick, at(mins(120)));
    assert_eq!(
        stages(&step.facts),
        vec![(0, 1, StageOutcome::Expired, 120 * MIN, false)]
    );
    assert!(
        step.facts
            .iter()
            .any(|f| matches!(f, Fact::Decided(d) if d.outcome == Outcome::Expired))
    );

    let step = accept(&esc, cancel(), at(mins(7)));
    assert_eq!(
        stages(&step.facts),
        vec![(0, 1, StageOutcome::Cancelled, 7 * MIN, false)]
    );
}

#[test]
fn a_final_deny_closes_its_stage_once() {
    let esc = start(two_stages(OnDeny::Terminate)).escalation;
    let step = accept(&esc, Event::Vote(deny("alice", "No")), at(mins(2)));
    assert_eq!(
        stages(&step.facts),
        vec![(0, 1, StageOutcome::Rejected, 2 * MIN, false)]
    );
    let reason: Vec<_> = step
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::Decided(d) => d.reason.as_deref(),
            _ => None,
        })
        .collect();
    assert_eq!(reason, vec!["No"], "denial comments are kept for analytics");
}

#[test]
fn changes_requested_closes_the_stage_and_a_later_cancel_does_not_close_it_again() {
    let esc = start(two_stages(OnDeny::Terminate)).escalation;
    let ask = super::VoteInput {
        choice: VoteChoice::RequestChanges,
        comment: Some("Lower the amount".into()),
        ..approve("alice")
    };
    let step = accept(&esc, Event::Vote(ask), at(mins(3)));
    assert_eq!(
        stages(&step.facts),
        vec![(0, 1, StageOutcome::ChangesRequested, 3 * MIN, false)]
    );
    let cancelled = accept(&step.escalation, cancel(), at(mins(4)));
    assert!(stages(&cancelled.facts).is_empty());
    assert!(
        cancelled
            .facts
            .iter()
            .any(|f| matches!(f, Fact::Decided(_)))
    );
}

#[test]
fn an_unreported_execution_is_a_fact() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let esc = voted(&esc, approve("alice"), at(mins(1)));
    let step = accept(&esc, Event::Tick, at(mins(61)));
    let results: Vec<_> = step
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::Execution(e) => Some(e.result),
            _ => None,
        })
        .collect();
    assert_eq!(results, vec![ExecutionResult::Unreported]);
}

#[test]
fn risk_tiers_and_hours_of_week_follow_the_contract() {
    use super::facts::{hour_of_week, risk_tier};
    assert_eq!(
        [
            None,
            Some(0),
            Some(39),
            Some(40),
            Some(69),
            Some(70),
            Some(89),
            Some(90),
            Some(100)
        ]
        .map(risk_tier),
        [
            "unscored", "low", "low", "medium", "medium", "high", "high", "critical", "critical"
        ]
    );
    let monday = chrono::DateTime::parse_from_rfc3339("2026-11-30T00:30:00Z")
        .unwrap()
        .to_utc();
    let sunday = chrono::DateTime::parse_from_rfc3339("2026-12-06T23:59:00Z")
        .unwrap()
        .to_utc();
    assert_eq!((hour_of_week(monday), hour_of_week(sunday)), (0, 167));
}
