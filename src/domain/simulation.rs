//! What the configuration would do with a request, without opening it (design.md §9
//! "Simulation"): the workflow that matches and why each earlier one did not, who may approve
//! each stage for this requester, when the pool widens and when it all times out. Pure and
//! written once: `POST /v1/simulate` and `countersign simulate` both reach [`simulate`]
//! through `Config::simulate` (src/config/simulate.rs).

use super::eligibility;
use super::engine::{self, NewEscalation};
use super::ids::{AgentId, EscalationId, ReviewerId};
use super::policy::{Miss, Subject};
use super::request::EscalationRequest;
use super::workflow::{AutoDecision, Directory, StageSpec, TimeoutAction, WorkflowSpec};
use super::{Escalation, Time, timers};
use serde::Serialize;
use std::time::Duration;

/// The answer. Nothing was written to produce it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    /// The instant the offsets count from.
    #[schema(value_type = String, format = DateTime)]
    pub now: Time,
    /// The workflow that would govern the request; `null`: none does, so intake would
    /// refuse it (`422 no_workflow`).
    pub workflow: Option<String>,
    /// Every workflow before it in file order (all of them when none matches), with the
    /// first part of its `match` that failed.
    pub skipped: Vec<Skipped>,
    /// `approve` or `deny` when the matching workflow decides by itself at intake (`auto`):
    /// nobody is asked, so `stages` and `channels` are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoDecision>,
    /// The matching workflow's stages, in order.
    pub stages: Vec<StagePlan>,
    /// Delegation tiers, SLA escalations, the timeout and the receipt's validity.
    pub timeline: Vec<Moment>,
    /// The channels reviewers are notified on.
    pub channels: Vec<String>,
    /// Separation-of-duties rules that apply across stages, and channels the config has off.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Skipped {
    pub workflow: String,
    pub failed: Miss,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StagePlan {
    /// 1-based.
    pub stage: usize,
    pub name: String,
    pub required_approvals: u32,
    /// Who may approve from the stage's start (the base pool, after separation of duties
    /// for this requester and the stage's required role and department).
    pub eligible: Vec<String>,
    /// Who joins later, and when.
    pub joins: Vec<Joining>,
    /// Reviewers named by the stage who can never approve this request, and why.
    pub excluded: Vec<Excluded>,
    pub slack_channel: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Joining {
    /// `delegation tier N` or `SLA escalation`.
    pub why: String,
    /// After the stage's start (humantime, e.g. `4h`).
    pub after: String,
    pub reviewers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Excluded {
    pub reviewer: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Moment {
    pub what: String,
    /// What the offset counts from: `intake`, `stage N start` or `decision`.
    pub from: String,
    /// humantime, e.g. `1day`.
    pub offset: String,
    pub offset_seconds: u64,
    /// The absolute time when it is known now (from intake: `now` + offset).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Time>,
}

/// Works out the answer from each workflow's verdict on the request, in file order
/// (`Config::explain`), using the engine's own opening and eligibility rules.
pub fn simulate<'a>(
    verdicts: impl IntoIterator<Item = (&'a WorkflowSpec, Result<(), Miss>)>,
    subject: &Subject,
    request: &EscalationRequest,
    dir: &Directory,
    now: Time,
) -> Simulation {
    let mut skipped = Vec::new();
    let mut chosen = None;
    for (spec, verdict) in verdicts {
        match verdict {
            Ok(()) => {
                chosen = Some(spec);
                break;
            }
            Err(failed) => skipped.push(Skipped {
                workflow: spec.id.clone(),
                failed,
            }),
        }
    }
    let mut out = Simulation {
        now,
        workflow: chosen.map(|w| w.id.clone()),
        skipped,
        auto: None,
        stages: Vec::new(),
        timeline: Vec::new(),
        channels: Vec::new(),
        notes: Vec::new(),
    };
    let Some(workflow) = chosen else {
        return out;
    };
    // A workflow with `auto` decides at intake: its outcome instead of a review plan.
    if let Some(auto) = workflow.auto {
        out.auto = Some(auto);
        if auto == AutoDecision::Approve {
            let within = workflow.execute_within;
            out.timeline.push(Moment {
                what: "approved at intake; its receipt expires (execute_within): the action must start by then".into(),
                from: "intake".into(),
                offset: human(within),
                offset_seconds: within.as_secs(),
                at: Some(timers::after(now, within)),
            });
        }
        return out;
    }
    let esc = opened(workflow, subject.agent, request, dir, now);
    out.stages = (0..workflow.stages.len())
        .map(|j| stage_plan(&esc, j, dir))
        .collect();
    out.timeline = timeline(&esc, now);
    out.channels = workflow
        .channels
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    out.notes = notes(workflow);
    out
}

/// The escalation the engine would open: its pools, its expiry (the workflow timeout, or
/// the request's earlier deadline). Its effects are dropped: nothing is written or sent.
fn opened(
    workflow: &WorkflowSpec,
    agent: &AgentId,
    request: &EscalationRequest,
    dir: &Directory,
    now: Time,
) -> Escalation {
    let new = NewEscalation {
        // Never stored; a generated id would read the clock.
        id: EscalationId("esc_simulation".into()),
        agent_id: agent.clone(),
        request: request.clone(),
        idempotency_key: None,
    };
    engine::start(new, workflow.clone(), dir, now).escalation
}

fn stage_plan(esc: &Escalation, j: usize, dir: &Directory) -> StagePlan {
    let spec = &esc.workflow.stages[j];
    let mut seen: Vec<ReviewerId> = Vec::new();
    let mut excluded = Vec::new();
    // Each reviewer once, at the first point they are named; those who can never vote
    // are listed apart with the reason.
    let mut admit = |ids: &[ReviewerId]| -> Vec<String> {
        let mut now_eligible = Vec::new();
        for r in ids {
            if seen.contains(r) {
                continue;
            }
            seen.push(r.clone());
            if eligibility::suited(esc, j, r, dir) {
                now_eligible.push(r.to_string());
            } else {
                excluded.push(Excluded {
                    reviewer: r.to_string(),
                    reason: why_not(esc, r, dir),
                });
            }
        }
        now_eligible
    };
    let eligible = admit(&spec.approvers);
    let mut joins = Vec::new();
    for (t, tier) in spec.delegation.iter().enumerate() {
        joins.push(Joining {
            why: format!("delegation tier {}", t + 1),
            after: human(tier.after),
            reviewers: admit(&tier.approvers),
        });
    }
    if let Some(sla) = spec.sla
        && !spec.escalation_target.is_empty()
    {
        joins.push(Joining {
            why: "SLA escalation".into(),
            after: human(sla),
            reviewers: admit(&spec.escalation_target),
        });
    }
    StagePlan {
        stage: j + 1,
        name: spec.name.clone(),
        required_approvals: spec.required_approvals,
        eligible,
        joins,
        excluded,
        slack_channel: spec.slack_channel.clone(),
    }
}

/// Why `eligibility::suited` said no, in the order it checks.
fn why_not(esc: &Escalation, r: &ReviewerId, dir: &Directory) -> String {
    if dir.get(r).is_none() {
        "not a configured reviewer".into()
    } else if esc.workflow.separation_of_duties.block_self_approval
        && dir.is_requester(r, esc.request.requested_by.as_deref())
    {
        "requested this action (self-approval is blocked)".into()
    } else {
        "lacks the stage's required role or department".into()
    }
}

fn timeline(esc: &Escalation, now: Time) -> Vec<Moment> {
    let mut out = Vec::new();
    for (j, stage) in esc.workflow.stages.iter().enumerate() {
        // Only the first stage starts at intake; a later one when the one before completes.
        let (from, start) = match j {
            0 => ("intake".to_owned(), Some(now)),
            _ => (format!("stage {} start", j + 1), None),
        };
        for (what, after) in stage_moments(stage) {
            out.push(Moment {
                what: format!("stage {} ({}): {what}", j + 1, stage.name),
                from: from.clone(),
                offset: human(after),
                offset_seconds: after.as_secs(),
                at: start.map(|s| timers::after(s, after)),
            });
        }
    }
    let left = (esc.expires_at - now).to_std().unwrap_or_default();
    let by_deadline = esc.request.deadline == Some(esc.expires_at);
    let ends = match esc.workflow.timeout_action {
        TimeoutAction::Deny => "expired (fail closed)",
        TimeoutAction::Approve => "approved (timeout_action: approve)",
    };
    out.push(Moment {
        what: format!(
            "{}: undecided, it ends {ends}",
            if by_deadline {
                "the request's deadline"
            } else {
                "timeout"
            }
        ),
        from: "intake".into(),
        offset: human(left),
        offset_seconds: left.as_secs(),
        at: Some(esc.expires_at),
    });
    let within = esc.workflow.execute_within;
    out.push(Moment {
        what: "an approval's receipt expires (execute_within): the action must start by then"
            .into(),
        from: "decision".into(),
        offset: human(within),
        offset_seconds: within.as_secs(),
        at: None,
    });
    out
}

fn stage_moments(stage: &StageSpec) -> Vec<(String, Duration)> {
    let mut out: Vec<(String, Duration)> = stage
        .delegation
        .iter()
        .enumerate()
        .map(|(t, tier)| (format!("delegation tier {} joins", t + 1), tier.after))
        .collect();
    if let Some(sla) = stage.sla {
        let what = if stage.escalation_target.is_empty() {
            "SLA elapses".to_owned()
        } else {
            "SLA elapses: the escalation target joins".to_owned()
        };
        out.push((what, sla));
    }
    out.sort_by_key(|(_, d)| *d);
    out
}

fn notes(workflow: &WorkflowSpec) -> Vec<String> {
    let sod = workflow.separation_of_duties;
    let mut out = Vec::new();
    if sod.require_different_approvers && workflow.stages.len() > 1 {
        out.push("each stage needs reviewers who have not voted at another stage".into());
    }
    if sod.require_different_departments {
        out.push("approvers must come from different departments".into());
    }
    if sod.minimum_unique_approvers > 0 {
        out.push(format!(
            "at least {} different approvers in all",
            sod.minimum_unique_approvers
        ));
    }
    out
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
#[path = "simulation_tests.rs"]
mod tests;
