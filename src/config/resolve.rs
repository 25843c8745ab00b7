//! Turns the YAML model into the domain's types: reviewer directory and resolved workflows.

use super::model::{Config, ReviewerConfig, StageConfig, WorkflowConfig};
use super::reference::resolve_all;
use crate::domain::{
    ChannelKind, DelegationTier, Directory, ReviewerId, ReviewerProfile, StageSpec, WorkflowSpec,
};

impl Config {
    /// The reviewers as the engine sees them.
    pub fn directory(&self) -> Directory {
        Directory::new(self.reviewers.iter().map(profile))
    }

    /// Every workflow, resolved at load, in file order.
    pub fn workflow_specs(&self) -> &[WorkflowSpec] {
        &self.specs
    }

    pub fn workflow(&self, id: &str) -> Option<&WorkflowSpec> {
        self.specs.iter().find(|w| w.id == id)
    }

    /// Rebuilds the resolved workflows; the loader calls it once the config is valid.
    pub(super) fn resolve(&mut self) {
        self.specs = self
            .workflows
            .iter()
            .map(|w| workflow_spec(w, &self.reviewers))
            .collect();
    }
}

fn profile(r: &ReviewerConfig) -> ReviewerProfile {
    ReviewerProfile {
        id: r.id.clone(),
        name: r.name.clone(),
        email: r.email.clone(),
        roles: r.roles.clone(),
        department: r.department.clone(),
        admin: r.admin,
    }
}

fn workflow_spec(w: &WorkflowConfig, reviewers: &[ReviewerConfig]) -> WorkflowSpec {
    WorkflowSpec {
        id: w.id.clone(),
        timeout: w.timeout,
        timeout_action: w.timeout_action,
        // Validation refused any other name, so nothing is dropped here.
        channels: w
            .channels
            .iter()
            .filter_map(|c| ChannelKind::parse(c))
            .filter(|k| *k != ChannelKind::Callback)
            .collect(),
        // Validation refused any entry with a problem, so every one has its spec.
        conditions: w.conditions.iter().filter_map(|c| c.spec.clone()).collect(),
        execute_within: w.execute_within,
        max_revisions: w.max_revisions,
        separation_of_duties: w.separation_of_duties.to_spec(),
        stages: w.stages.iter().map(|s| stage_spec(s, reviewers)).collect(),
        auto: w.auto,
    }
}

fn stage_spec(s: &StageConfig, reviewers: &[ReviewerConfig]) -> StageSpec {
    let ids = |refs: &[String]| -> Vec<ReviewerId> {
        resolve_all(refs, reviewers)
            .into_iter()
            .map(|i| reviewers[i].id.clone())
            .collect()
    };
    StageSpec {
        name: s.name.clone(),
        approvers: ids(&s.approvers),
        required_approvals: s.required_approvals,
        sla: s.sla,
        required_role: s.required_role.clone(),
        required_department: s.required_department.clone(),
        escalation_target: ids(s.escalation_target.as_slice()),
        delegation: s
            .delegation
            .iter()
            .map(|t| DelegationTier {
                after: t.after,
                approvers: ids(&t.approvers),
            })
            .collect(),
        slack_channel: s.slack_channel.clone(),
        on_deny: s.on_deny,
    }
}
