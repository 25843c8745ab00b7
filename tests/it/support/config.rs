//! The test configuration as typed values: the standard set-up (two agents, six reviewers, one
//! workflow per rule under test) and builder methods for what a test changes.
//!
//! It is serialized with serde rather than stitched as text: quoting and nesting are right by
//! construction (a `#channel` or a URL needs no care), and a misspelt key cannot hide in a
//! string. It is still loaded as YAML text through `config::load_str_with`, like an operator's
//! file, so the loader and its validation run in every test and `cli` can write the same file
//! for the binary. The production `Config` is not built directly: it is deserialize-only, its
//! secrets are sealed, and its defaults are what the loader decides.

use super::{AGENT_KEY, AGENT_SECRET, OTHER_AGENT_KEY};
use crate::support::fake_slack::{BOT_TOKEN, SIGNING_SECRET};
use serde::Serialize;
use std::path::Path;

/// The `email.from` of every test config.
pub const FROM: &str = "countersign <approvals@example.com>";
/// The `server.link_secret` of the test config, so tests can forge correctly signed tokens.
pub const LINK_SECRET: &str = "test-link-secret-test-link-secret-0123456789";

/// The whole file. `TestConfig::default()` is the standard set-up; the methods change one part.
#[derive(Clone, Debug, Serialize)]
pub struct TestConfig {
    server: Server,
    delivery: Delivery,
    agents: Vec<Agent>,
    reviewers: Vec<Reviewer>,
    workflows: Vec<Workflow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slack: Option<Slack>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Email>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            server: Server::default(),
            delivery: Delivery::default(),
            agents: vec![
                Agent::new("test-agent", "Test Agent", AGENT_KEY)
                    .callback_hosts(["agent.example.com:443"]),
                Agent::new("other-agent", "Other Agent", OTHER_AGENT_KEY),
            ],
            reviewers: reviewers(),
            workflows: workflows(),
            slack: None,
            email: None,
        }
    }
}

impl TestConfig {
    /// Changes the test agent (`test-agent`, key [`AGENT_KEY`]).
    pub fn agent(mut self, change: impl FnOnce(Agent) -> Agent) -> Self {
        self.agents[0] = change(self.agents[0].clone());
        self
    }

    /// Changes the other agent (`other-agent`, key [`OTHER_AGENT_KEY`]).
    pub fn other_agent(mut self, change: impl FnOnce(Agent) -> Agent) -> Self {
        self.agents[1] = change(self.agents[1].clone());
        self
    }

    /// Changes `server:`.
    pub fn server(mut self, change: impl FnOnce(Server) -> Server) -> Self {
        self.server = change(self.server);
        self
    }

    /// `delivery.timeout`: the deadline of one outbound call.
    pub fn delivery_timeout(mut self, timeout: &str) -> Self {
        self.delivery.timeout = Some(timeout.to_owned());
        self
    }

    /// Turns Slack on, talking to the Web API at `api_url` (a `FakeSlack`'s `api_url`).
    pub fn slack(mut self, api_url: &str) -> Self {
        self.slack = Some(Slack {
            bot_token: BOT_TOKEN.to_owned(),
            signing_secret: SIGNING_SECRET.to_owned(),
            api_url: api_url.to_owned(),
        });
        self
    }

    /// Turns email on: `smtp://…` or `file://DIR`, from [`FROM`].
    pub fn email(mut self, smtp_url: &str) -> Self {
        self.email = Some(Email {
            smtp_url: smtp_url.to_owned(),
            from: FROM.to_owned(),
            send_outcome: None,
        });
        self
    }

    /// `email.send_outcome`; call after [`TestConfig::email`].
    pub fn send_outcome(mut self, send: bool) -> Self {
        self.email
            .as_mut()
            .expect("send_outcome needs an email section: call .email(..) first")
            .send_outcome = Some(send);
        self
    }

    /// Adds a workflow after the standard ones (the first that matches wins).
    pub fn workflow(mut self, workflow: Workflow) -> Self {
        self.workflows.push(workflow);
        self
    }

    /// The YAML text of this config with its database at `db`.
    pub fn render(&self, db: &Path) -> String {
        let mut config = self.clone();
        config.server.database = format!("sqlite://{}", db.display());
        serde_norway::to_string(&config).expect("the test config serializes")
    }
}

/// `server:`. Listens on port 0 and allows private callbacks: the test receivers are on loopback.
#[derive(Clone, Debug, Serialize)]
pub struct Server {
    listen: String,
    database: String,
    link_secret: String,
    allow_private_callbacks: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header_read_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_read_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shutdown_grace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<usize>,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            // Set by `render`, which knows where the test keeps its files.
            database: String::new(),
            link_secret: LINK_SECRET.to_owned(),
            allow_private_callbacks: true,
            metrics_token: None,
            header_read_timeout: None,
            idle_timeout: None,
            body_read_timeout: None,
            shutdown_grace: None,
            max_connections: None,
        }
    }
}

impl Server {
    pub fn allow_private_callbacks(mut self, allow: bool) -> Self {
        self.allow_private_callbacks = allow;
        self
    }

    pub fn metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(token.to_owned());
        self
    }

    pub fn header_read_timeout(mut self, d: &str) -> Self {
        self.header_read_timeout = Some(d.to_owned());
        self
    }

    pub fn idle_timeout(mut self, d: &str) -> Self {
        self.idle_timeout = Some(d.to_owned());
        self
    }

    pub fn body_read_timeout(mut self, d: &str) -> Self {
        self.body_read_timeout = Some(d.to_owned());
        self
    }

    pub fn shutdown_grace(mut self, d: &str) -> Self {
        self.shutdown_grace = Some(d.to_owned());
        self
    }

    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }
}

/// `delivery:`: quick retries so that a test sees a second attempt after a short advance.
#[derive(Clone, Debug, Serialize)]
struct Delivery {
    initial_backoff: String,
    max_backoff: String,
    max_age: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            initial_backoff: "1s".to_owned(),
            max_backoff: "1m".to_owned(),
            max_age: "1h".to_owned(),
            timeout: None,
        }
    }
}

/// `agents[]`. Both test agents sign with [`AGENT_SECRET`].
#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    id: String,
    name: String,
    api_key: String,
    webhook_secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_hosts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<RateLimit>,
}

impl Agent {
    fn new(id: &str, name: &str, api_key: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            api_key: api_key.to_owned(),
            webhook_secret: AGENT_SECRET.to_owned(),
            callback_url: None,
            callback_hosts: None,
            rate_limit: None,
        }
    }

    /// The configured callback. An agent with a `callback_hosts` list (the test agent) also
    /// gets the URL's `host:port` in it, so requests may name the same receiver.
    pub fn callback_url(mut self, url: &str) -> Self {
        self.callback_url = Some(url.to_owned());
        if let (Some(hosts), Some(host)) = (self.callback_hosts.as_mut(), host_port(url)) {
            hosts.push(host);
        }
        self
    }

    /// More `host:port`s a request's `callback_url` may name.
    pub fn callback_hosts(mut self, hosts: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.callback_hosts
            .get_or_insert_with(Vec::new)
            .extend(strings(hosts));
        self
    }

    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
}

/// `agents[].rate_limit`; unset fields take the loader's defaults.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct RateLimit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_second: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pending: Option<u64>,
}

/// `reviewers[]`: every reviewer has an API key `<id>-key` (see `TestApp::vote`).
#[derive(Clone, Debug, Serialize)]
struct Reviewer {
    id: String,
    name: String,
    email: String,
    roles: Vec<String>,
    department: String,
    api_key: String,
}

fn reviewers() -> Vec<Reviewer> {
    let reviewer = |id: &str, name: &str, roles: &[&str], department: &str| Reviewer {
        id: id.to_owned(),
        name: name.to_owned(),
        email: format!("{id}@example.com"),
        roles: strings(roles.iter()),
        department: department.to_owned(),
        api_key: format!("{id}-key"),
    };
    vec![
        reviewer("alice", "Alice Analyst", &["security_analyst"], "Security"),
        reviewer("bob", "Bob Builder", &["senior_engineer"], "Platform"),
        reviewer("carol", "Carol Coder", &["senior_engineer"], "Platform"),
        reviewer("dave", "Dave Director", &["executive"], "Leadership"),
        reviewer(
            "erin",
            "Erin Lead",
            &["security_lead", "security_analyst"],
            "Security",
        ),
        reviewer("frank", "Frank Outsider", &[], "Finance"),
    ]
}

/// `slack:`, pointing at a fake Web API.
#[derive(Clone, Debug, Serialize)]
struct Slack {
    bot_token: String,
    signing_secret: String,
    api_url: String,
}

/// `email:`.
#[derive(Clone, Debug, Serialize)]
struct Email {
    smtp_url: String,
    from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_outcome: Option<bool>,
}

/// `workflows[]`: `Workflow::new(id).intents([..]).stage(Stage::new(name).approvers([..]))`.
#[derive(Clone, Debug, Serialize)]
pub struct Workflow {
    id: String,
    #[serde(rename = "match")]
    matcher: Match,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_action: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    conditions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    separation_of_duties: Option<Separation>,
    stages: Vec<Stage>,
}

#[derive(Clone, Debug, Default, Serialize)]
struct Match {
    intents: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk: Option<RiskRange>,
}

#[derive(Clone, Copy, Debug, Serialize)]
struct RiskRange {
    min: i64,
    max: i64,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
struct Separation {
    #[serde(skip_serializing_if = "Option::is_none")]
    require_different_departments: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_unique_approvers: Option<u32>,
}

impl Workflow {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            matcher: Match::default(),
            timeout: None,
            timeout_action: None,
            conditions: Vec::new(),
            separation_of_duties: None,
            stages: Vec::new(),
        }
    }

    /// `match.intents` (globs).
    pub fn intents(mut self, globs: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.matcher.intents = strings(globs);
        self
    }

    /// `match.risk`, inclusive.
    pub fn risk(mut self, min: i64, max: i64) -> Self {
        self.matcher.risk = Some(RiskRange { min, max });
        self
    }

    pub fn timeout(mut self, d: &str) -> Self {
        self.timeout = Some(d.to_owned());
        self
    }

    /// `timeout_action: approve`: the workflow fails open.
    pub fn fails_open(mut self) -> Self {
        self.timeout_action = Some("approve".to_owned());
        self
    }

    pub fn conditions(mut self, conditions: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.conditions = strings(conditions);
        self
    }

    /// `separation_of_duties.minimum_unique_approvers`.
    pub fn minimum_unique_approvers(mut self, n: u32) -> Self {
        self.separation_of_duties
            .get_or_insert_with(Separation::default)
            .minimum_unique_approvers = Some(n);
        self
    }

    /// `separation_of_duties.require_different_departments: true`.
    pub fn different_departments(mut self) -> Self {
        self.separation_of_duties
            .get_or_insert_with(Separation::default)
            .require_different_departments = Some(true);
        self
    }

    /// Appends a stage; stages run in the order they are added.
    pub fn stage(mut self, stage: Stage) -> Self {
        self.stages.push(stage);
        self
    }
}

/// `stages[]`. Approvers are `user:ID`, `user:EMAIL` or `role:NAME`.
#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    name: String,
    approvers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_approvals: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sla: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    escalation_target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    delegation: Vec<Delegation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slack_channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_deny: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
struct Delegation {
    after: String,
    approvers: Vec<String>,
}

impl Stage {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            approvers: Vec::new(),
            required_approvals: None,
            sla: None,
            escalation_target: None,
            delegation: Vec::new(),
            required_department: None,
            required_role: None,
            slack_channel: None,
            on_deny: None,
        }
    }

    pub fn approvers(mut self, approvers: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.approvers = strings(approvers);
        self
    }

    /// `required_approvals` (the quorum).
    pub fn required(mut self, n: u32) -> Self {
        self.required_approvals = Some(n);
        self
    }

    pub fn sla(mut self, sla: &str) -> Self {
        self.sla = Some(sla.to_owned());
        self
    }

    /// Who joins the pool (and is notified) when the SLA passes.
    pub fn escalation_target(mut self, target: &str) -> Self {
        self.escalation_target = Some(target.to_owned());
        self
    }

    /// After `after`, `approvers` join the pool (one delegation tier).
    pub fn delegate_after(
        mut self,
        after: &str,
        approvers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Self {
        self.delegation.push(Delegation {
            after: after.to_owned(),
            approvers: strings(approvers),
        });
        self
    }

    pub fn required_department(mut self, department: &str) -> Self {
        self.required_department = Some(department.to_owned());
        self
    }

    pub fn required_role(mut self, role: &str) -> Self {
        self.required_role = Some(role.to_owned());
        self
    }

    pub fn slack_channel(mut self, channel: &str) -> Self {
        self.slack_channel = Some(channel.to_owned());
        self
    }

    /// `on_deny: rollback`: a deny returns to the previous stage.
    pub fn rollback_on_deny(mut self) -> Self {
        self.on_deny = Some("rollback".to_owned());
        self
    }
}

/// The standard workflows, one per rule under test; tests pick one by intent (`test.<id>`).
/// Their order matters: `check-config` names the fail-open one as `workflows[10]`.
fn workflows() -> Vec<Workflow> {
    vec![
        Workflow::new("single")
            .intents(["test.single", "test.single.*"])
            .timeout("2h")
            .conditions(["Canary rollout required", "Mask PII fields"])
            .stage(Stage::new("Approval").approvers(["user:bob", "user:carol"])),
        Workflow::new("quorum").intents(["test.quorum"]).stage(
            Stage::new("Quorum")
                .approvers(["user:alice", "user:bob", "user:carol"])
                .required(2),
        ),
        Workflow::new("stages")
            .intents(["test.stages"])
            .minimum_unique_approvers(3)
            .stage(Stage::new("Security Review").approvers(["role:security_analyst"]))
            .stage(Stage::new("Senior Approval").approvers(["role:senior_engineer"]))
            .stage(Stage::new("Executive Sign-off").approvers(["role:executive"])),
        Workflow::new("rollback")
            .intents(["test.rollback"])
            .stage(Stage::new("First").approvers(["user:alice"]))
            .stage(
                Stage::new("Second")
                    .approvers(["user:bob"])
                    .rollback_on_deny(),
            ),
        Workflow::new("same-person")
            .intents(["test.same-person"])
            .stage(Stage::new("One").approvers(["user:bob", "user:carol"]))
            .stage(Stage::new("Two").approvers(["user:bob", "user:carol"])),
        Workflow::new("delegation")
            .intents(["test.delegation"])
            .timeout("2h")
            .stage(
                Stage::new("Triage")
                    .approvers(["user:bob"])
                    .sla("30m")
                    .escalation_target("user:dave")
                    .delegate_after("10m", ["user:erin"]),
            ),
        Workflow::new("departments")
            .intents(["test.departments"])
            .different_departments()
            .stage(
                Stage::new("Two departments")
                    .approvers(["user:alice", "user:erin", "user:bob"])
                    .required(2),
            ),
        Workflow::new("required").intents(["test.required"]).stage(
            Stage::new("Security only")
                .approvers(["user:alice", "user:bob", "user:erin"])
                .required_department("Security")
                .required_role("security_analyst"),
        ),
        Workflow::new("timeout")
            .intents(["test.timeout"])
            .timeout("1h")
            .stage(Stage::new("Approval").approvers(["user:bob"])),
        Workflow::new("fail-open")
            .intents(["test.fail-open"])
            .timeout("1h")
            .fails_open()
            .stage(Stage::new("Approval").approvers(["user:bob"])),
        Workflow::new("race")
            .intents(["test.race"])
            .stage(Stage::new("Anyone").approvers([
                "user:alice",
                "user:bob",
                "user:carol",
                "user:dave",
                "user:erin",
                "user:frank",
            ])),
        Workflow::new("risky")
            .intents(["test.risk"])
            .risk(50, 100)
            .stage(Stage::new("Approval").approvers(["user:bob"])),
    ]
}

fn strings(items: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// `host:port` of a URL (port filled in), as `callback_hosts` names it.
pub fn host_port(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
}
