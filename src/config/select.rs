//! Which workflow governs an escalation: the first whose `match` fits, in file order.
//! The rule itself is the domain's (src/domain/policy.rs); this feeds it the config.

use super::model::{Config, MatchConfig};
use crate::domain::WorkflowSpec;
use crate::domain::policy::{Miss, Rule, Subject};

pub use crate::domain::policy::glob_match;

impl Config {
    /// The first workflow whose `match` accepts this request; `None` means no workflow
    /// applies and the escalation is refused (fail closed).
    pub fn select_workflow(&self, subject: &Subject) -> Option<&WorkflowSpec> {
        self.explain(subject)
            .find(|(_, verdict)| verdict.is_ok())
            .map(|(spec, _)| spec)
    }

    /// Every workflow in file order with its verdict on `subject`: `Ok` when its `match`
    /// fits, else the first part that did not. What the simulator shows.
    pub fn explain<'a, 's>(
        &'a self,
        subject: &'s Subject<'s>,
    ) -> impl Iterator<Item = (&'a WorkflowSpec, Result<(), Miss>)> + use<'a, 's> {
        self.workflows
            .iter()
            .zip(&self.specs)
            .map(move |(w, spec)| (spec, rule(&w.matcher).check(subject)))
    }
}

fn rule(m: &MatchConfig) -> Rule<'_> {
    Rule {
        intents: &m.intents,
        risk: m.risk.map(|r| (r.min, r.max)),
        agents: m.agents.as_deref(),
        when: &m.when.conditions,
    }
}
