//! The simulator over this config: each workflow's verdict, the domain's plan, and which of
//! the workflow's channels this config has turned off. `POST /v1/simulate` and
//! `countersign simulate` both call [`Config::simulate`].

use super::model::Config;
use crate::domain::policy::Subject;
use crate::domain::simulation::{self, Simulation};
use crate::domain::{Directory, EscalationRequest, Time};

impl Config {
    /// What this config would do with `request` (parsed from `subject.body`) at `now`.
    /// Changes nothing.
    pub fn simulate(
        &self,
        subject: &Subject,
        request: &EscalationRequest,
        dir: &Directory,
        now: Time,
    ) -> Simulation {
        let mut sim = simulation::simulate(self.explain(subject), subject, request, dir, now);
        for channel in &sim.channels {
            let off = match channel.as_str() {
                "slack" => self.slack.is_none(),
                "email" => self.email.is_none(),
                _ => false,
            };
            if off {
                sim.notes.push(format!(
                    "{channel} is off: this config has no `{channel}:` section, so reviewers are not notified there"
                ));
            }
        }
        sim
    }
}
