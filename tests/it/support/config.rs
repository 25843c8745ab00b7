//! The test configuration as typed values: the standard set-up (two agents, six reviewers, one
//! workflow per rule under test) and builder methods for what a test changes.
//!
//! It is serialized with serde rather than stitched as text: quoting and nesting are right by
//! construction (a `#channel` or a URL needs no care), and a misspelt key cannot hide in a
//! string. It is still loaded as YAML text through `config::load_str_with`, like an operator's
//! file, so the loader and its validation run in every test and `cli` can write the same file
//! for the binary. The production `Config` is not built directly: it is deserialize-only, its
//! secrets are sealed, and its defaults are what the loader decides.

use super::workflows::{self, Workflow};
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
    /// `templates:`, written with the workflow builder (each has an `id`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    templates: Vec<Workflow>,
    workflows: Vec<Workflow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slack: Option<Slack>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Email>,
    /// `alerts:` as written (tests of its validation write wrong ones too).
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<serde_json::Value>,
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
            templates: Vec::new(),
            workflows: workflows::standard(),
            slack: None,
            email: None,
            alerts: None,
        }
    }
}

impl TestConfig {
    /// Makes reviewer `id` an operator (`admin: true`).
    pub fn admin(mut self, id: &str) -> Self {
        for r in self.reviewers.iter_mut().filter(|r| r.id == id) {
            r.admin = true;
        }
        self
    }

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

    /// `alerts:`, e.g. `json!({"slack_channel": "C1", "max_pending": 2})`.
    pub fn alerts(mut self, alerts: serde_json::Value) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Adds a workflow after the standard ones (the first that matches wins).
    pub fn workflow(mut self, workflow: Workflow) -> Self {
        self.workflows.push(workflow);
        self
    }

    /// Adds a template workflows may `extends:`.
    pub fn template(mut self, template: Workflow) -> Self {
        self.templates.push(template);
        self
    }

    /// The YAML text of this config with its SQLite database at `db`.
    pub fn render(&self, db: &Path) -> String {
        self.render_url(&format!("sqlite://{}", db.display()))
    }

    /// The YAML text of this config with `server.database: url`.
    pub fn render_url(&self, url: &str) -> String {
        let mut config = self.clone();
        config.server.database = url.to_owned();
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
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt_key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    previous_receipt_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
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
            receipt_key: None,
            previous_receipt_keys: Vec::new(),
            public_url: None,
        }
    }
}

impl Server {
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = Some(url.to_owned());
        self
    }

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

    /// `server.receipt_key` (PKCS#8 PEM); unset, the server generates one and keeps it.
    pub fn receipt_key(mut self, pem: &str) -> Self {
        self.receipt_key = Some(pem.to_owned());
        self
    }

    /// `server.previous_receipt_keys`.
    pub fn previous_receipt_keys(
        mut self,
        pems: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Self {
        self.previous_receipt_keys = strings(pems);
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
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    admin: bool,
}

fn reviewers() -> Vec<Reviewer> {
    let reviewer = |id: &str, name: &str, roles: &[&str], department: &str| Reviewer {
        id: id.to_owned(),
        name: name.to_owned(),
        email: format!("{id}@example.com"),
        roles: strings(roles.iter()),
        department: department.to_owned(),
        api_key: format!("{id}-key"),
        admin: false,
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

pub(super) fn strings(items: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// `host:port` of a URL (port filled in), as `callback_hosts` names it.
pub fn host_port(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
}
