//! The view against the demo config: names, stage progress, decisions and recent decisions.

use super::*;
use crate::domain::engine::{self, NewEscalation, VoteInput};
use crate::domain::{AgentId, Decider, EscalationRequest, Event, ReviewerId, VoteChoice};
use chrono::TimeZone;
use serde_json::json;

fn t(mins: i64) -> Time {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
        .unwrap()
        + chrono::Duration::minutes(mins)
}

fn config() -> Config {
    crate::config::load_embedded_with(&|_| None).unwrap().config
}

/// A critical-risk escalation (three stages) that carol requested.
fn escalation(config: &Config, summary: &str, at: Time) -> Escalation {
    let request = EscalationRequest::parse(
        json!({"intent": "deploy", "summary": summary, "risk": {"score": 95},
               "requested_by": "carol@example.com"}),
        at,
    )
    .unwrap();
    let new = NewEscalation {
        id: crate::domain::EscalationId::generate(),
        agent_id: AgentId::from("demo-agent"),
        request,
        idempotency_key: None,
    };
    let workflow = config.workflow("critical-risk").unwrap().clone();
    engine::start(new, workflow, &config.directory(), at).escalation
}

fn step(config: &Config, esc: &Escalation, event: Event, at: Time) -> Escalation {
    engine::step(esc, event, &config.directory(), at)
        .unwrap()
        .escalation
}

fn approve(who: &str, conditions: &[&str]) -> Event {
    Event::Vote(VoteInput {
        constraints: Default::default(),
        reviewer: ReviewerId::from(who),
        choice: VoteChoice::Approve,
        comment: None,
        conditions: conditions.iter().map(|c| (*c).to_owned()).collect(),
        channel: crate::domain::VoteChannel::Email,
        opening: None,
    })
}

fn view<'a>(config: &'a Config, dir: &'a Directory, esc: &'a Escalation) -> EscalationView<'a> {
    EscalationView::new(&ViewInput {
        esc,
        config,
        dir,
        recent: &[],
    })
}

#[test]
fn names_come_from_the_config() {
    let config = config();
    let dir = config.directory();
    let esc = escalation(&config, "x", t(0));
    let v = view(&config, &dir, &esc);
    assert_eq!(v.request.agent.display(), "Demo Agent");
    let given = v.request.requested_by.as_ref().unwrap();
    assert_eq!(given.given, "carol@example.com");
    assert_eq!(given.display, "Carol Example (carol@example.com)");
    assert_eq!(requester(&dir, "bob"), "Bob Example (bob@example.com)");
    assert_eq!(requester(&dir, "nobody@example.com"), "nobody@example.com");
    let agent = |id: &str| Decider::Agent(id.into());
    let reviewer = |id: &str| Decider::Reviewer(id.into());
    assert_eq!(decider(&config, &dir, &agent("demo-agent")), "Demo Agent");
    assert_eq!(decider(&config, &dir, &agent("gone")), "gone");
    assert_eq!(decider(&config, &dir, &reviewer("bob")), "Bob Example");
    assert_eq!(
        decider(&config, &dir, &reviewer("left")),
        "left",
        "a reviewer no longer configured"
    );
}

#[test]
fn only_the_open_current_stage_awaits_anyone() {
    let config = config();
    let dir = config.directory();
    let esc = escalation(&config, "x", t(0));
    let esc = step(&config, &esc, approve("alice", &["Mask PII fields"]), t(5));
    let v = view(&config, &dir, &esc);
    let first = v.stage(0).unwrap();
    assert_eq!(first.status, StageStatus::Approved);
    assert!(first.awaiting.is_none());
    assert_eq!(first.approvals[0].reviewer.name, "Alice Example");
    assert_eq!(first.approvals[0].conditions, ["Mask PII fields"]);
    let second = v.current().unwrap();
    assert_eq!((second.number(), second.name), (2, "Senior Approval"));
    assert_eq!(second.remaining(), 1);
    let awaiting: Vec<&str> = second
        .awaiting
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    // Carol requested it: she is not awaited.
    assert_eq!(awaiting, ["Bob Example"]);
    assert!(v.stage(2).unwrap().awaiting.is_none(), "not started");
    assert_eq!(v.approvals().count(), 1);
}

#[test]
fn a_decision_reads_in_words_and_names() {
    let config = config();
    let dir = config.directory();
    let esc = escalation(&config, "x", t(0));
    let cancel = Event::Cancel {
        by: AgentId::from("demo-agent"),
        reason: Some("not needed".into()),
    };
    let esc = step(&config, &esc, cancel, t(1));
    let v = view(&config, &dir, &esc);
    let d = v.decision.as_ref().unwrap();
    assert_eq!(
        (d.word, d.headline),
        ("Cancelled", "Cancelled by the agent")
    );
    assert_eq!(d.deciders().as_deref(), Some("Demo Agent"));
    assert_eq!(d.reason, Some("not needed"));
    assert!(
        v.current().unwrap().awaiting.is_none(),
        "decided: nobody is awaited"
    );

    let expired = step(
        &config,
        &escalation(&config, "y", t(0)),
        Event::Tick,
        t(200),
    );
    let v = view(&config, &dir, &expired);
    let d = v.decision.as_ref().unwrap();
    assert_eq!(d.word, "Expired");
    assert_eq!(d.deciders(), None, "a timeout has no decider");
}

#[test]
fn recent_decisions_skip_this_one_and_stop_at_five() {
    let config = config();
    let dir = config.directory();
    let esc = escalation(&config, "this", t(0));
    let decided: Vec<Escalation> = (0..7)
        .map(|i| {
            let e = escalation(&config, &format!("old {i}"), t(-100 - i));
            step(&config, &e, Event::Tick, t(200))
        })
        .collect();
    let mut recent = vec![esc.clone()];
    recent.extend(decided);
    let v = EscalationView::new(&ViewInput {
        esc: &esc,
        config: &config,
        dir: &dir,
        recent: &recent,
    });
    let summaries: Vec<&str> = v.recent.iter().map(|r| r.summary).collect();
    assert_eq!(summaries, ["old 0", "old 1", "old 2", "old 3", "old 4"]);
    assert!(
        v.recent
            .iter()
            .all(|r| r.decision.outcome == Outcome::Expired)
    );
}
