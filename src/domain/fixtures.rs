//! Test fixtures for the domain: a reviewer directory, workflow builders, fixed instants and vote helpers.

use super::engine::{self, NewEscalation};
use super::{
    AgentId, ChannelKind, Directory, Escalation, EscalationId, EscalationRequest, Event, OnDeny,
    Refusal, ReviewerId, ReviewerProfile, SeparationOfDuties, StageSpec, Step, Time, TimeoutAction,
    VoteChannel, VoteChoice, VoteInput, WorkflowSpec,
};
use chrono::TimeZone;
use std::time::Duration;

/// The instant every test starts from; tests add durations to it, never read a clock.
pub fn t0() -> Time {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
        .unwrap()
}

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// `t0 + d`.
pub fn at(d: Duration) -> Time {
    t0() + chrono::Duration::from_std(d).unwrap()
}

pub fn rid(id: &str) -> ReviewerId {
    ReviewerId::from(id)
}

pub fn rids(ids: &[&str]) -> Vec<ReviewerId> {
    ids.iter().map(|id| rid(id)).collect()
}

/// A reviewer whose email is `<id>@example.com`.
pub fn profile(id: &str, roles: &[&str], department: Option<&str>) -> ReviewerProfile {
    ReviewerProfile {
        id: rid(id),
        name: format!("{id} Example"),
        email: format!("{id}@example.com"),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        department: department.map(str::to_owned),
        admin: false,
    }
}

/// Six reviewers across three departments; `carol` is the usual requester.
pub fn directory() -> Directory {
    Directory::new([
        profile("alice", &["security_analyst"], Some("Security")),
        profile("bob", &["senior_engineer"], Some("Engineering")),
        profile("carol", &["engineer"], Some("Engineering")),
        profile("dave", &["senior_engineer"], Some("Engineering")),
        profile(
            "erin",
            &["security_analyst", "security_lead"],
            Some("Security"),
        ),
        profile("frank", &["executive"], Some("Finance")),
    ])
}

/// A stage needing one approval from `approvers`, terminating on deny, with no timers.
pub fn stage(name: &str, approvers: &[&str]) -> StageSpec {
    StageSpec {
        name: name.to_owned(),
        approvers: rids(approvers),
        required_approvals: 1,
        sla: None,
        required_role: None,
        required_department: None,
        escalation_target: Vec::new(),
        delegation: Vec::new(),
        slack_channel: None,
        on_deny: OnDeny::Terminate,
    }
}

/// A workflow with a 2h fail-closed timeout and default separation of duties.
pub fn workflow(stages: Vec<StageSpec>) -> WorkflowSpec {
    WorkflowSpec {
        execute_within: crate::domain::workflow::DEFAULT_EXECUTE_WITHIN,
        max_revisions: crate::domain::workflow::DEFAULT_MAX_REVISIONS,
        id: "test-flow".to_owned(),
        timeout: mins(120),
        timeout_action: TimeoutAction::Deny,
        channels: vec![ChannelKind::Slack, ChannelKind::Email],
        conditions: Vec::new(),
        separation_of_duties: SeparationOfDuties::default(),
        stages,
        auto: None,
    }
}

/// A request made on behalf of `carol`, without an agent deadline.
pub fn request() -> EscalationRequest {
    EscalationRequest {
        intent: "infrastructure.deployment.production".to_owned(),
        summary: "Deploy api v2.3.1 to production".to_owned(),
        payload: serde_json::json!({"service": "api", "version": "2.3.1"}),
        resource: Some("k8s://prod/api".to_owned()),
        risk: None,
        policy: None,
        requested_by: Some("carol".to_owned()),
        context: Default::default(),
        deadline: None,
        callback_url: None,
    }
}

pub fn new_escalation(request: EscalationRequest) -> NewEscalation {
    NewEscalation {
        id: EscalationId::from("esc_01JD7Y8K3M4N5P6Q7R8S9T0V1W"),
        agent_id: AgentId::from("deploy-bot"),
        request,
        idempotency_key: None,
    }
}

/// Starts `workflow` at `t0` for the standard request.
pub fn start(workflow: WorkflowSpec) -> Step {
    start_with(workflow, request())
}

pub fn start_with(workflow: WorkflowSpec, request: EscalationRequest) -> Step {
    engine::start(new_escalation(request), workflow, &directory(), t0())
}

pub fn approve(who: &str) -> VoteInput {
    VoteInput {
        reviewer: rid(who),
        choice: VoteChoice::Approve,
        comment: None,
        conditions: Vec::new(),
        constraints: Default::default(),
        channel: VoteChannel::Api,
        opening: None,
    }
}

pub fn approve_with(who: &str, conditions: &[&str]) -> VoteInput {
    VoteInput {
        conditions: conditions.iter().map(|c| (*c).to_owned()).collect(),
        ..approve(who)
    }
}

pub fn deny(who: &str, comment: &str) -> VoteInput {
    VoteInput {
        choice: VoteChoice::Deny,
        comment: Some(comment.to_owned()),
        ..approve(who)
    }
}

pub fn cancel() -> Event {
    Event::Cancel {
        by: AgentId::from("deploy-bot"),
        reason: None,
    }
}

/// Applies an event that must be accepted.
pub fn accept(esc: &Escalation, event: Event, now: Time) -> Step {
    match engine::step(esc, event.clone(), &directory(), now) {
        Ok(step) => step,
        Err(refusal) => panic!("{event:?} was refused: {refusal:?}"),
    }
}

/// Applies a vote that must be accepted; returns the new state.
pub fn voted(esc: &Escalation, vote: VoteInput, now: Time) -> Escalation {
    accept(esc, Event::Vote(vote), now).escalation
}

/// Applies an event that must be refused, and checks the refusal left the escalation as it was.
pub fn refuse(esc: &Escalation, event: Event, now: Time) -> Refusal {
    let before = esc.clone();
    let refusal = match engine::step(esc, event.clone(), &directory(), now) {
        Ok(step) => panic!("{event:?} was accepted: {:?}", step.escalation.status),
        Err(refusal) => refusal,
    };
    assert_eq!(esc, &before, "a refusal must change nothing");
    refusal
}
