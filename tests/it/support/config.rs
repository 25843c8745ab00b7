//! The test configuration: one agent per key, six reviewers, one workflow per rule under test.

use super::{AGENT_KEY, AGENT_SECRET, OTHER_AGENT_KEY, Options};
use std::path::Path;

pub const WORKFLOWS: &str = r#"
workflows:
  - id: single
    match: {intents: ["test.single", "test.single.*"]}
    timeout: 2h
    conditions: ["Canary rollout required", "Mask PII fields"]
    stages:
      - name: Approval
        approvers: ["user:bob", "user:carol"]
  - id: quorum
    match: {intents: ["test.quorum"]}
    stages:
      - name: Quorum
        approvers: ["user:alice", "user:bob", "user:carol"]
        required_approvals: 2
  - id: stages
    match: {intents: ["test.stages"]}
    separation_of_duties: {minimum_unique_approvers: 3}
    stages:
      - name: Security Review
        approvers: ["role:security_analyst"]
      - name: Senior Approval
        approvers: ["role:senior_engineer"]
      - name: Executive Sign-off
        approvers: ["role:executive"]
  - id: rollback
    match: {intents: ["test.rollback"]}
    stages:
      - name: First
        approvers: ["user:alice"]
      - name: Second
        approvers: ["user:bob"]
        on_deny: rollback
  - id: same-person
    match: {intents: ["test.same-person"]}
    stages:
      - name: One
        approvers: ["user:bob", "user:carol"]
      - name: Two
        approvers: ["user:bob", "user:carol"]
  - id: delegation
    match: {intents: ["test.delegation"]}
    timeout: 2h
    stages:
      - name: Triage
        approvers: ["user:bob"]
        sla: 30m
        escalation_target: "user:dave"
        delegation:
          - after: 10m
            approvers: ["user:erin"]
  - id: departments
    match: {intents: ["test.departments"]}
    separation_of_duties: {require_different_departments: true}
    stages:
      - name: Two departments
        approvers: ["user:alice", "user:erin", "user:bob"]
        required_approvals: 2
  - id: required
    match: {intents: ["test.required"]}
    stages:
      - name: Security only
        approvers: ["user:alice", "user:bob", "user:erin"]
        required_department: Security
        required_role: security_analyst
  - id: timeout
    match: {intents: ["test.timeout"]}
    timeout: 1h
    stages:
      - name: Approval
        approvers: ["user:bob"]
  - id: fail-open
    match: {intents: ["test.fail-open"]}
    timeout: 1h
    timeout_action: approve
    stages:
      - name: Approval
        approvers: ["user:bob"]
  - id: race
    match: {intents: ["test.race"]}
    stages:
      - name: Anyone
        approvers: ["user:alice", "user:bob", "user:carol", "user:dave", "user:erin", "user:frank"]
  - id: risky
    match: {intents: ["test.risk"], risk: {min: 50, max: 100}}
    stages:
      - name: Approval
        approvers: ["user:bob"]
"#;

pub fn yaml(options: &Options, db: &Path) -> String {
    let callback = options
        .callback_url
        .as_deref()
        .map(|u| format!("    callback_url: {u}\n"))
        .unwrap_or_default();
    let other_callback = options
        .other_callback_url
        .as_deref()
        .map(|u| format!("    callback_url: {u}\n"))
        .unwrap_or_default();
    let timeout = options
        .delivery_timeout
        .as_deref()
        .map(|t| format!("  timeout: {t}\n"))
        .unwrap_or_default();
    let workflows = options.workflows_yaml.as_deref().unwrap_or(WORKFLOWS);
    // The request callback hosts: the configured URL's, the examples' host, and the test's own.
    let mut hosts = vec!["agent.example.com:443".to_owned()];
    hosts.extend(options.callback_url.as_deref().and_then(host_port));
    hosts.extend(options.callback_hosts.iter().cloned());
    let hosts = hosts
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let agent_yaml = &options.agent_yaml;
    let allow_private = !options.deny_private_callbacks;
    format!(
        r#"
server:
  listen: 127.0.0.1:0
  database: sqlite://{db}
  link_secret: test-link-secret-test-link-secret-0123456789
  allow_private_callbacks: {allow_private}
{server}delivery:
  initial_backoff: 1s
  max_backoff: 1m
  max_age: 1h
{timeout}agents:
  - id: test-agent
    name: Test Agent
    api_key: {AGENT_KEY}
    webhook_secret: {AGENT_SECRET}
    callback_hosts: [{hosts}]
{callback}{agent_yaml}  - id: other-agent
    name: Other Agent
    api_key: {OTHER_AGENT_KEY}
    webhook_secret: {AGENT_SECRET}
{other_callback}reviewers:
  - {{id: alice, name: Alice Analyst, email: alice@example.com, roles: [security_analyst], department: Security, api_key: alice-key}}
  - {{id: bob, name: Bob Builder, email: bob@example.com, roles: [senior_engineer], department: Platform, api_key: bob-key}}
  - {{id: carol, name: Carol Coder, email: carol@example.com, roles: [senior_engineer], department: Platform, api_key: carol-key}}
  - {{id: dave, name: Dave Director, email: dave@example.com, roles: [executive], department: Leadership, api_key: dave-key}}
  - {{id: erin, name: Erin Lead, email: erin@example.com, roles: [security_lead, security_analyst], department: Security, api_key: erin-key}}
  - {{id: frank, name: Frank Outsider, email: frank@example.com, roles: [], department: Finance, api_key: frank-key}}
{workflows}
{extra}
"#,
        db = db.display(),
        server = options.server_yaml,
        extra = options.extra_yaml,
    )
}

/// `host:port` of a URL (port filled in), as `callback_hosts` names it.
pub fn host_port(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
}
