//! Checks on workflows that decide automatically (`auto:`, design.md §9).

use super::Issues;
use crate::config::model::{MatchConfig, WorkflowConfig};
use crate::domain::AutoDecision;

/// An `auto` workflow asks nobody, so it has no stages; one that approves whatever it is
/// given is worth a warning.
pub(super) fn check(path: &str, w: &WorkflowConfig, out: &mut Issues) {
    let Some(auto) = w.auto else { return };
    if !w.stages.is_empty() {
        out.error(
            format!("{path}.stages"),
            "a workflow with `auto` decides without reviewers: remove `stages` or `auto`",
        );
    }
    if auto == AutoDecision::Approve && matches_everything(&w.matcher) {
        out.warn(
            format!("{path}.auto"),
            "approve on a match that fits every request: this workflow fails open for everything (whatever reaches it is approved without a human)",
        );
    }
}

/// No narrowing at all: every intent, the whole risk range (a missing score counts as 100),
/// every agent and no `when` condition.
fn matches_everything(m: &MatchConfig) -> bool {
    m.intents.iter().any(|g| g == "*")
        && m.risk.is_none_or(|r| r.min <= 0 && r.max >= 100)
        && m.agents.is_none()
        && m.when.conditions.is_empty()
        && m.when.problems.is_empty()
}
