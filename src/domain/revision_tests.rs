//! Request changes and revisions in the engine (design.md §7).

use super::diff::FieldChange;
use super::engine::{Event, VoteInput};
use super::escalation::{Escalation, EscalationStatus, Opening, VoteChoice};
use super::fixtures::*;
use super::status::status_document;
use super::timers::{self, TimerKind};
use super::{Effect, NotifyReason, OnDeny, Refusal, receipt};
use serde_json::json;

fn request_changes(who: &str, comment: &str) -> VoteInput {
    VoteInput {
        choice: VoteChoice::RequestChanges,
        comment: Some(comment.to_owned()),
        ..approve(who)
    }
}

fn revised(amount: u32) -> Event {
    let mut req = request();
    req.summary = format!("Pay {amount}");
    req.payload = json!({"amount": amount});
    Event::Revise(Box::new(req))
}

/// One stage (alice or erin), then one (bob or dave).
fn two_stages() -> Escalation {
    start(workflow(vec![
        stage("Security", &["alice", "erin"]),
        stage("Finance", &["bob", "dave"]),
    ]))
    .escalation
}

fn at_opening(vote: VoteInput, stage: usize, round: u32) -> VoteInput {
    VoteInput {
        opening: Some(Opening { stage, round }),
        ..vote
    }
}

#[test]
fn a_request_for_changes_needs_a_comment() {
    let esc = two_stages();
    let mut vote = request_changes("alice", "");
    vote.comment = Some("   ".into());
    let refusal = refuse(&esc, Event::Vote(vote), at(mins(1)));
    assert_eq!(
        refusal,
        Refusal::CommentRequired(VoteChoice::RequestChanges)
    );
    assert_eq!(refusal.code(), "validation");
}

#[test]
fn asking_for_changes_stops_the_stage_and_only_the_deadline_runs() {
    let esc = two_stages();
    let step = accept(
        &esc,
        Event::Vote(request_changes("alice", "Use the canary pool")),
        at(mins(1)),
    );
    let esc = step.escalation;
    assert_eq!(esc.status, EscalationStatus::ChangesRequested);
    assert!(!esc.is_final() && esc.decision.is_none());
    assert!(step.effects.contains(&Effect::ChangesRequested));
    assert!(step.effects.contains(&Effect::StageClosed { stage: 0 }));
    let asked = esc.submissions[0].changes_requested.as_ref().unwrap();
    assert_eq!(
        (asked.by.as_str(), asked.comment.as_str()),
        ("alice", "Use the canary pool")
    );
    let armed: Vec<TimerKind> = timers::derive(&esc).iter().map(|t| t.kind).collect();
    assert_eq!(armed, [TimerKind::Timeout]);
    // Nobody votes on the stopped stage, by any channel.
    for vote in [approve("erin"), at_opening(approve("erin"), 0, 1)] {
        assert_eq!(
            refuse(&esc, Event::Vote(vote), at(mins(2))),
            Refusal::StaleStage
        );
    }
    // The deadline keeps running; the agent may still cancel.
    let expired = accept(&esc, Event::Tick, at(mins(120))).escalation;
    assert_eq!(expired.status, EscalationStatus::Expired);
    let cancelled = accept(&esc, cancel(), at(mins(3))).escalation;
    assert_eq!(cancelled.status, EscalationStatus::Cancelled);
}

#[test]
fn only_an_escalation_waiting_for_changes_can_be_revised() {
    let esc = two_stages();
    assert_eq!(
        refuse(&esc, revised(1), at(mins(1))),
        Refusal::ChangesNotRequested
    );
    let denied = voted(&esc, deny("alice", "no"), at(mins(1)));
    assert_eq!(
        refuse(&denied, revised(1), at(mins(2))),
        Refusal::AlreadyDecided(EscalationStatus::Denied)
    );
    assert_eq!(
        refuse(&denied, revised(1), at(mins(2))).code(),
        "already_decided"
    );
}

#[test]
fn a_revision_restarts_voting_in_new_rounds_and_keeps_the_old_votes_apart() {
    let esc = two_stages();
    let esc = voted(&esc, approve("alice"), at(mins(1)));
    let esc = voted(&esc, request_changes("dave", "Cap it at 9000"), at(mins(2)));
    let step = accept(&esc, revised(9000), at(mins(3)));
    let next = step.escalation;
    assert_eq!(next.status, EscalationStatus::Pending);
    assert_eq!(next.submission(), 2);
    assert_eq!(next.current_stage, 0);
    assert_eq!((next.stages[0].round, next.stages[1].round), (2, 1));
    assert!(next.stages.iter().all(|s| s.votes.is_empty()));
    let history: Vec<(usize, &str)> = next.submissions[0]
        .votes
        .iter()
        .map(|v| (v.stage, v.vote.reviewer.as_str()))
        .collect();
    assert_eq!(history, [(0, "alice"), (1, "dave")]);
    assert_eq!(
        next.payload_sha256,
        super::request::payload_sha256(&json!({"amount": 9000}))
    );
    assert!(step.effects.iter().any(|e| matches!(
        e,
        Effect::NotifyReviewers { reason: NotifyReason::Revised, opening, .. }
            if *opening == Opening { stage: 0, round: 2 }
    )));
    // Buttons and links of the first revision are stale.
    for (stage, round) in [(0, 1), (1, 1)] {
        let old = at_opening(approve("erin"), stage, round);
        assert_eq!(
            refuse(&next, Event::Vote(old), at(mins(4))),
            Refusal::StaleStage
        );
    }
    // What changed, for the reviewers' messages.
    let changes = super::diff::diff(next.previous_request.as_ref().unwrap(), &next.request);
    assert_eq!(changes.summary.as_ref().unwrap().1, "Pay 9000");
    assert!(
        changes
            .payload
            .iter()
            .any(|c| matches!(c, FieldChange::Added { pointer, .. } if pointer == "/amount"))
    );
}

#[test]
fn separation_of_duties_is_judged_per_revision() {
    let esc = start(workflow(vec![
        stage("Security", &["alice", "bob"]),
        stage("Finance", &["bob", "dave"]),
    ]))
    .escalation;
    let esc = voted(&esc, approve("bob"), at(mins(1)));
    // Revision 1: bob approved stage 1, so stage 2 is not his.
    assert_eq!(
        refuse(&esc, Event::Vote(approve("bob")), at(mins(2))).code(),
        "separation_of_duties"
    );
    let esc = voted(&esc, request_changes("dave", "Smaller"), at(mins(2)));
    let esc = accept(&esc, revised(10), at(mins(3))).escalation;
    let esc = voted(&esc, approve("alice"), at(mins(4)));
    let esc = voted(&esc, approve("bob"), at(mins(5)));
    assert_eq!(esc.status, EscalationStatus::Approved);
    let approvers: Vec<String> = esc
        .decision
        .as_ref()
        .unwrap()
        .decided_by
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
}

#[test]
fn max_revisions_bounds_requests_for_changes() {
    let mut flow = workflow(vec![stage("Security", &["alice", "erin"])]);
    flow.max_revisions = 1;
    let esc = start(flow).escalation;
    let esc = voted(&esc, request_changes("alice", "Once"), at(mins(1)));
    let esc = accept(&esc, revised(1), at(mins(2))).escalation;
    assert!(!esc.may_request_changes());
    let refusal = refuse(
        &esc,
        Event::Vote(request_changes("erin", "Twice")),
        at(mins(3)),
    );
    assert_eq!(refusal.code(), "validation");
    // With no revisions allowed at all, nobody can ask for one.
    let mut none = workflow(vec![stage("Security", &["alice"])]);
    none.max_revisions = 0;
    let esc = start(none).escalation;
    assert_eq!(
        refuse(
            &esc,
            Event::Vote(request_changes("alice", "x")),
            at(mins(1))
        )
        .code(),
        "validation"
    );
}

#[test]
fn a_rollback_then_a_revision_never_approves_on_earlier_votes() {
    let mut second = stage("Finance", &["bob", "dave"]);
    second.on_deny = OnDeny::Rollback;
    let esc = start(workflow(vec![
        stage("Security", &["alice", "erin"]),
        second,
    ]))
    .escalation;
    let esc = voted(&esc, approve("alice"), at(mins(1)));
    let esc = voted(&esc, deny("bob", "Back to security"), at(mins(2)));
    assert_eq!((esc.current_stage, esc.stages[0].round), (0, 2));
    let esc = voted(
        &esc,
        request_changes("erin", "Different target"),
        at(mins(3)),
    );
    let esc = accept(&esc, revised(5), at(mins(4))).escalation;
    assert_eq!((esc.current_stage, esc.stages[0].round), (0, 3));
    // The rollback's opening and the first one are both stale now.
    for round in [1, 2] {
        let old = at_opening(approve("alice"), 0, round);
        assert_eq!(
            refuse(&esc, Event::Vote(old), at(mins(5))),
            Refusal::StaleStage
        );
    }
    let esc = voted(&esc, at_opening(approve("alice"), 0, 3), at(mins(6)));
    let esc = voted(&esc, approve("dave"), at(mins(7)));
    assert_eq!(esc.status, EscalationStatus::Approved);
    let claims = receipt::claims(&esc, "iss", "rcpt_1").unwrap();
    assert_eq!(claims.revision, 2);
    assert_eq!(claims.payload_sha256, esc.payload_sha256);
    let approvers: Vec<&str> = claims.approvers.iter().map(|r| r.as_str()).collect();
    assert_eq!(approvers, ["alice", "dave"]);
}

#[test]
fn the_status_document_lists_every_revision() {
    let esc = two_stages();
    let esc = voted(&esc, request_changes("alice", "Smaller"), at(mins(1)));
    let doc = serde_json::to_value(status_document(&esc, &directory())).unwrap();
    assert_eq!(doc["status"], json!("changes_requested"));
    assert_eq!(doc["revision"], json!(1));
    assert_eq!(
        doc["revisions"][0]["changes_requested"],
        json!({"by": "alice", "comment": "Smaller", "at": "2026-11-21T10:01:00.000Z"})
    );
    assert!(
        doc["stages"][0].get("eligible").is_none(),
        "nobody is asked while changes are awaited"
    );
    let esc = accept(&esc, revised(3), at(mins(2))).escalation;
    let doc = serde_json::to_value(status_document(&esc, &directory())).unwrap();
    assert_eq!(doc["revision"], json!(2));
    assert_eq!(
        doc["revisions"][1],
        json!({"revision": 2, "submitted_at": "2026-11-21T10:02:00.000Z", "summary": "Pay 3",
               "payload_sha256": esc.payload_sha256, "changes_requested": null})
    );
    assert_eq!(doc["revisions"][0]["revision"], json!(1));
}

#[test]
fn state_stored_before_revisions_reads_as_the_first_submission() {
    let esc = two_stages();
    let mut stored = serde_json::to_value(&esc).unwrap();
    stored.as_object_mut().unwrap().remove("submissions");
    let mut back: Escalation = serde_json::from_value(stored).unwrap();
    assert!(back.submissions.is_empty());
    back.upgrade_stored();
    assert_eq!(back.submissions, esc.submissions);
    assert_eq!(back.submission(), 1);
}
