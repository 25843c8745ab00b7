//! Unit tests for the engine: one test per workflow rule, with fixed instants and no clock.

use super::effects::{AuditKind, Effect, NotifyReason};
use super::engine::{self, Event};
use super::fixtures::*;
use super::status::{rfc3339, status_document};
use super::timers::{self, Timer, TimerKind};
use super::{
    DelegationTier, EscalationStatus, OnDeny, Opening, Outcome, Refusal, StageStatus,
    TimeoutAction, VoteChoice, eligibility,
};
use serde_json::json;

/// A notify effect for `(stage, round)`.
fn notify((stage, round): (usize, u32), reviewers: &[&str], reason: NotifyReason) -> Effect {
    Effect::NotifyReviewers {
        opening: Opening { stage, round },
        reviewers: rids(reviewers),
        reason,
    }
}

fn recorded(stage: usize, reviewer: &str) -> Effect {
    Effect::VoteRecorded {
        stage,
        reviewer: rid(reviewer),
    }
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

#[test]
fn start_opens_the_first_stage_and_notifies_its_reviewers() {
    let step = start(workflow(vec![stage("Security Review", &["alice", "erin"])]));
    let esc = &step.escalation;
    assert_eq!(esc.status, EscalationStatus::Pending);
    assert_eq!(esc.revision, 1);
    assert_eq!(esc.current_stage, 0);
    assert_eq!(esc.stages[0].status, StageStatus::Pending);
    assert_eq!(esc.stages[0].started_at, Some(t0()));
    assert_eq!(esc.expires_at, at(mins(120)));
    assert_eq!(
        step.effects,
        vec![notify(
            (0, 1),
            &["alice", "erin"],
            NotifyReason::StageStarted
        )]
    );
}

#[test]
fn single_approver_approves_with_conditions() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let now = at(mins(5));
    let step = accept(
        &esc,
        Event::Vote(approve_with("alice", &["Canary rollout required"])),
        now,
    );
    let esc = step.escalation;
    assert_eq!(esc.status, EscalationStatus::Approved);
    assert_eq!(esc.stages[0].status, StageStatus::Approved);
    let decision = esc.decision.expect("decided");
    assert_eq!(decision.outcome, Outcome::Approved);
    assert_eq!(decision.decided_at, now);
    assert_eq!(decision.conditions, vec!["Canary rollout required"]);
    assert_eq!(decision.decided_by, vec!["alice"]);
    assert_eq!(
        step.effects,
        vec![
            recorded(0, "alice"),
            Effect::StageClosed { stage: 0 },
            Effect::Decided
        ]
    );
}

#[test]
fn two_of_three_needs_two_distinct_approvals() {
    let mut review = stage("Peer Review", &["alice", "bob", "dave"]);
    review.required_approvals = 2;
    let esc = start(workflow(vec![review])).escalation;

    let step = accept(&esc, Event::Vote(approve("alice")), at(mins(1)));
    assert_eq!(step.escalation.status, EscalationStatus::Pending);
    assert_eq!(step.escalation.stages[0].status, StageStatus::Pending);
    assert_eq!(step.effects, vec![recorded(0, "alice")]);

    // The same approver twice is not two approvals.
    let refusal = refuse(&step.escalation, Event::Vote(approve("alice")), at(mins(2)));
    assert_eq!(refusal, Refusal::AlreadyVoted);

    let esc = voted(&step.escalation, approve("bob"), at(mins(3)));
    assert_eq!(esc.status, EscalationStatus::Approved);
    assert_eq!(esc.decision.unwrap().decided_by, vec!["alice", "bob"]);
}

#[test]
fn deny_ends_the_escalation_as_denied() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let step = accept(
        &esc,
        Event::Vote(deny("alice", "Outside the change window")),
        at(mins(4)),
    );
    let esc = step.escalation;
    assert_eq!(esc.status, EscalationStatus::Denied);
    assert_eq!(esc.stages[0].status, StageStatus::Rejected);
    let decision = esc.decision.expect("decided");
    assert_eq!(decision.outcome, Outcome::Denied);
    assert_eq!(
        decision.reason.as_deref(),
        Some("Outside the change window")
    );
    assert_eq!(decision.decided_by, vec!["alice"]);
    assert!(decision.conditions.is_empty());
    assert_eq!(
        step.effects,
        vec![
            recorded(0, "alice"),
            Effect::StageClosed { stage: 0 },
            Effect::Decided
        ]
    );
}

#[test]
fn deny_after_one_approval_still_denies_at_once() {
    let mut review = stage("Peer Review", &["alice", "bob", "dave"]);
    review.required_approvals = 2;
    let esc = start(workflow(vec![review, stage("Exec", &["frank"])])).escalation;
    let esc = voted(
        &esc,
        approve_with("alice", &["Mask PII fields"]),
        at(mins(1)),
    );
    let esc = voted(&esc, deny("bob", "Not tested"), at(mins(2)));
    assert_eq!(esc.status, EscalationStatus::Denied);
    assert_eq!(esc.current_stage, 0, "a denied escalation never proceeds");
    assert_eq!(esc.stages[1].status, StageStatus::Waiting);
    let decision = esc.decision.unwrap();
    assert_eq!(decision.decided_by, vec!["bob"]);
    assert!(
        decision.conditions.is_empty(),
        "a deny carries no conditions"
    );
}

#[test]
fn three_stages_advance_and_notify_the_next_reviewers() {
    let flow = workflow(vec![
        stage("Security Review", &["alice"]),
        stage("Senior Approval", &["bob", "dave"]),
        stage("Executive Sign-off", &["frank"]),
    ]);
    let esc = start(flow).escalation;

    let step = accept(&esc, Event::Vote(approve("alice")), at(mins(10)));
    assert_eq!(
        step.effects,
        vec![
            recorded(0, "alice"),
            Effect::StageClosed { stage: 0 },
            notify((1, 1), &["bob", "dave"], NotifyReason::StageStarted),
        ]
    );
    let esc = step.escalation;
    assert_eq!(esc.current_stage, 1);
    assert_eq!(esc.stages[0].status, StageStatus::Approved);
    assert_eq!(esc.stages[1].status, StageStatus::Pending);
    assert_eq!(esc.stages[1].started_at, Some(at(mins(10))));
    assert_eq!(esc.stages[2].status, StageStatus::Waiting);

    let step = accept(&esc, Event::Vote(approve("dave")), at(mins(20)));
    assert_eq!(
        step.effects,
        vec![
            recorded(1, "dave"),
            Effect::StageClosed { stage: 1 },
            notify((2, 1), &["frank"], NotifyReason::StageStarted),
        ]
    );

    let step = accept(
        &step.escalation,
        Event::Vote(approve("frank")),
        at(mins(30)),
    );
    let esc = step.escalation;
    assert_eq!(esc.status, EscalationStatus::Approved);
    assert!(esc.stages.iter().all(|s| s.status == StageStatus::Approved));
    assert_eq!(
        esc.decision.unwrap().decided_by,
        vec!["alice", "dave", "frank"]
    );
    assert_eq!(esc.revision, 4, "start plus three accepted votes");
}

#[test]
fn rollback_reopens_the_previous_stage() {
    let mut second = stage("Senior Approval", &["bob", "dave"]);
    second.on_deny = OnDeny::Rollback;
    let esc = start(workflow(vec![
        stage("Security Review", &["alice", "erin"]),
        second,
    ]))
    .escalation;
    let esc = voted(&esc, approve("alice"), at(mins(5)));

    let now = at(mins(9));
    let step = accept(&esc, Event::Vote(deny("bob", "Fix the canary first")), now);
    assert_eq!(
        step.effects,
        vec![
            recorded(1, "bob"),
            Effect::StageClosed { stage: 1 },
            notify((0, 2), &["alice", "erin"], NotifyReason::StageStarted),
        ]
    );
    let esc = step.escalation;
    assert_eq!(esc.stages[0].round, 2, "a re-entry is a new round");
    assert_eq!(esc.stages[1].round, 1, "the left stage keeps its count");
    assert_eq!(esc.status, EscalationStatus::Pending);
    assert!(esc.decision.is_none());
    assert_eq!(esc.current_stage, 0);
    assert_eq!(esc.stages[0].status, StageStatus::Pending);
    assert_eq!(esc.stages[0].started_at, Some(now));
    assert!(
        esc.stages[0].votes.is_empty(),
        "the reopened stage starts over"
    );
    assert_eq!(esc.stages[1].status, StageStatus::Waiting);
    assert!(esc.stages[1].votes.is_empty());

    // The first stage is decided afresh; the workflow then proceeds as before.
    let esc = voted(&esc, approve("alice"), at(mins(12)));
    assert_eq!(esc.current_stage, 1);
    let esc = voted(&esc, approve("dave"), at(mins(15)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn a_vote_shown_on_an_earlier_opening_never_counts_in_a_later_one() {
    let mut second = stage("Senior Approval", &["bob", "dave"]);
    second.on_deny = OnDeny::Rollback;
    let esc = start(workflow(vec![
        stage("Security Review", &["alice", "erin"]),
        second,
    ]))
    .escalation;
    // Erin's Slack button and email link name stage 1's first opening.
    let shown = esc.opening();
    assert_eq!(shown, Opening { stage: 0, round: 1 });
    let esc = voted(&esc, approve("alice"), at(mins(5)));
    // Bob sends it back: stage 1 opens again, at the same index.
    let esc = voted(&esc, deny("bob", "Fix the canary first"), at(mins(9)));
    assert_eq!(esc.opening(), Opening { stage: 0, round: 2 });

    // Erin clicks the old button: the shell's precheck and the step both refuse it.
    let old = crate::domain::VoteInput {
        opening: Some(shown),
        ..approve("erin")
    };
    let precheck = engine::precheck(
        &esc,
        &rid("erin"),
        VoteChoice::Approve,
        Some(shown),
        &directory(),
        at(mins(10)),
    );
    assert_eq!(precheck, Err(Refusal::StaleStage));
    assert_eq!(
        refuse(&esc, Event::Vote(old), at(mins(10))),
        Refusal::StaleStage
    );
    // The message of the new opening works.
    let fresh = crate::domain::VoteInput {
        opening: Some(esc.opening()),
        ..approve("erin")
    };
    assert_eq!(voted(&esc, fresh, at(mins(11))).current_stage, 1);
}

#[test]
fn precheck_asks_what_the_step_would_refuse_before_the_content() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let dir = directory();
    let opening = Some(esc.opening());
    // A deny needs a comment, but the form asking for it may be shown.
    assert_eq!(
        engine::precheck(
            &esc,
            &rid("alice"),
            VoteChoice::Deny,
            opening,
            &dir,
            at(mins(1))
        ),
        Ok(())
    );
    assert!(matches!(
        engine::precheck(
            &esc,
            &rid("bob"),
            VoteChoice::Approve,
            opening,
            &dir,
            at(mins(1))
        ),
        Err(Refusal::NotEligible(_))
    ));
    // Past the deadline the escalation meets any vote expired, timer fired or not.
    let late = esc.expires_at + chrono::Duration::seconds(1);
    assert_eq!(
        engine::precheck(
            &esc,
            &rid("alice"),
            VoteChoice::Approve,
            opening,
            &dir,
            late
        ),
        Err(Refusal::AlreadyDecided(EscalationStatus::Expired))
    );
}

#[test]
fn state_stored_before_rounds_existed_is_in_its_first_round() {
    let esc = start(workflow(vec![
        stage("One", &["alice"]),
        stage("Two", &["bob"]),
    ]))
    .escalation;
    let mut json = serde_json::to_value(&esc).unwrap();
    for stage in json["stages"].as_array_mut().unwrap() {
        stage.as_object_mut().unwrap().remove("round");
    }
    let mut old: crate::domain::Escalation = serde_json::from_value(json).unwrap();
    old.upgrade_stored();
    assert_eq!(old, esc);
    // A Slack button of that time named the opening by when the stage started.
    let started = esc.stages[0].started_at.unwrap().timestamp_millis();
    assert_eq!(old.legacy_round_started(0, started), 1);
    assert_eq!(old.legacy_round_started(0, started - 1), 0);
    assert_eq!(
        old.legacy_round_started(1, started),
        0,
        "a stage that never started"
    );
}

#[test]
fn rollback_on_the_first_stage_terminates() {
    let mut first = stage("Security Review", &["alice"]);
    first.on_deny = OnDeny::Rollback;
    let esc = start(workflow(vec![first, stage("Exec", &["frank"])])).escalation;
    let esc = voted(&esc, deny("alice", "No"), at(mins(1)));
    assert_eq!(esc.status, EscalationStatus::Denied);
    assert_eq!(esc.stages[0].status, StageStatus::Rejected);
}

#[test]
fn self_approval_is_refused_by_reviewer_id() {
    let esc = start(workflow(vec![stage("Peer Review", &["alice", "carol"])]));
    assert_eq!(
        esc.effects,
        vec![notify((0, 1), &["alice"], NotifyReason::StageStarted)],
        "the requester is never asked to review"
    );
    let refusal = refuse(&esc.escalation, Event::Vote(approve("carol")), at(mins(1)));
    assert_eq!(refusal, Refusal::SelfApproval);
    assert_eq!(refusal.code(), "self_approval");
}

#[test]
fn self_approval_is_refused_by_email_case_insensitively() {
    let mut req = request();
    req.requested_by = Some("  Carol@EXAMPLE.com ".to_owned());
    let esc = start_with(
        workflow(vec![stage("Peer Review", &["alice", "carol"])]),
        req,
    );
    let refusal = refuse(&esc.escalation, Event::Vote(approve("carol")), at(mins(1)));
    assert_eq!(refusal, Refusal::SelfApproval);
    // A deny is a vote too: the requester casts neither.
    let refusal = refuse(
        &esc.escalation,
        Event::Vote(deny("carol", "changed my mind")),
        at(mins(1)),
    );
    assert_eq!(refusal, Refusal::SelfApproval);
}

#[test]
fn self_approval_is_allowed_when_not_blocked() {
    let mut flow = workflow(vec![stage("Peer Review", &["alice", "carol"])]);
    flow.separation_of_duties.block_self_approval = false;
    let esc = start(flow).escalation;
    let esc = voted(&esc, approve("carol"), at(mins(1)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn different_approvers_refuses_a_reviewer_of_an_earlier_stage() {
    let flow = workflow(vec![
        stage("One", &["alice", "bob"]),
        stage("Two", &["alice", "dave"]),
    ]);
    let step = accept(
        &start(flow).escalation,
        Event::Vote(approve("alice")),
        at(mins(1)),
    );
    assert!(
        step.effects
            .contains(&notify((1, 1), &["dave"], NotifyReason::StageStarted)),
        "alice is not asked twice: {:?}",
        step.effects
    );
    let refusal = refuse(&step.escalation, Event::Vote(approve("alice")), at(mins(2)));
    assert!(matches!(refusal, Refusal::SeparationOfDuties(_)));
    assert_eq!(refusal.code(), "separation_of_duties");
}

#[test]
fn different_approvers_off_lets_one_reviewer_approve_two_stages() {
    let mut flow = workflow(vec![stage("One", &["alice"]), stage("Two", &["alice"])]);
    flow.separation_of_duties.require_different_approvers = false;
    let esc = voted(&start(flow).escalation, approve("alice"), at(mins(1)));
    let esc = voted(&esc, approve("alice"), at(mins(2)));
    assert_eq!(esc.status, EscalationStatus::Approved);
    assert_eq!(esc.decision.unwrap().decided_by, vec!["alice"]);
}

#[test]
fn different_departments_refuses_a_second_approver_from_the_same_department() {
    let mut review = stage("Peer Review", &["bob", "dave", "alice"]);
    review.required_approvals = 2;
    let mut flow = workflow(vec![review]);
    flow.separation_of_duties.require_different_departments = true;
    let esc = voted(&start(flow).escalation, approve("bob"), at(mins(1)));
    assert_eq!(
        eligibility::eligible(&esc, &directory()),
        rids(&["alice"]),
        "dave shares bob's department"
    );
    let refusal = refuse(&esc, Event::Vote(approve("dave")), at(mins(2)));
    assert!(matches!(refusal, Refusal::SeparationOfDuties(_)));
    let esc = voted(&esc, approve("alice"), at(mins(3)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn minimum_unique_approvers_keeps_the_last_stage_open() {
    let mut flow = workflow(vec![
        stage("One", &["alice"]),
        stage("Two", &["bob", "dave", "frank"]),
    ]);
    flow.separation_of_duties.minimum_unique_approvers = 3;
    let esc = voted(&start(flow).escalation, approve("alice"), at(mins(1)));
    let step = accept(&esc, Event::Vote(approve("bob")), at(mins(2)));
    assert_eq!(step.effects, vec![recorded(1, "bob")]);
    let esc = step.escalation;
    assert_eq!(esc.status, EscalationStatus::Pending);
    assert_eq!(
        esc.stages[1].status,
        StageStatus::Pending,
        "quorum met, minimum not"
    );
    let esc = voted(&esc, approve("dave"), at(mins(3)));
    assert_eq!(esc.status, EscalationStatus::Approved);
    assert_eq!(
        esc.decision.unwrap().decided_by,
        vec!["alice", "bob", "dave"]
    );
}

#[test]
fn required_role_refuses_reviewers_without_it() {
    let mut review = stage("Security Review", &["alice", "bob"]);
    review.required_role = Some("security_analyst".to_owned());
    let step = start(workflow(vec![review]));
    assert_eq!(
        step.effects,
        vec![notify((0, 1), &["alice"], NotifyReason::StageStarted)]
    );
    let refusal = refuse(&step.escalation, Event::Vote(approve("bob")), at(mins(1)));
    assert!(matches!(refusal, Refusal::NotEligible(_)));
    assert_eq!(refusal.code(), "not_eligible");
    let esc = voted(&step.escalation, approve("alice"), at(mins(1)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn required_department_refuses_reviewers_from_elsewhere() {
    let mut review = stage("Budget", &["bob", "frank"]);
    review.required_department = Some("Finance".to_owned());
    let esc = start(workflow(vec![review])).escalation;
    assert_eq!(eligibility::eligible(&esc, &directory()), rids(&["frank"]));
    let refusal = refuse(&esc, Event::Vote(deny("bob", "too expensive")), at(mins(1)));
    assert!(matches!(refusal, Refusal::NotEligible(_)));
    let esc = voted(&esc, approve("frank"), at(mins(1)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn reviewer_outside_the_pool_is_not_eligible() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let refusal = refuse(&esc, Event::Vote(approve("bob")), at(mins(1)));
    assert!(matches!(refusal, Refusal::NotEligible(_)));
    assert_eq!(refusal.code(), "not_eligible");
    let refusal = refuse(&esc, Event::Vote(approve("mallory")), at(mins(1)));
    assert_eq!(refusal.code(), "not_eligible", "unknown reviewers too");
}

#[test]
fn second_vote_at_a_stage_is_already_voted() {
    let mut review = stage("Peer Review", &["alice", "bob"]);
    review.required_approvals = 2;
    let esc = voted(
        &start(workflow(vec![review])).escalation,
        approve("alice"),
        at(mins(1)),
    );
    let refusal = refuse(
        &esc,
        Event::Vote(deny("alice", "second thoughts")),
        at(mins(2)),
    );
    assert_eq!(refusal, Refusal::AlreadyVoted);
    assert_eq!(refusal.code(), "already_voted");
}

#[test]
fn vote_after_the_decision_is_already_decided() {
    let esc = start(workflow(vec![stage("Peer Review", &["alice", "bob"])])).escalation;
    let esc = voted(&esc, approve("alice"), at(mins(1)));
    let refusal = refuse(&esc, Event::Vote(deny("bob", "too late")), at(mins(2)));
    assert_eq!(refusal, Refusal::AlreadyDecided(EscalationStatus::Approved));
    assert_eq!(refusal.code(), "already_decided");
}

#[test]
fn vote_naming_another_stage_is_stale() {
    let flow = workflow(vec![stage("One", &["alice"]), stage("Two", &["bob"])]);
    let esc = start(flow).escalation;
    let early = crate::domain::VoteInput {
        opening: Some(Opening { stage: 1, round: 1 }),
        ..approve("bob")
    };
    assert_eq!(
        refuse(&esc, Event::Vote(early), at(mins(1))),
        Refusal::StaleStage
    );

    let esc = voted(&esc, approve("alice"), at(mins(2)));
    // A Slack button or email link shown for stage 1, clicked after it closed.
    let stale = crate::domain::VoteInput {
        opening: Some(Opening { stage: 0, round: 1 }),
        ..approve("bob")
    };
    let refusal = refuse(&esc, Event::Vote(stale), at(mins(3)));
    assert_eq!(refusal, Refusal::StaleStage);
    assert_eq!(refusal.code(), "stale_stage");

    let current = crate::domain::VoteInput {
        opening: Some(Opening { stage: 1, round: 1 }),
        ..approve("bob")
    };
    assert_eq!(
        voted(&esc, current, at(mins(4))).status,
        EscalationStatus::Approved
    );
}

#[test]
fn deny_without_a_comment_is_a_validation_refusal() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    for comment in [None, Some("   ".to_owned())] {
        let vote = crate::domain::VoteInput {
            choice: VoteChoice::Deny,
            comment,
            ..approve("alice")
        };
        let refusal = refuse(&esc, Event::Vote(vote), at(mins(1)));
        assert_eq!(refusal, Refusal::DenyNeedsComment);
        assert_eq!(refusal.code(), "validation");
    }
}

#[test]
fn conditions_are_trimmed_deduplicated_and_unioned_in_first_given_order() {
    let mut first = stage("Security Review", &["alice", "erin"]);
    first.required_approvals = 2;
    let flow = workflow(vec![first, stage("Senior Approval", &["bob"])]);
    let esc = start(flow).escalation;
    let esc = voted(
        &esc,
        approve_with(
            "alice",
            &[
                "  Canary rollout required ",
                "Mask PII fields",
                "Canary rollout required",
                "",
                "   ",
            ],
        ),
        at(mins(1)),
    );
    assert_eq!(
        esc.stages[0].votes[0].conditions,
        vec!["Canary rollout required", "Mask PII fields"]
    );
    let esc = voted(
        &esc,
        approve_with("erin", &["Mask PII fields", "Page on-call"]),
        at(mins(2)),
    );
    let esc = voted(
        &esc,
        approve_with("bob", &["Canary rollout required", " Rollback plan "]),
        at(mins(3)),
    );
    assert_eq!(
        esc.decision.unwrap().conditions,
        vec![
            "Canary rollout required",
            "Mask PII fields",
            "Page on-call",
            "Rollback plan"
        ]
    );
}

fn delegated_stage() -> super::StageSpec {
    let mut review = stage("Security Review", &["alice"]);
    // alice is already in the pool and carol is the requester: only erin is news.
    review.delegation = vec![DelegationTier {
        after: mins(15),
        approvers: rids(&["erin", "alice", "carol"]),
    }];
    review
}

#[test]
fn delegation_tier_does_not_widen_the_pool_before_its_time() {
    let esc = start(workflow(vec![delegated_stage()])).escalation;
    let just_before = at(mins(15)) - ms(1);
    let step = accept(&esc, Event::Tick, just_before);
    assert_eq!(step.escalation, esc, "nothing was due");
    assert!(step.effects.is_empty() && step.audit.is_empty());
    let refusal = refuse(&esc, Event::Vote(approve("erin")), just_before);
    assert!(matches!(refusal, Refusal::NotEligible(_)));
}

#[test]
fn delegation_tier_widens_the_pool_at_its_instant() {
    let esc = start(workflow(vec![delegated_stage()])).escalation;
    let step = accept(&esc, Event::Tick, at(mins(15)));
    assert_eq!(
        step.effects,
        vec![notify((0, 1), &["erin"], NotifyReason::Delegation)],
        "only newly added eligible reviewers are notified"
    );
    assert_eq!(step.audit[0].kind, AuditKind::DelegationTier);
    let esc = step.escalation;
    assert_eq!(esc.stages[0].pool, rids(&["alice", "erin", "carol"]));
    assert_eq!(esc.stages[0].tiers_applied, 1);
    assert_eq!(
        eligibility::eligible(&esc, &directory()),
        rids(&["alice", "erin"]),
        "earlier reviewers stay eligible"
    );
    let esc = voted(&esc, approve("erin"), at(mins(16)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn earlier_reviewers_can_still_decide_after_delegation() {
    let esc = start(workflow(vec![delegated_stage()])).escalation;
    let esc = accept(&esc, Event::Tick, at(mins(20))).escalation;
    let esc = voted(&esc, approve("alice"), at(mins(21)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn overdue_delegation_tiers_all_apply_on_one_tick() {
    let mut review = stage("Security Review", &["alice"]);
    review.delegation = vec![
        DelegationTier {
            after: mins(15),
            approvers: rids(&["erin"]),
        },
        DelegationTier {
            after: mins(30),
            approvers: rids(&["frank"]),
        },
    ];
    let esc = start(workflow(vec![review])).escalation;
    let step = accept(&esc, Event::Tick, at(mins(45)));
    assert_eq!(
        step.effects,
        vec![
            notify((0, 1), &["erin"], NotifyReason::Delegation),
            notify((0, 1), &["frank"], NotifyReason::Delegation),
        ]
    );
    assert_eq!(step.escalation.stages[0].tiers_applied, 2);
    assert_eq!(
        step.escalation.revision,
        esc.revision + 1,
        "one step, one revision"
    );
}

#[test]
fn sla_escalates_the_stage_and_notifies_the_target() {
    let mut review = stage("Security Review", &["alice"]);
    review.sla = Some(mins(30));
    review.escalation_target = rids(&["erin"]);
    let esc = start(workflow(vec![review])).escalation;
    assert_eq!(esc.stages[0].sla_deadline, Some(at(mins(30))));

    let step = accept(&esc, Event::Tick, at(mins(30)) - ms(1));
    assert_eq!(step.escalation, esc);

    let step = accept(&esc, Event::Tick, at(mins(30)));
    assert_eq!(
        step.effects,
        vec![notify((0, 1), &["erin"], NotifyReason::SlaEscalation)]
    );
    assert_eq!(step.audit[0].kind, AuditKind::SlaEscalated);
    let esc = step.escalation;
    assert_eq!(esc.stages[0].status, StageStatus::Escalated);
    assert_eq!(esc.stages[0].pool, rids(&["alice", "erin"]));

    // The breach is news once, not on every later tick.
    let again = accept(&esc, Event::Tick, at(mins(40)));
    assert_eq!(again.escalation, esc);
    assert!(again.effects.is_empty());

    let esc = voted(&esc, approve("erin"), at(mins(41)));
    assert_eq!(esc.status, EscalationStatus::Approved);
}

#[test]
fn timeout_expires_by_default() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let step = accept(&esc, Event::Tick, at(mins(120)) - ms(1));
    assert_eq!(step.escalation, esc);

    let step = accept(&esc, Event::Tick, at(mins(120)));
    assert_eq!(step.effects, vec![Effect::Decided]);
    let esc = step.escalation;
    assert_eq!(esc.status, EscalationStatus::Expired);
    let decision = esc.decision.unwrap();
    assert_eq!(decision.outcome, Outcome::Expired);
    assert_eq!(decision.decided_at, at(mins(120)));
    assert!(decision.decided_by.is_empty());
    assert!(decision.reason.is_some());
}

#[test]
fn timeout_approves_when_the_workflow_says_so() {
    let mut flow = workflow(vec![stage("Security Review", &["alice"])]);
    flow.timeout_action = TimeoutAction::Approve;
    let esc = start(flow).escalation;
    let esc = accept(&esc, Event::Tick, at(mins(125))).escalation;
    assert_eq!(esc.status, EscalationStatus::Approved);
    let decision = esc.decision.unwrap();
    assert_eq!(decision.outcome, Outcome::Approved);
    assert!(decision.decided_by.is_empty());
}

#[test]
fn an_earlier_agent_deadline_wins_over_the_workflow_timeout() {
    let mut req = request();
    req.deadline = Some(at(mins(30)));
    let esc = start_with(workflow(vec![stage("Security Review", &["alice"])]), req).escalation;
    assert_eq!(esc.expires_at, at(mins(30)));
    let esc = accept(&esc, Event::Tick, at(mins(30))).escalation;
    assert_eq!(esc.status, EscalationStatus::Expired);

    let mut req = request();
    req.deadline = Some(at(mins(300)));
    let esc = start_with(workflow(vec![stage("Security Review", &["alice"])]), req).escalation;
    assert_eq!(
        esc.expires_at,
        at(mins(120)),
        "a later deadline does not extend the timeout"
    );
}

#[test]
fn cancel_ends_a_pending_escalation_as_cancelled() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let step = accept(&esc, cancel(), at(mins(3)));
    assert_eq!(step.effects, vec![Effect::Decided]);
    let esc = step.escalation;
    assert_eq!(esc.status, EscalationStatus::Cancelled);
    let decision = esc.decision.clone().unwrap();
    assert_eq!(decision.outcome, Outcome::Cancelled);
    assert_eq!(decision.decided_by, vec!["agent:deploy-bot"]);

    let refusal = refuse(&esc, cancel(), at(mins(4)));
    assert_eq!(
        refusal,
        Refusal::AlreadyDecided(EscalationStatus::Cancelled)
    );
}

#[test]
fn cancel_after_the_decision_is_refused() {
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let esc = voted(&esc, approve("alice"), at(mins(1)));
    let refusal = refuse(&esc, cancel(), at(mins(2)));
    assert_eq!(refusal, Refusal::AlreadyDecided(EscalationStatus::Approved));
    assert_eq!(refusal.code(), "already_decided");
}

#[test]
fn a_refusal_changes_nothing() {
    let mut review = stage("Peer Review", &["alice", "bob", "carol"]);
    review.required_approvals = 2;
    let esc = voted(
        &start(workflow(vec![review])).escalation,
        approve("alice"),
        at(mins(1)),
    );
    let fresh = esc.clone();
    let refused_events = [
        Event::Vote(approve("alice")),
        Event::Vote(approve("carol")),
        Event::Vote(approve("frank")),
        Event::Vote(crate::domain::VoteInput {
            choice: VoteChoice::Deny,
            ..approve("bob")
        }),
        Event::Vote(crate::domain::VoteInput {
            opening: Some(Opening { stage: 3, round: 1 }),
            ..approve("bob")
        }),
    ];
    for event in refused_events {
        assert!(
            engine::step(&esc, event.clone(), &directory(), at(mins(2))).is_err(),
            "{event:?} should be refused"
        );
        assert_eq!(esc, fresh);
    }
    // bob can still vote: none of the refusals left a trace.
    assert_eq!(
        voted(&esc, approve("bob"), at(mins(3))).status,
        EscalationStatus::Approved
    );
}

#[test]
fn timers_cover_timeout_next_tier_and_sla_while_pending() {
    let mut review = stage("Security Review", &["alice"]);
    review.sla = Some(mins(30));
    review.escalation_target = rids(&["erin"]);
    review.delegation = vec![
        DelegationTier {
            after: mins(15),
            approvers: rids(&["dave"]),
        },
        DelegationTier {
            after: mins(45),
            approvers: rids(&["frank"]),
        },
        // Beyond the 2h timeout: never armed.
        DelegationTier {
            after: mins(180),
            approvers: rids(&["bob"]),
        },
    ];
    let esc = start(workflow(vec![review])).escalation;
    let timeout = Timer {
        kind: TimerKind::Timeout,
        stage: None,
        due: at(mins(120)),
    };
    let tier = |after| Timer {
        kind: TimerKind::Delegation,
        stage: Some(0),
        due: at(mins(after)),
    };
    let sla = Timer {
        kind: TimerKind::Sla,
        stage: Some(0),
        due: at(mins(30)),
    };
    assert_eq!(
        timers::derive(&esc),
        vec![timeout.clone(), tier(15), sla.clone()]
    );

    let esc = accept(&esc, Event::Tick, at(mins(15))).escalation;
    assert_eq!(timers::derive(&esc), vec![timeout.clone(), tier(45), sla]);

    let esc = accept(&esc, Event::Tick, at(mins(30))).escalation;
    assert_eq!(
        timers::derive(&esc),
        vec![timeout.clone(), tier(45)],
        "the SLA fires once"
    );

    let esc = accept(&esc, Event::Tick, at(mins(45))).escalation;
    assert_eq!(timers::derive(&esc), vec![timeout]);

    let esc = voted(&esc, approve("frank"), at(mins(50)));
    assert_eq!(esc.status, EscalationStatus::Approved);
    assert_eq!(
        timers::derive(&esc),
        vec![Timer {
            kind: TimerKind::Execution,
            stage: None,
            due: at(mins(50 + 60)),
        }],
        "once approved, only the receipt's expiry (for the execution report) is armed"
    );
}

#[test]
fn revision_moves_only_on_accepted_changes() {
    let mut review = stage("Peer Review", &["alice", "bob"]);
    review.required_approvals = 2;
    review.delegation = vec![DelegationTier {
        after: mins(15),
        approvers: rids(&["erin"]),
    }];
    let esc = start(workflow(vec![review])).escalation;
    assert_eq!(esc.revision, 1);

    let idle = accept(&esc, Event::Tick, at(mins(5)));
    assert_eq!(
        idle.escalation.revision, 1,
        "a tick with nothing due is no change"
    );
    assert!(idle.audit.is_empty());

    let esc = voted(&esc, approve("alice"), at(mins(6)));
    assert_eq!(esc.revision, 2);

    refuse(&esc, Event::Vote(approve("alice")), at(mins(7)));
    assert_eq!(esc.revision, 2);

    let esc = accept(&esc, Event::Tick, at(mins(15))).escalation;
    assert_eq!(esc.revision, 3);

    let esc = voted(&esc, approve("erin"), at(mins(16)));
    assert_eq!(esc.revision, 4);
    assert_eq!(esc.status, EscalationStatus::Approved);

    let before_exp = accept(&esc, Event::Tick, at(mins(75)));
    assert_eq!(
        before_exp.escalation, esc,
        "a decided escalation never changes"
    );
    // Past the receipt's exp only the execution mark is added; the decision stays.
    let after = accept(&esc, Event::Tick, at(mins(200))).escalation;
    assert_eq!(after.revision, 5);
    assert_eq!(after.decision, esc.decision);
    assert_eq!(after.stages, esc.stages);
}

#[test]
fn status_document_has_the_contract_shape() {
    let mut first = stage("Security Review", &["alice"]);
    first.sla = Some(mins(30));
    let flow = workflow(vec![
        first,
        stage("Senior Approval", &["bob", "carol", "dave"]),
    ]);
    let esc = start(flow).escalation;
    let esc = voted(
        &esc,
        crate::domain::VoteInput {
            comment: Some("LGTM".to_owned()),
            channel: crate::domain::VoteChannel::Slack,
            ..approve_with("alice", &["Mask PII fields"])
        },
        at(mins(10)),
    );

    let doc = serde_json::to_value(status_document(&esc, &directory())).unwrap();
    assert_eq!(doc["id"], json!(esc.id.as_str()));
    assert_eq!(doc["status"], json!("pending"));
    assert_eq!(doc["workflow"], json!("test-flow"));
    assert_eq!(doc["intent"], json!("infrastructure.deployment.production"));
    assert_eq!(doc["payload_sha256"], json!(esc.payload_sha256));
    assert_eq!(doc["created_at"], json!("2026-11-21T10:00:00.000Z"));
    assert_eq!(doc["deadline"], json!("2026-11-21T12:00:00.000Z"));
    assert_eq!(doc["current_stage"], json!(2), "1-based");
    assert_eq!(doc["total_stages"], json!(2));
    assert_eq!(doc["decision"], json!(null));
    assert_eq!(
        doc["stages"][0],
        json!({
            "stage": 1, "name": "Security Review", "status": "approved",
            "required_approvals": 1, "sla_deadline": "2026-11-21T10:30:00.000Z",
            "votes": [{"reviewer": "alice", "decision": "approve", "comment": "LGTM",
                       "conditions": ["Mask PII fields"], "channel": "slack",
                       "at": "2026-11-21T10:10:00.000Z"}],
        }),
        "closed stages list no eligible reviewers"
    );
    assert_eq!(
        doc["stages"][1],
        json!({
            "stage": 2, "name": "Senior Approval", "status": "pending",
            "required_approvals": 1, "sla_deadline": null, "votes": [],
            "eligible": ["bob", "dave"],
        })
    );

    let now = at(mins(20));
    let esc = voted(&esc, approve("dave"), now);
    let doc = serde_json::to_value(status_document(&esc, &directory())).unwrap();
    assert_eq!(doc["status"], json!("approved"));
    assert_eq!(doc["current_stage"], json!(2));
    assert!(doc["stages"][1].get("eligible").is_none());
    assert_eq!(
        doc["decision"],
        json!({
            "outcome": "approved", "decided_at": rfc3339(now), "reason": null,
            "conditions": ["Mask PII fields"], "decided_by": ["alice", "dave"],
            "constraints": {}, "receipt": null,
        })
    );
}

#[test]
fn waiting_stages_show_as_waiting_in_the_status_document() {
    let flow = workflow(vec![stage("One", &["alice"]), stage("Two", &["bob"])]);
    let esc = start(flow).escalation;
    let doc = serde_json::to_value(status_document(&esc, &directory())).unwrap();
    assert_eq!(doc["current_stage"], json!(1));
    assert_eq!(doc["stages"][0]["status"], json!("pending"));
    assert_eq!(doc["stages"][0]["eligible"], json!(["alice"]));
    assert_eq!(doc["stages"][1]["status"], json!("waiting"));
    assert!(doc["stages"][1].get("eligible").is_none());
}

#[test]
fn vote_at_the_deadline_is_refused_before_the_timeout_timer_fired() {
    // Say the process just restarted and the timer worker has not run yet: a vote
    // must not approve an escalation whose time ran out (rule 7 fails closed).
    let esc = start(workflow(vec![stage("Security Review", &["alice"])])).escalation;
    let refusal = refuse(&esc, Event::Vote(approve("alice")), at(mins(120)));
    assert_eq!(refusal, Refusal::AlreadyDecided(EscalationStatus::Expired));
    let refusal = refuse(&esc, cancel(), at(mins(121)));
    assert_eq!(refusal, Refusal::AlreadyDecided(EscalationStatus::Expired));

    let in_time = voted(&esc, approve("alice"), at(mins(120)) - ms(1));
    assert_eq!(in_time.status, EscalationStatus::Approved);
}
