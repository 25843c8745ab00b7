//! Checks on `workflows`: matching rules, channels, stages, reviewer references, quorum.

use super::{Issues, check_unique};
use crate::config::ConditionConfig;
use crate::config::model::{Config, MatchConfig, StageConfig, WorkflowConfig};
use crate::config::reference::{Reference, eligible_pool, meets_gate};
use crate::domain::TimeoutAction;

/// A workflow is 1–5 sequential stages (README.md "What it does"; docs/architecture.md).
const MAX_STAGES: usize = 5;
const CHANNELS: [&str; 2] = ["slack", "email"];
/// Conditions per workflow: each typed one is a block of the Slack approval modal, which
/// holds 100 at most (with the summary, label boxes, free text and comment around them).
const MAX_CONDITIONS: usize = 50;

pub(super) fn check(config: &Config, out: &mut Issues) {
    let ids = config.workflows.iter().enumerate();
    let ids = ids.map(|(i, w)| (format!("workflows[{i}].id"), w.id.as_str()));
    check_unique(out, "workflow id", ids, str::to_owned);
    for (i, w) in config.workflows.iter().enumerate() {
        workflow(config, &format!("workflows[{i}]"), w, out);
    }
    if config.workflows.is_empty() {
        out.warn(
            "workflows",
            "no workflows: every escalation will be refused",
        );
    }
}

fn workflow(config: &Config, path: &str, w: &WorkflowConfig, out: &mut Issues) {
    if w.id.trim().is_empty() {
        out.error(format!("{path}.id"), "is empty");
    }
    matcher(config, &format!("{path}.match"), &w.matcher, out);
    if w.timeout.is_zero() {
        out.error(format!("{path}.timeout"), "must be greater than zero");
    }
    if w.timeout_action == TimeoutAction::Approve {
        out.warn(
            format!("{path}.timeout_action"),
            "approve: this workflow fails open (an escalation nobody answers in time is approved)",
        );
    }
    if w.execute_within.is_zero() {
        out.error(
            format!("{path}.execute_within"),
            "must be greater than zero (an approval must leave time to act)",
        );
    }
    // An `auto` workflow notifies nobody, so its channels do not matter.
    if w.auto.is_none() {
        channels(config, path, &w.channels, out);
    }
    conditions(&format!("{path}.conditions"), &w.conditions, out);
    super::auto::check(path, w, out);
    if w.auto.is_none() && (w.stages.is_empty() || w.stages.len() > MAX_STAGES) {
        let n = w.stages.len();
        out.error(
            format!("{path}.stages"),
            format!("has {n} stages; a workflow needs 1 to {MAX_STAGES}, or `auto: approve | deny` and none"),
        );
    }
    for (j, s) in w.stages.iter().enumerate() {
        stage(config, &format!("{path}.stages[{j}]"), s, out);
    }
    separation(config, path, w, out);
}

fn matcher(config: &Config, path: &str, m: &MatchConfig, out: &mut Issues) {
    if m.intents.is_empty() {
        out.warn(
            format!("{path}.intents"),
            "is empty: this workflow never matches",
        );
    }
    if let Some(r) = m.risk {
        for (field, v) in [("min", r.min), ("max", r.max)] {
            if !(0..=100).contains(&v) {
                out.error(
                    format!("{path}.risk.{field}"),
                    format!("{v} is outside 0..=100"),
                );
            }
        }
        if r.min > r.max {
            out.error(
                format!("{path}.risk"),
                format!("min {} is greater than max {}", r.min, r.max),
            );
        }
    }
    for (below, message) in &m.when.problems {
        out.error(format!("{path}.when{below}"), message);
    }
    let Some(agents) = &m.agents else { return };
    if agents.is_empty() {
        out.warn(
            format!("{path}.agents"),
            "is empty: this workflow never matches",
        );
    }
    for (k, a) in agents.iter().enumerate() {
        if config.agent(a.as_str()).is_none() {
            out.error(
                format!("{path}.agents[{k}]"),
                format!("no agent has id `{a}`"),
            );
        }
    }
}

fn channels(config: &Config, path: &str, channels: &[String], out: &mut Issues) {
    if channels.is_empty() {
        out.warn(
            format!("{path}.channels"),
            "is empty: reviewers learn of escalations only through the API",
        );
    }
    for (k, c) in channels.iter().enumerate() {
        let p = format!("{path}.channels[{k}]");
        match c.as_str() {
            "slack" if config.slack.is_none() => {
                out.warn(p, "there is no slack section, so Slack is off")
            }
            "email" if config.email.is_none() => {
                out.warn(p, "there is no email section, so email is off")
            }
            c if CHANNELS.contains(&c) => {}
            c => out.error(
                p,
                format!("unknown channel `{c}` (expected slack or email)"),
            ),
        }
    }
}

/// Each entry's own problems, then ids unique within the workflow, then the count.
fn conditions(path: &str, conditions: &[ConditionConfig], out: &mut Issues) {
    for (k, c) in conditions.iter().enumerate() {
        for (below, message) in &c.problems {
            out.error(format!("{path}[{k}]{below}"), message);
        }
    }
    let ids = conditions.iter().enumerate().filter_map(|(k, c)| {
        let id = c.id.as_deref()?.trim();
        Some((format!("{path}[{k}].id"), id))
    });
    check_unique(out, "condition id", ids, str::to_owned);
    if conditions.len() > MAX_CONDITIONS {
        out.error(
            path,
            format!(
                "has {} conditions; at most {MAX_CONDITIONS} fit the Slack approval form",
                conditions.len()
            ),
        );
    }
}

fn stage(config: &Config, path: &str, s: &StageConfig, out: &mut Issues) {
    if s.name.trim().is_empty() {
        out.error(format!("{path}.name"), "is empty");
    }
    references(config, &format!("{path}.approvers"), &s.approvers, out);
    if let Some(target) = &s.escalation_target {
        let p = format!("{path}.escalation_target");
        reference(config, &p, target, out);
        target_gate(config, &p, s, target, out);
    }
    for (t, tier) in s.delegation.iter().enumerate() {
        references(
            config,
            &format!("{path}.delegation[{t}].approvers"),
            &tier.approvers,
            out,
        );
    }
    gates_exist(config, path, s, out);
    quorum(config, path, s, out);
}

fn references(config: &Config, path: &str, refs: &[String], out: &mut Issues) {
    if refs.is_empty() {
        out.error(path, "no approvers");
    }
    for (k, r) in refs.iter().enumerate() {
        reference(config, &format!("{path}[{k}]"), r, out);
    }
}

fn reference(config: &Config, path: &str, r: &str, out: &mut Issues) {
    let parsed = match Reference::parse(r) {
        Ok(p) => p,
        Err(e) => return out.error(path, e),
    };
    if !parsed.members(&config.reviewers).is_empty() {
        return;
    }
    match parsed {
        Reference::User(u) => out.error(path, format!("no reviewer has id or email `{u}`")),
        Reference::Role(role) => out.error(path, format!("no reviewer has role `{role}`")),
    }
}

/// The SLA target is notified whatever its roles; if it fails the gate it cannot vote.
fn target_gate(config: &Config, path: &str, s: &StageConfig, target: &str, out: &mut Issues) {
    let Ok(r) = Reference::parse(target) else {
        return;
    };
    for i in r.members(&config.reviewers) {
        let reviewer = &config.reviewers[i];
        if !meets_gate(s, reviewer) {
            let id = &reviewer.id;
            out.warn(
                path,
                format!(
                    "`{id}` lacks the stage's required role/department: notified but unable to vote"
                ),
            );
        }
    }
}

fn gates_exist(config: &Config, path: &str, s: &StageConfig, out: &mut Issues) {
    let reviewers = &config.reviewers;
    if let Some(role) = &s.required_role
        && !reviewers.iter().any(|r| r.roles.contains(role))
    {
        out.error(
            format!("{path}.required_role"),
            format!("no reviewer has role `{role}`"),
        );
    }
    if let Some(dept) = &s.required_department
        && !reviewers
            .iter()
            .any(|r| r.department.as_ref() == Some(dept))
    {
        out.error(
            format!("{path}.required_department"),
            format!("no reviewer is in department `{dept}`"),
        );
    }
}

fn quorum(config: &Config, path: &str, s: &StageConfig, out: &mut Issues) {
    let p = format!("{path}.required_approvals");
    let k = s.required_approvals;
    let possible = eligible_pool(s, &config.reviewers).len();
    if k == 0 {
        out.error(p, "must be at least 1");
    } else if k as usize > possible {
        out.error(
            p,
            format!("needs {k} approvals but only {possible} eligible reviewer(s) can ever vote in this stage (approvers, delegation tiers and escalation target, after required_role/required_department)"),
        );
    }
}

fn separation(config: &Config, path: &str, w: &WorkflowConfig, out: &mut Issues) {
    let sod = w.separation_of_duties.to_spec();
    let pools: Vec<Vec<usize>> = w
        .stages
        .iter()
        .map(|s| eligible_pool(s, &config.reviewers))
        .collect();
    let mut everyone: Vec<usize> = pools.concat();
    everyone.sort_unstable();
    everyone.dedup();
    let min = sod.minimum_unique_approvers;
    if min as usize > everyone.len() {
        out.error(
            format!("{path}.separation_of_duties.minimum_unique_approvers"),
            format!(
                "is {min} but only {} reviewer(s) can vote in this workflow",
                everyone.len()
            ),
        );
    }
    let demands: Vec<usize> = w
        .stages
        .iter()
        .map(|s| s.required_approvals as usize)
        .collect();
    let each_possible = demands
        .iter()
        .zip(&pools)
        .all(|(&k, p)| k >= 1 && k <= p.len());
    if sod.require_different_approvers && each_possible && !can_staff(&demands, &pools) {
        out.error(
            format!("{path}.stages"),
            "with require_different_approvers, no assignment of distinct reviewers can complete every stage",
        );
    }
}

/// Can every stage get its `demands[j]` approvers from `pools[j]` with nobody used twice?
/// A bipartite matching of approval slots to reviewers (Kuhn's augmenting paths).
fn can_staff(demands: &[usize], pools: &[Vec<usize>]) -> bool {
    let slots: Vec<&Vec<usize>> = demands
        .iter()
        .zip(pools)
        .flat_map(|(&k, p)| std::iter::repeat_n(p, k))
        .collect();
    let mut owner: Vec<Option<usize>> = Vec::new(); // reviewer index -> slot
    slots.iter().enumerate().all(|(slot, _)| {
        let mut seen = Vec::new();
        augment(slot, &slots, &mut owner, &mut seen)
    })
}

fn augment(
    slot: usize,
    slots: &[&Vec<usize>],
    owner: &mut Vec<Option<usize>>,
    seen: &mut Vec<usize>,
) -> bool {
    for &r in slots[slot] {
        if seen.contains(&r) {
            continue;
        }
        seen.push(r);
        if owner.len() <= r {
            owner.resize(r + 1, None);
        }
        let free = match owner[r] {
            None => true,
            Some(other) => augment(other, slots, owner, seen),
        };
        if free {
            owner[r] = Some(slot);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::can_staff;

    #[test]
    fn staffing() {
        assert!(can_staff(&[1, 1], &[vec![0, 1], vec![0]]));
        assert!(!can_staff(&[1, 1], &[vec![0], vec![0]]));
        assert!(can_staff(&[2, 1], &[vec![0, 1, 2], vec![0, 1]]));
        assert!(!can_staff(&[2, 1], &[vec![0, 1], vec![0, 1]]));
    }
}
