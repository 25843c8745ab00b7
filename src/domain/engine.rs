//! The engine: (state, event, now) -> new state + effects + audit. Every rule of the workflow lives here,
//! whatever channel a vote came from.

use super::conditions::{self, Constraints};
use super::effects::{AuditKind, AuditRecord, Effect, NotifyReason, Step};
use super::eligibility::{self, Refusal};
use super::escalation::{
    ChangeRequest, Decider, Decision, Escalation, EscalationStatus, Opening, Outcome, StageState,
    StageStatus, StageVote, Submission, Vote, VoteChannel, VoteChoice,
};
use super::execution::{self, ExecutionReport};
use super::facts::{self, DecisionFact, ExecutionFact, Fact, StageFact, StageOutcome, VoteFact};
use super::ids::{AgentId, EscalationId, ReviewerId};
use super::request::{EscalationRequest, payload_sha256};
use super::workflow::{AutoDecision, Directory, OnDeny, TimeoutAction, WorkflowSpec};
use super::{Time, timers};
use serde_json::json;

/// Most conditions one approver may attach, and their longest length: enough for
/// real conditions, too little to smuggle a document through.
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_CONDITION_LEN: usize = 500;
pub const MAX_COMMENT_LEN: usize = 4_000;

/// Everything needed to open a new escalation.
#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub id: EscalationId,
    pub agent_id: AgentId,
    pub request: EscalationRequest,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Vote(VoteInput),
    /// Timers may be due: apply delegation tiers, SLA escalation and the timeout.
    Tick,
    Cancel {
        by: AgentId,
        reason: Option<String>,
    },
    /// The agent reports what it executed after an approval.
    ReportExecution(ExecutionReport),
    /// The agent resubmits the request after a reviewer asked for changes (design.md §7).
    Revise(Box<EscalationRequest>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VoteInput {
    pub reviewer: ReviewerId,
    pub choice: VoteChoice,
    pub comment: Option<String>,
    pub conditions: Vec<String>,
    /// Values for the workflow's typed conditions, by id.
    pub constraints: Constraints,
    pub channel: VoteChannel,
    /// The opening the reviewer was shown (a Slack button, an email link); `None`
    /// means whatever opening is current when the vote is applied (the REST API).
    pub opening: Option<Opening>,
}

/// Opens an escalation at its first stage, or decides it at once when its workflow says
/// `auto` (design.md §9).
pub fn start(new: NewEscalation, workflow: WorkflowSpec, dir: &Directory, now: Time) -> Step {
    let timeout_at = timers::after(now, workflow.timeout);
    let expires_at = new
        .request
        .deadline
        .map_or(timeout_at, |d| d.min(timeout_at));
    let stages = workflow
        .stages
        .iter()
        .map(|_| StageState::waiting())
        .collect();
    let mut esc = Escalation {
        payload_sha256: payload_sha256(&new.request.payload),
        id: new.id,
        agent_id: new.agent_id,
        request: new.request,
        idempotency_key: new.idempotency_key,
        workflow,
        created_at: now,
        expires_at,
        revision: 1,
        status: EscalationStatus::Pending,
        current_stage: 0,
        stages,
        decision: None,
        submissions: Vec::new(),
        previous_request: None,
        execution: None,
    };
    esc.submissions.push(Submission::of(&esc.request, now));
    let mut out = Changes::default();
    out.audit.push(AuditRecord::new(
        AuditKind::Created,
        Some(Decider::Agent(esc.agent_id.clone()).to_string()),
        json!({
            "workflow": esc.workflow.id,
            "intent": esc.request.intent,
            "payload_sha256": esc.payload_sha256,
            "expires_at": esc.expires_at,
        }),
    ));
    match esc.workflow.auto {
        Some(auto) => decide_by_policy(&mut esc, auto, now, &mut out),
        None => open_stage(&mut esc, 0, NotifyReason::StageStarted, dir, now, &mut out),
    }
    out.into_step(esc)
}

/// Nobody is asked: the workflow's rule is the decision, with the same receipt, callback
/// and audit as any other. An approval still waits for its execution report.
fn decide_by_policy(esc: &mut Escalation, auto: AutoDecision, now: Time, out: &mut Changes) {
    let id = esc.workflow.id.clone();
    let reason = format!("Decided automatically by policy {id}.");
    decide(
        esc,
        auto.outcome(),
        Some(reason),
        vec![Decider::Policy(id)],
        now,
        out,
    );
}

/// Applies one event. A refusal leaves the escalation untouched.
pub fn step(esc: &Escalation, event: Event, dir: &Directory, now: Time) -> Result<Step, Refusal> {
    let mut next = esc.clone();
    let mut out = Changes::default();
    expire_if_due(&mut next, now, &mut out);
    match event {
        Event::Vote(vote) => apply_vote(&mut next, vote, dir, now, &mut out)?,
        Event::Tick => apply_tick(&mut next, dir, now, &mut out),
        Event::Cancel { by, reason } => {
            if next.is_final() {
                return Err(Refusal::AlreadyDecided(next.status));
            }
            let reason = reason.or_else(|| Some("cancelled by the agent".into()));
            decide(
                &mut next,
                Outcome::Cancelled,
                reason,
                vec![Decider::Agent(by)],
                now,
                &mut out,
            );
        }
        Event::ReportExecution(report) => {
            if let Some(done) = execution::judge(&next, &report, now)? {
                record_execution(&mut next, done, now, &mut out);
            }
        }
        Event::Revise(request) => revise(&mut next, *request, dir, now, &mut out)?,
    }
    if out.changed {
        next.revision += 1;
    }
    Ok(out.into_step(next))
}

/// Would the engine take a vote of `choice` by `reviewer` on `opening` now? The same
/// checks [`step`] makes before it looks at the vote's content (comment, conditions),
/// on the same state: shells ask this before showing a form (Slack modal, email page,
/// delivering a request) and never judge staleness or eligibility themselves.
pub fn precheck(
    esc: &Escalation,
    reviewer: &ReviewerId,
    choice: VoteChoice,
    opening: Option<Opening>,
    dir: &Directory,
    now: Time,
) -> Result<(), Refusal> {
    let mut seen = esc.clone();
    expire_if_due(&mut seen, now, &mut Changes::default());
    admit(&seen, reviewer, choice, opening, dir)
}

/// The deadline binds even before its timer fires (say, just after a restart): an event
/// arriving past it meets the escalation expired, so a late vote never decides it.
fn expire_if_due(esc: &mut Escalation, now: Time, out: &mut Changes) {
    if !esc.is_final() && esc.past_deadline(now) {
        expire(esc, now, out);
    }
}

/// Rules 4, 3 and 8 for one vote: still pending, the opening it was cast on is the
/// current one, and the reviewer may vote there.
fn admit(
    esc: &Escalation,
    reviewer: &ReviewerId,
    choice: VoteChoice,
    opening: Option<Opening>,
    dir: &Directory,
) -> Result<(), Refusal> {
    if esc.is_final() {
        return Err(Refusal::AlreadyDecided(esc.status));
    }
    // Waiting for a revision: whatever the vote was shown on has been stopped.
    if !esc.is_pending() || opening.is_some_and(|o| !esc.is_open(o)) {
        return Err(Refusal::StaleStage);
    }
    eligibility::check(esc, dir, reviewer, choice)
}

/// Accumulates what a step did, so helpers can append to one place.
#[derive(Default)]
struct Changes {
    changed: bool,
    effects: Vec<Effect>,
    audit: Vec<AuditRecord>,
    facts: Vec<Fact>,
}

impl Changes {
    fn into_step(self, escalation: Escalation) -> Step {
        Step {
            escalation,
            effects: self.effects,
            audit: self.audit,
            facts: self.facts,
        }
    }

    /// The current opening of `stage` ends (call before its state is changed): its
    /// messages lose their buttons, and analytics learn how it ended.
    fn stage_closed(&mut self, esc: &Escalation, stage: usize, outcome: StageOutcome, now: Time) {
        self.facts
            .extend(StageFact::closing(esc, stage, outcome, now).map(Fact::StageClosed));
        self.effects.push(Effect::StageClosed { stage });
    }
}

fn apply_vote(
    esc: &mut Escalation,
    vote: VoteInput,
    dir: &Directory,
    now: Time,
    out: &mut Changes,
) -> Result<(), Refusal> {
    admit(esc, &vote.reviewer, vote.choice, vote.opening, dir)?;
    let comment = vote
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_LEN)
    {
        return Err(Refusal::Invalid(format!(
            "The comment is longer than {MAX_COMMENT_LEN} characters."
        )));
    }
    if vote.choice.needs_comment() && comment.is_none() {
        return Err(Refusal::CommentRequired(vote.choice));
    }
    if vote.choice == VoteChoice::RequestChanges && !esc.may_request_changes() {
        return Err(Refusal::Invalid(format!(
            "Changes can no longer be requested: this escalation was already revised {} times, the most its workflow allows. Approve or deny it.",
            esc.workflow.max_revisions
        )));
    }
    let conditions = match vote.choice {
        VoteChoice::Approve => clean_conditions(vote.conditions)?,
        VoteChoice::Deny | VoteChoice::RequestChanges => Vec::new(),
    };
    let constraints = conditions::clean_constraints(esc, vote.choice, vote.constraints)?;

    let stage = esc.current_stage;
    let first = facts::no_vote_yet(esc);
    out.changed = true;
    out.audit.push(AuditRecord::new(
        AuditKind::Vote,
        Some(vote.reviewer.to_string()),
        json!({
            "stage": stage + 1,
            "round": esc.stages[stage].round,
            "decision": vote.choice.as_str(),
            "comment": comment,
            "conditions": conditions,
            "constraints": constraints,
            "channel": vote.channel.as_str(),
        }),
    ));
    esc.stages[stage].votes.push(Vote {
        reviewer: vote.reviewer.clone(),
        choice: vote.choice,
        comment: comment.clone(),
        conditions,
        constraints,
        channel: vote.channel,
        at: now,
    });
    out.facts
        .extend(VoteFact::of(esc, now, first).map(Fact::Vote));
    out.effects.push(Effect::VoteRecorded {
        stage,
        reviewer: vote.reviewer.clone(),
    });
    match vote.choice {
        VoteChoice::Deny => on_deny(esc, &vote.reviewer, comment, dir, now, out),
        VoteChoice::Approve => on_approve(esc, dir, now, out),
        VoteChoice::RequestChanges => {
            let comment = comment.unwrap_or_default();
            on_request_changes(esc, &vote.reviewer, comment, now, out);
        }
    }
    Ok(())
}

fn clean_conditions(raw: Vec<String>) -> Result<Vec<String>, Refusal> {
    let mut conditions: Vec<String> = Vec::new();
    for c in raw {
        let c = c.trim().to_owned();
        if c.is_empty() || conditions.contains(&c) {
            continue;
        }
        if c.chars().count() > MAX_CONDITION_LEN {
            return Err(Refusal::Invalid(format!(
                "A condition is longer than {MAX_CONDITION_LEN} characters."
            )));
        }
        conditions.push(c);
    }
    if conditions.len() > MAX_CONDITIONS {
        return Err(Refusal::Invalid(format!(
            "At most {MAX_CONDITIONS} conditions may be attached."
        )));
    }
    Ok(conditions)
}

/// Design.md §7: the stage stops and the escalation waits for a revision; its deadline
/// keeps running.
fn on_request_changes(
    esc: &mut Escalation,
    reviewer: &ReviewerId,
    comment: String,
    now: Time,
    out: &mut Changes,
) {
    let stage = esc.current_stage;
    out.audit.push(AuditRecord::new(
        AuditKind::ChangesRequested,
        Some(reviewer.to_string()),
        json!({"stage": stage + 1, "revision": esc.submission(), "comment": comment}),
    ));
    if let Some(current) = esc.submissions.last_mut() {
        current.changes_requested = Some(ChangeRequest {
            by: reviewer.clone(),
            comment,
            at: now,
        });
    }
    out.stage_closed(esc, stage, StageOutcome::ChangesRequested, now);
    esc.status = EscalationStatus::ChangesRequested;
    out.effects.push(Effect::ChangesRequested);
}

/// Design.md §7: the agent's revision replaces the request under review; the workflow
/// stays the one the escalation started with, the votes cast so far move to the history
/// (they no longer count), and voting starts again at stage 1 in new rounds, so every
/// button and link of the earlier submission is stale.
fn revise(
    esc: &mut Escalation,
    request: EscalationRequest,
    dir: &Directory,
    now: Time,
    out: &mut Changes,
) -> Result<(), Refusal> {
    match esc.status {
        EscalationStatus::ChangesRequested => {}
        EscalationStatus::Pending => return Err(Refusal::ChangesNotRequested),
        status => return Err(Refusal::AlreadyDecided(status)),
    }
    if !esc.may_request_changes() {
        return Err(Refusal::RevisionsExhausted(esc.workflow.max_revisions));
    }
    let mut history = Vec::new();
    for (i, stage) in esc.stages.iter_mut().enumerate() {
        history.extend(
            stage
                .votes
                .drain(..)
                .map(|vote| StageVote { stage: i, vote }),
        );
        stage.reset();
    }
    if let Some(current) = esc.submissions.last_mut() {
        current.votes = history;
    }
    // The deadline keeps running: a revision may bring it forward, never push it back.
    if let Some(deadline) = request.deadline {
        esc.expires_at = esc.expires_at.min(deadline);
    }
    esc.payload_sha256 = payload_sha256(&request.payload);
    esc.submissions.push(Submission::of(&request, now));
    esc.previous_request = Some(std::mem::replace(&mut esc.request, request));
    esc.status = EscalationStatus::Pending;
    out.audit.push(AuditRecord::new(
        AuditKind::Revised,
        Some(Decider::Agent(esc.agent_id.clone()).to_string()),
        json!({
            "revision": esc.submission(),
            "summary": esc.request.summary,
            "payload_sha256": esc.payload_sha256,
        }),
    ));
    open_stage(esc, 0, NotifyReason::Revised, dir, now, out);
    Ok(())
}

/// Rule 1: any deny ends the escalation, unless the stage rolls back to the previous one.
fn on_deny(
    esc: &mut Escalation,
    reviewer: &ReviewerId,
    comment: Option<String>,
    dir: &Directory,
    now: Time,
    out: &mut Changes,
) {
    let stage = esc.current_stage;
    let rollback = esc.workflow.stages[stage].on_deny == OnDeny::Rollback && stage > 0;
    if rollback {
        out.audit.push(AuditRecord::new(
            AuditKind::RolledBack,
            Some(reviewer.to_string()),
            json!({"from_stage": stage + 1, "to_stage": stage, "comment": comment}),
        ));
        out.stage_closed(esc, stage, StageOutcome::Rejected, now);
        esc.stages[stage].reset();
        open_stage(esc, stage - 1, NotifyReason::StageStarted, dir, now, out);
        return;
    }
    out.stage_closed(esc, stage, StageOutcome::Rejected, now);
    esc.stages[stage].status = StageStatus::Rejected;
    decide(
        esc,
        Outcome::Denied,
        comment,
        vec![Decider::Reviewer(reviewer.clone())],
        now,
        out,
    );
}

/// Rule 2: a stage completes at its quorum; the last stage also waits for the
/// workflow's minimum number of unique approvers.
fn on_approve(esc: &mut Escalation, dir: &Directory, now: Time, out: &mut Changes) {
    let stage = esc.current_stage;
    let spec = &esc.workflow.stages[stage];
    let approvals = esc.stages[stage].approvals().count();
    if approvals < spec.required_approvals as usize {
        return;
    }
    let last = stage + 1 == esc.stages.len();
    let minimum = esc.workflow.separation_of_duties.minimum_unique_approvers as usize;
    if last && unique_approvers(esc).len() < minimum {
        return;
    }
    out.stage_closed(esc, stage, StageOutcome::Approved, now);
    esc.stages[stage].status = StageStatus::Approved;
    if last {
        let by = unique_approvers(esc)
            .into_iter()
            .map(Decider::Reviewer)
            .collect();
        decide(esc, Outcome::Approved, None, by, now, out);
    } else {
        out.audit.push(AuditRecord::new(
            AuditKind::StageAdvanced,
            None,
            json!({"from_stage": stage + 1, "to_stage": stage + 2}),
        ));
        open_stage(esc, stage + 1, NotifyReason::StageStarted, dir, now, out);
    }
}

/// Every reviewer who approved at any stage, in the order they approved.
pub fn unique_approvers(esc: &Escalation) -> Vec<ReviewerId> {
    let mut seen: Vec<ReviewerId> = Vec::new();
    for vote in esc.stages.iter().flat_map(|s| s.approvals()) {
        if !seen.contains(&vote.reviewer) {
            seen.push(vote.reviewer.clone());
        }
    }
    seen
}

fn open_stage(
    esc: &mut Escalation,
    stage: usize,
    reason: NotifyReason,
    dir: &Directory,
    now: Time,
    out: &mut Changes,
) {
    let spec = &esc.workflow.stages[stage];
    let sla_deadline = spec.sla.map(|d| timers::after(now, d));
    esc.stages[stage] = StageState {
        status: StageStatus::Pending,
        round: esc.stages[stage].round + 1,
        started_at: Some(now),
        sla_deadline,
        pool: spec.approvers.clone(),
        tiers_applied: 0,
        votes: Vec::new(),
    };
    esc.current_stage = stage;
    out.changed = true;
    let notify = eligibility::eligible_among(esc, dir, &spec.approvers.clone());
    out.audit.push(AuditRecord::new(
        AuditKind::StageStarted,
        None,
        json!({"stage": stage + 1, "round": esc.stages[stage].round,
               "name": esc.workflow.stages[stage].name, "eligible": notify}),
    ));
    notify_effect(esc.opening(), notify, reason, out);
}

fn notify_effect(
    opening: Opening,
    reviewers: Vec<ReviewerId>,
    reason: NotifyReason,
    out: &mut Changes,
) {
    if !reviewers.is_empty() {
        out.effects.push(Effect::NotifyReviewers {
            opening,
            reviewers,
            reason,
        });
    }
}

/// Rules 5–7: delegation tiers, SLA escalation and the timeout, whichever are due.
fn apply_tick(esc: &mut Escalation, dir: &Directory, now: Time, out: &mut Changes) {
    if execution::awaits_report(esc) && super::receipt::expired(esc, now) {
        record_execution(esc, execution::unreported(), now, out);
        return;
    }
    if esc.is_final() {
        return;
    }
    if esc.past_deadline(now) {
        expire(esc, now, out);
        return;
    }
    if !esc.is_pending() {
        // Waiting for a revision: only the deadline runs.
        return;
    }
    let stage = esc.current_stage;
    let spec = esc.workflow.stages[stage].clone();
    let Some(started) = esc.stages[stage].started_at else {
        return;
    };
    for (tier_index, tier) in spec
        .delegation
        .iter()
        .enumerate()
        .skip(esc.stages[stage].tiers_applied)
    {
        if !timers::is_due(timers::after(started, tier.after), now) {
            break;
        }
        let added = widen_pool(&mut esc.stages[stage], &tier.approvers);
        esc.stages[stage].tiers_applied = tier_index + 1;
        out.changed = true;
        out.audit.push(AuditRecord::new(
            AuditKind::DelegationTier,
            None,
            json!({"stage": stage + 1, "tier": tier_index + 1, "added": added}),
        ));
        let notify = eligibility::eligible_among(esc, dir, &added);
        notify_effect(esc.opening(), notify, NotifyReason::Delegation, out);
    }
    let sla_due = esc.stages[stage]
        .sla_deadline
        .is_some_and(|d| timers::is_due(d, now));
    if sla_due && esc.stages[stage].status == StageStatus::Pending {
        esc.stages[stage].status = StageStatus::Escalated;
        let added = widen_pool(&mut esc.stages[stage], &spec.escalation_target);
        out.changed = true;
        out.audit.push(AuditRecord::new(
            AuditKind::SlaEscalated,
            None,
            json!({"stage": stage + 1, "targets": spec.escalation_target, "added": added}),
        ));
        // The target is told even when already in the pool: the SLA breach is news.
        let notify = eligibility::eligible_among(esc, dir, &spec.escalation_target);
        notify_effect(esc.opening(), notify, NotifyReason::SlaEscalation, out);
    }
}

/// Adds reviewers to a stage's pool; returns those who were not in it yet.
fn widen_pool(stage: &mut StageState, reviewers: &[ReviewerId]) -> Vec<ReviewerId> {
    let mut added = Vec::new();
    for r in reviewers {
        if !stage.pool.contains(r) {
            stage.pool.push(r.clone());
            added.push(r.clone());
        }
    }
    added
}

/// Rule 7: fail closed by default; approve only when the workflow says so explicitly.
fn expire(esc: &mut Escalation, now: Time, out: &mut Changes) {
    match esc.workflow.timeout_action {
        TimeoutAction::Deny => {
            let reason = "No decision before the deadline; denied by default.".to_owned();
            decide(esc, Outcome::Expired, Some(reason), Vec::new(), now, out);
        }
        TimeoutAction::Approve => {
            let reason = "No decision before the deadline; the workflow's timeout_action approves."
                .to_owned();
            decide(esc, Outcome::Approved, Some(reason), Vec::new(), now, out);
        }
    }
}

fn decide(
    esc: &mut Escalation,
    outcome: Outcome,
    reason: Option<String>,
    decided_by: Vec<Decider>,
    now: Time,
    out: &mut Changes,
) {
    let (conditions, constraints) = if outcome == Outcome::Approved {
        let approvals: Vec<&Constraints> = esc
            .stages
            .iter()
            .flat_map(|s| s.approvals())
            .map(|v| &v.constraints)
            .collect();
        (
            union_of_conditions(esc),
            conditions::merge_constraints(approvals, esc),
        )
    } else {
        Default::default()
    };
    // A timeout or a cancel ends the stage that was open (a vote that decided closed it
    // already; a stage waiting for a revision was closed when changes were asked for).
    let open = esc
        .stages
        .get(esc.current_stage)
        .is_some_and(|s| s.status.is_open());
    if esc.is_pending() && open {
        let ended = match outcome {
            Outcome::Cancelled => StageOutcome::Cancelled,
            _ => StageOutcome::Expired,
        };
        out.facts
            .extend(StageFact::closing(esc, esc.current_stage, ended, now).map(Fact::StageClosed));
    }
    esc.status = outcome.status();
    esc.decision = Some(Decision {
        outcome,
        decided_at: now,
        reason,
        conditions,
        decided_by,
        constraints,
        execute_by: Some(timers::after(now, esc.workflow.execute_within)),
        receipt: None,
    });
    out.changed = true;
    out.audit.push(AuditRecord::new(
        AuditKind::Decided,
        esc.decision
            .as_ref()
            .and_then(|d| d.decided_by.first())
            .map(Decider::to_string),
        serde_json::to_value(&esc.decision).unwrap_or_default(),
    ));
    out.facts.extend(DecisionFact::of(esc).map(Fact::Decided));
    out.effects.push(Effect::Decided);
}

/// Records what was executed (or that nothing was reported in time): audited, and every
/// reviewer's message shows it.
fn record_execution(
    esc: &mut Escalation,
    done: super::escalation::Execution,
    now: Time,
    out: &mut Changes,
) {
    let (kind, actor) = match done.status {
        super::escalation::ExecutionStatus::Unreported => (AuditKind::ExecutionUnreported, None),
        _ => (
            AuditKind::ExecutionReported,
            Some(Decider::Agent(esc.agent_id.clone()).to_string()),
        ),
    };
    out.audit.push(AuditRecord::new(
        kind,
        actor,
        json!({
            "status": done.status.as_str(),
            "payload_sha256": done.payload_sha256,
            "approved_payload_sha256": esc.payload_sha256,
            "matches": done.matches,
            "violations": done.violations,
            "detail": done.detail,
        }),
    ));
    esc.execution = Some(done);
    out.facts
        .extend(ExecutionFact::of(esc, now).map(Fact::Execution));
    out.changed = true;
    out.effects.push(Effect::ExecutionRecorded);
}

fn union_of_conditions(esc: &Escalation) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for c in esc
        .stages
        .iter()
        .flat_map(|s| s.approvals())
        .flat_map(|v| &v.conditions)
    {
        if !all.contains(c) {
            all.push(c.clone());
        }
    }
    all
}
