//! The one integration-test binary: the real server on a loopback port, a temp SQLite file,
//! real HTTP peers. Each module covers one surface; `support` holds the shared harness.

mod support;

mod agents;
mod alerts;
mod analytics;
mod audit;
mod auto_decisions;
mod batching;
mod callbacks;
mod cli;
mod conditions;
mod connections;
mod delivery;
mod display;
mod email;
mod engine_rules;
mod execution;
mod limits;
mod openapi;
mod policy;
mod query_plans;
mod receipts;
mod reload;
mod replicas;
mod reviewers;
mod revisions;
mod robustness;
mod slack;
mod slack_home;
mod slack_sdk;
mod ssrf;
mod storage;
mod store;
mod timers;
mod ui;
