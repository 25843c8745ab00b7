//! Operator configuration: YAML model, `env:` secrets, validation with YAML paths.
//!
//! `load_file` / `load_str` / `load_embedded` return a validated [`Config`] whose
//! workflows are already resolved into the domain's [`WorkflowSpec`](crate::domain::WorkflowSpec)s.

mod conditions;
mod demo;
mod duration;
mod env;
mod issue;
mod load;
mod lookup;
mod model;
mod reference;
mod resolve;
mod secret;
mod select;
mod simulate;
mod templates;
mod validate;
mod when;

#[cfg(test)]
mod tests;

pub use conditions::ConditionConfig;
pub use demo::{DEMO_YAML, EMBEDDED_ORIGIN, load_embedded, load_embedded_with};
pub use env::ENV_PREFIX;
pub use issue::{ConfigError, ConfigIssue, Severity};
pub use load::{EnvLookup, Loaded, load_file, load_str, load_str_with};
pub use model::{
    AgentConfig, AlertsConfig, Config, ConnectionLimits, DelegationConfig, DeliveryConfig,
    EmailConfig, MatchConfig, RateLimitConfig, ReviewerConfig, RiskRange, SeparationConfig,
    ServerConfig, SlackConfig, StageConfig, WorkflowConfig,
};
pub use secret::Secret;
pub use select::glob_match;
pub use when::WhenList;
