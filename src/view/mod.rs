//! One presentation model: the typed view of an escalation that every reviewer-facing
//! surface renders from (Slack blocks, emails, confirmation pages, the reviewer API).
//! Display names, outcome words, stage progress, who approved and who decided are worked
//! out here once. Pure: no I/O and no clock; callers load the recent decisions.

pub mod constraints;
pub mod execution;
pub mod insights;
mod names;
pub mod render;
pub mod revision;
pub mod template;
pub mod timeline;
mod words;

pub use execution::{AfterApproval, ExecutionView, Tone};
pub use names::{Person, agent_name, decider, person, requester};
pub use template::{TemplateView, When};
pub use words::{clock_time, headline, outcome_word, plural, relative, risk_level};

use crate::config::Config;
use crate::domain::request::{Activity, Evidence, Policy};
use crate::domain::status::awaiting;
use crate::domain::{
    Decision, Directory, Escalation, EscalationId, Outcome, StageStatus, Time, VoteChannel,
    WorkflowSpec,
};
use constraints::constraint_lines;
use serde_json::Value;

/// Recent decisions for the same intent shown beside a request.
pub const RECENT_DECISIONS: usize = 5;

/// What a view is built from.
pub struct ViewInput<'a> {
    pub esc: &'a Escalation,
    pub config: &'a Config,
    pub dir: &'a Directory,
    /// Decided escalations with the same intent, newest first (this one is skipped).
    pub recent: &'a [Escalation],
}

/// An escalation as a reviewer sees it.
pub struct EscalationView<'a> {
    pub esc: &'a Escalation,
    pub request: RequestView<'a>,
    /// Every stage of the workflow, in order.
    pub stages: Vec<StageView<'a>>,
    pub decision: Option<DecisionView<'a>>,
    /// Once approved: the receipt, the execution window and what was executed.
    pub after: Option<AfterApproval<'a>>,
    /// At most [`RECENT_DECISIONS`], newest first.
    pub recent: Vec<RecentDecision<'a>>,
}

/// What the agent asked for, with names resolved.
pub struct RequestView<'a> {
    pub summary: &'a str,
    pub intent: &'a str,
    pub agent: AgentView<'a>,
    pub requested_by: Option<Requester<'a>>,
    pub resource: Option<&'a str>,
    pub risk: Option<RiskView<'a>>,
    pub policy: Option<&'a Policy>,
    pub payload: &'a Value,
    pub recent_activity: &'a [Activity],
    pub evidence: &'a [Evidence],
    /// The workflow's condition labels, offered as tick boxes.
    pub conditions_offered: Vec<&'a str>,
}

pub struct AgentView<'a> {
    pub id: &'a str,
    /// `None` when the agent is no longer configured.
    pub name: Option<&'a str>,
}

impl AgentView<'_> {
    /// The configured name, or the id.
    pub fn display(&self) -> &str {
        self.name.unwrap_or(self.id)
    }
}

pub struct Requester<'a> {
    /// As the agent wrote it.
    pub given: &'a str,
    /// With the reviewer's name when it names one: `Carol (carol@example.com)`.
    pub display: String,
}

pub struct RiskView<'a> {
    pub score: u8,
    pub level: &'static str,
    pub reasons: &'a [String],
}

/// Where one stage stands.
pub struct StageView<'a> {
    /// 0-based; shown 1-based.
    pub index: usize,
    pub name: &'a str,
    pub status: StageStatus,
    pub required: usize,
    pub approvals: Vec<Approval<'a>>,
    pub sla_deadline: Option<Time>,
    /// Who may still vote: only at the open current stage of a pending escalation.
    pub awaiting: Option<Vec<Person>>,
}

impl StageView<'_> {
    pub fn number(&self) -> usize {
        self.index + 1
    }

    pub fn remaining(&self) -> usize {
        self.required.saturating_sub(self.approvals.len())
    }

    pub fn is_escalated(&self) -> bool {
        self.status == StageStatus::Escalated
    }
}

/// One approval, with the approver's name.
pub struct Approval<'a> {
    pub reviewer: Person,
    /// 0-based index of the stage it was given at.
    pub stage: usize,
    pub stage_name: &'a str,
    pub at: Time,
    pub channel: VoteChannel,
    pub comment: Option<&'a str>,
    pub conditions: &'a [String],
    /// `Cap the amount: 18000`, one per value given for a typed condition.
    pub constraints: Vec<String>,
}

/// How an escalation ended, in words and names.
pub struct DecisionView<'a> {
    pub outcome: Outcome,
    pub word: &'static str,
    pub headline: &'static str,
    pub reason: Option<&'a str>,
    pub conditions: &'a [String],
    /// The merged constraints, `Cap the amount: 18000`.
    pub constraints: Vec<String>,
    /// Display names of who decided; empty for a timeout.
    pub by: Vec<String>,
    pub at: Time,
}

impl Approval<'_> {
    /// The conditions, then the constraints: everything the approval binds the executor to.
    pub fn terms(&self) -> Vec<String> {
        terms(self.conditions, &self.constraints)
    }
}

impl DecisionView<'_> {
    /// The conditions, then the constraints: everything the decision binds the executor to.
    pub fn terms(&self) -> Vec<String> {
        terms(self.conditions, &self.constraints)
    }

    /// `Alice Example, Demo Agent`: who decided, or `None` when nobody did (a timeout).
    pub fn deciders(&self) -> Option<String> {
        (!self.by.is_empty()).then(|| self.by.join(", "))
    }
}

pub struct RecentDecision<'a> {
    pub id: &'a EscalationId,
    pub summary: &'a str,
    pub decision: DecisionView<'a>,
}

impl<'a> EscalationView<'a> {
    pub fn new(input: &ViewInput<'a>) -> Self {
        let esc = input.esc;
        Self {
            esc,
            request: request(input),
            stages: (0..esc.stages.len().min(esc.workflow.stages.len()))
                .map(|i| stage(input, i))
                .collect(),
            decision: esc
                .decision
                .as_ref()
                .map(|d| decision(input, d, &esc.workflow)),
            after: execution::after_approval(esc),
            recent: input
                .recent
                .iter()
                .filter(|e| e.id != esc.id)
                .filter_map(|e| {
                    let d = e.decision.as_ref()?;
                    Some(RecentDecision {
                        id: &e.id,
                        summary: &e.request.summary,
                        decision: decision(input, d, &e.workflow),
                    })
                })
                .take(RECENT_DECISIONS)
                .collect(),
        }
    }

    pub fn stage(&self, index: usize) -> Option<&StageView<'a>> {
        self.stages.get(index)
    }

    /// The stage the escalation is at (the last one once decided).
    pub fn current(&self) -> Option<&StageView<'a>> {
        self.stage(self.esc.current_stage)
    }

    /// Every approval so far, stage by stage.
    pub fn approvals(&self) -> impl Iterator<Item = &Approval<'a>> {
        self.stages.iter().flat_map(|s| s.approvals.iter())
    }
}

fn terms(conditions: &[String], constraints: &[String]) -> Vec<String> {
    conditions.iter().chain(constraints).cloned().collect()
}

fn request<'a>(input: &ViewInput<'a>) -> RequestView<'a> {
    let (esc, req) = (input.esc, &input.esc.request);
    RequestView {
        summary: &req.summary,
        intent: &req.intent,
        agent: AgentView {
            id: esc.agent_id.as_str(),
            name: agent_name(input.config, esc.agent_id.as_str()),
        },
        requested_by: req.requested_by.as_deref().map(|given| Requester {
            given,
            display: requester(input.dir, given),
        }),
        resource: req.resource.as_deref(),
        risk: req.risk.as_ref().map(|r| RiskView {
            score: r.score,
            level: risk_level(r.score),
            reasons: &r.reasons,
        }),
        policy: req.policy.as_ref(),
        payload: &req.payload,
        recent_activity: &req.context.recent_activity,
        evidence: &req.context.evidence,
        conditions_offered: esc.workflow.labels(),
    }
}

fn stage<'a>(input: &ViewInput<'a>, i: usize) -> StageView<'a> {
    let esc = input.esc;
    let (state, spec) = (&esc.stages[i], &esc.workflow.stages[i]);
    StageView {
        index: i,
        name: &spec.name,
        status: state.status,
        required: spec.required_approvals as usize,
        approvals: state
            .approvals()
            .map(|v| Approval {
                reviewer: person(input.dir, &v.reviewer),
                stage: i,
                stage_name: &spec.name,
                at: v.at,
                channel: v.channel,
                comment: v.comment.as_deref(),
                conditions: &v.conditions,
                constraints: constraint_lines(&esc.workflow, &v.constraints),
            })
            .collect(),
        sla_deadline: state.sla_deadline,
        awaiting: awaiting(esc, input.dir, i)
            .map(|ids| ids.iter().map(|r| person(input.dir, r)).collect()),
    }
}

/// `workflow` is the decided escalation's own (its constraints name its conditions).
fn decision<'a>(
    input: &ViewInput<'a>,
    d: &'a Decision,
    workflow: &WorkflowSpec,
) -> DecisionView<'a> {
    DecisionView {
        outcome: d.outcome,
        word: outcome_word(d.outcome),
        headline: headline(d.outcome),
        reason: d.reason.as_deref(),
        conditions: &d.conditions,
        constraints: constraint_lines(workflow, &d.constraints),
        by: d
            .decided_by
            .iter()
            .map(|who| decider(input.config, input.dir, who))
            .collect(),
        at: d.decided_at,
    }
}

#[cfg(test)]
mod tests;
