//! Workflows as the engine sees them: stages with resolved reviewer pools, plus the reviewer directory.

use super::conditions::ConditionSpec;
use super::effects::ChannelKind;
use super::escalation::Outcome;
use super::ids::ReviewerId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// A workflow with every `role:` / `user:` reference resolved to reviewer ids.
/// A copy is pinned on each escalation at intake, so a config edit never
/// changes the rules of an escalation already in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    pub id: String,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    pub timeout_action: TimeoutAction,
    /// The channels reviewers are notified on (Slack, email).
    pub channels: Vec<ChannelKind>,
    /// Conditions reviewers may attach when approving: labels, and typed conditions whose
    /// values they fill in (design.md §6).
    pub conditions: Vec<ConditionSpec>,
    /// How long after the decision the receipt is valid: the action must start by then.
    #[serde(default = "one_hour", with = "humantime_serde_compat")]
    pub execute_within: Duration,
    /// How many times an escalation may be revised after its first submission (design.md §7).
    #[serde(default = "default_max_revisions")]
    pub max_revisions: u32,
    pub separation_of_duties: SeparationOfDuties,
    pub stages: Vec<StageSpec>,
    /// Decide at intake without asking anyone (design.md §9); such a workflow has no stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoDecision>,
}

/// The default `execute_within`; also what workflows pinned before receipts existed get.
pub const DEFAULT_EXECUTE_WITHIN: Duration = Duration::from_secs(3600);

/// The default `max_revisions`.
pub const DEFAULT_MAX_REVISIONS: u32 = 3;

fn default_max_revisions() -> u32 {
    DEFAULT_MAX_REVISIONS
}

fn one_hour() -> Duration {
    DEFAULT_EXECUTE_WITHIN
}

impl WorkflowSpec {
    /// The labels offered as plain conditions (typed conditions have inputs of their own).
    pub fn labels(&self) -> Vec<&str> {
        self.conditions
            .iter()
            .filter(|c| c.typed().is_none())
            .map(|c| c.label())
            .collect()
    }

    /// The typed conditions, whose values a reviewer fills in.
    pub fn typed_conditions(&self) -> impl Iterator<Item = &super::conditions::TypedCondition> {
        self.conditions.iter().filter_map(ConditionSpec::typed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    pub name: String,
    /// The base pool, resolved from `approvers`.
    pub approvers: Vec<ReviewerId>,
    pub required_approvals: u32,
    #[serde(with = "humantime_serde_compat::option")]
    pub sla: Option<Duration>,
    pub required_role: Option<String>,
    pub required_department: Option<String>,
    /// Reviewers who join the pool when the SLA elapses.
    pub escalation_target: Vec<ReviewerId>,
    pub delegation: Vec<DelegationTier>,
    pub slack_channel: Option<String>,
    pub on_deny: OnDeny,
}

/// A tier widens the pool `after` the stage started; earlier reviewers stay eligible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegationTier {
    #[serde(with = "humantime_serde_compat")]
    pub after: Duration,
    pub approvers: Vec<ReviewerId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeparationOfDuties {
    pub block_self_approval: bool,
    pub require_different_approvers: bool,
    pub require_different_departments: bool,
    pub minimum_unique_approvers: u32,
}

impl Default for SeparationOfDuties {
    fn default() -> Self {
        Self {
            block_self_approval: true,
            require_different_approvers: true,
            require_different_departments: false,
            minimum_unique_approvers: 0,
        }
    }
}

/// A workflow's `auto:` decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoDecision {
    Approve,
    Deny,
}

impl AutoDecision {
    pub fn outcome(self) -> Outcome {
        match self {
            Self::Approve => Outcome::Approved,
            Self::Deny => Outcome::Denied,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    #[default]
    Deny,
    Approve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeny {
    #[default]
    Terminate,
    Rollback,
}

/// What the engine knows of a reviewer: enough to judge eligibility and separation of duties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewerProfile {
    pub id: ReviewerId,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub department: Option<String>,
    /// An operator (design.md §8): reads analytics, sees the Insights pages.
    #[serde(default)]
    pub admin: bool,
}

/// The configured reviewers, by id.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub reviewers: HashMap<ReviewerId, ReviewerProfile>,
}

impl Directory {
    pub fn new(profiles: impl IntoIterator<Item = ReviewerProfile>) -> Self {
        Self {
            reviewers: profiles.into_iter().map(|p| (p.id.clone(), p)).collect(),
        }
    }

    pub fn get(&self, id: &ReviewerId) -> Option<&ReviewerProfile> {
        self.reviewers.get(id)
    }

    /// Whether this reviewer is configured as an operator (`admin: true`).
    pub fn is_admin(&self, id: &ReviewerId) -> bool {
        self.get(id).is_some_and(|p| p.admin)
    }

    /// Is this reviewer the human the agent acts for? `requested_by` may be an id or an email.
    pub fn is_requester(&self, id: &ReviewerId, requested_by: Option<&str>) -> bool {
        let Some(who) = requested_by.map(str::trim).filter(|s| !s.is_empty()) else {
            return false;
        };
        if id.as_str().eq_ignore_ascii_case(who) {
            return true;
        }
        self.get(id)
            .is_some_and(|p| p.email.eq_ignore_ascii_case(who))
    }
}

/// Durations stored as humantime text ("15m"), readable in the database and in pinned workflows.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
