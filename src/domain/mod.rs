//! The pure core: escalations, workflows and the engine that walks them. No I/O, no clock.

pub mod alerts;
pub mod analytics;
pub mod callback_target;
pub mod conditions;
pub mod diff;
pub mod display;
pub mod effects;
pub mod eligibility;
pub mod engine;
pub mod escalation;
pub mod execution;
pub mod facts;
pub mod ids;
pub mod policy;
pub mod receipt;
pub mod request;
pub mod simulation;
pub mod status;
pub mod tally;
pub mod timers;
pub mod workflow;

#[cfg(test)]
mod auto_tests;
#[cfg(test)]
mod engine_props;
#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod facts_tests;
/// Builders for unit tests anywhere in the crate: a directory, workflows, requests, votes, `t0`.
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod integrity_tests;
#[cfg(test)]
mod revision_tests;

/// Instants are UTC; the engine never reads a clock, it is handed `now`.
pub type Time = chrono::DateTime<chrono::Utc>;

pub use conditions::{ConditionSpec, Constraints};
pub use effects::{AuditKind, AuditRecord, ChannelKind, Effect, NotifyReason, Step};
pub use eligibility::Refusal;
pub use engine::{Event, NewEscalation, VoteInput};
pub use escalation::{
    Decider, Decision, Escalation, EscalationStatus, Execution, ExecutionStatus, Opening, Outcome,
    Receipt, StageState, StageStatus, Vote, VoteChannel, VoteChoice,
};
pub use ids::{AgentId, EscalationId, ReviewerId};
pub use request::{EscalationRequest, ValidationError};
pub use workflow::{
    AutoDecision, DelegationTier, Directory, OnDeny, ReviewerProfile, SeparationOfDuties,
    StageSpec, TimeoutAction, WorkflowSpec,
};
