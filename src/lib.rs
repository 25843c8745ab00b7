//! countersign: a human checkpoint in front of high-risk AI-agent actions.

/// Process assembly: server, workers, graceful shutdown.
pub mod app;
/// Where "now" comes from: system or manual clock.
pub mod clock;
/// Operator configuration: the YAML model, `env:` secrets, validation with paths.
pub mod config;
/// The pure core: escalations, workflows and the engine. No I/O, no clock.
pub mod domain;
/// HTTP surfaces: agents, reviewers, Slack interactions, email links, ops; one error type.
pub mod http;
/// Outbound channels (callbacks, Slack, email) behind one pluggable trait.
pub mod notify;
/// `countersign report`: the analytics report as text tables.
pub mod report;
/// The shell around the engine: one transaction per step.
pub mod service;
/// Signatures: Standard Webhooks and signed email links.
pub mod signing;
/// The one storage boundary: typed reads, revision-checked write transactions, group commit (SQLite).
pub mod store;
/// Logs and Prometheus metrics.
pub mod telemetry;
/// One presentation model of an escalation, rendered by Slack, email, pages and the reviewer API.
pub mod view;
/// Background loops: timers and outbox delivery.
pub mod workers;
