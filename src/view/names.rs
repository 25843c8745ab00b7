//! Who is who, as a reader wants to see them: reviewers and agents by their configured
//! names, the requester with their address, and an agent that decided as the agent's name.

use crate::config::Config;
use crate::domain::{Decider, Directory, ReviewerId};

/// A reviewer as shown: their id and configured name (the id when they left the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: ReviewerId,
    pub name: String,
}

pub fn person(dir: &Directory, id: &ReviewerId) -> Person {
    Person {
        id: id.clone(),
        name: dir
            .get(id)
            .map_or_else(|| id.to_string(), |p| p.name.clone()),
    }
}

/// The configured name of an agent, if it is still configured.
pub fn agent_name<'a>(config: &'a Config, id: &str) -> Option<&'a str> {
    config.agent(id).map(|a| a.name.as_str())
}

/// `requested_by` as given, with the reviewer's name when it names one.
pub fn requester(dir: &Directory, who: &str) -> String {
    let known = dir
        .reviewers
        .values()
        .find(|p| p.id.as_str().eq_ignore_ascii_case(who) || p.email.eq_ignore_ascii_case(who));
    match known {
        Some(p) if p.email.eq_ignore_ascii_case(who) => format!("{} ({who})", p.name),
        Some(p) => format!("{} ({})", p.name, p.email),
        None => who.to_owned(),
    }
}

/// One entry of a decision's `decided_by`: a reviewer, the agent that cancelled, or the
/// workflow that decided automatically.
pub fn decider(config: &Config, dir: &Directory, who: &Decider) -> String {
    match who {
        Decider::Agent(agent) => agent_name(config, agent.as_str())
            .unwrap_or(agent.as_str())
            .to_owned(),
        Decider::Reviewer(id) => person(dir, id).name,
        Decider::Policy(workflow) => format!("policy {workflow}"),
    }
}
