//! The typed shape of the YAML file (README.md "Configuration reference"). Unknown keys are
//! errors so typos surface.

use super::conditions::ConditionConfig;
use super::duration;
use super::secret::Secret;
use crate::domain::{
    AgentId, AutoDecision, OnDeny, ReviewerId, SeparationOfDuties, TimeoutAction, WorkflowSpec,
};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole file. Build it with the `load_*` functions: they validate it and
/// resolve the workflows the engine runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    #[serde(default)]
    pub email: Option<EmailConfig>,
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    #[serde(default)]
    pub reviewers: Vec<ReviewerConfig>,
    #[serde(default)]
    pub workflows: Vec<WorkflowConfig>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// `workflows` resolved once at load, same order; see `resolve.rs`.
    #[serde(skip)]
    pub(super) specs: Vec<WorkflowSpec>,
}

/// `server:`. Parsed through [`RawServerConfig`] because `public_url` defaults from `listen`.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawServerConfig")]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Base of every link we hand out, without a trailing slash.
    pub public_url: String,
    pub database: String,
    /// Signs email links. When absent the server generates one and keeps it in the database.
    pub link_secret: Option<Secret>,
    /// Old link keys that still verify, so a rotation does not break links already mailed.
    pub previous_link_secrets: Vec<Secret>,
    /// Signs decision receipts (Ed25519, PKCS#8 PEM). When absent the server generates one
    /// and keeps it in the database.
    pub receipt_key: Option<Secret>,
    /// Retired receipt keys whose public halves stay in the JWK Set during a rotation.
    pub previous_receipt_keys: Vec<Secret>,
    pub max_body_bytes: usize,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// Lets a request's `callback_url` name loopback/private/link-local addresses (README.md
    /// "Security"; the rules are in src/domain/callback_target.rs).
    pub allow_private_callbacks: bool,
    /// Connection limits (README.md "Security", enforced in src/http/serve/), written as
    /// fields of `server:`.
    pub connections: ConnectionLimits,
    public_url_is_default: bool,
}

/// How long a peer may hold a connection without making progress, how many may be
/// open, and how long shutdown waits for requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's headers must be complete this long after its first byte (or the accept).
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// A request's body must be complete this long after its headers.
    pub body_read_timeout: Duration,
    /// Open connections at most (lowered to fit the process's file-descriptor limit);
    /// a few more are kept for `/healthz` and `/readyz`.
    pub max_connections: usize,
    /// On SIGTERM, requests in flight get this long to finish before their connections drop.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// Applies a `--listen` flag; a defaulted `public_url` follows it.
    pub fn override_listen(&mut self, listen: SocketAddr) {
        self.listen = listen;
        if self.public_url_is_default {
            self.public_url = format!("http://{listen}");
        }
    }

    pub fn public_url_is_default(&self) -> bool {
        self.public_url_is_default
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        RawServerConfig::default().into()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServerConfig {
    listen: SocketAddr,
    public_url: Option<String>,
    database: String,
    link_secret: Option<Secret>,
    previous_link_secrets: Vec<Secret>,
    receipt_key: Option<Secret>,
    previous_receipt_keys: Vec<Secret>,
    max_body_bytes: usize,
    metrics_token: Option<Secret>,
    allow_private_callbacks: bool,
    #[serde(with = "duration")]
    header_read_timeout: Duration,
    #[serde(with = "duration")]
    idle_timeout: Duration,
    #[serde(with = "duration")]
    body_read_timeout: Duration,
    max_connections: usize,
    #[serde(with = "duration")]
    shutdown_grace: Duration,
}

impl Default for RawServerConfig {
    fn default() -> Self {
        let limits = ConnectionLimits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database: "sqlite://countersign.db".to_owned(),
            link_secret: None,
            previous_link_secrets: Vec::new(),
            receipt_key: None,
            previous_receipt_keys: Vec::new(),
            max_body_bytes: 256 * 1024,
            metrics_token: None,
            allow_private_callbacks: false,
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            body_read_timeout: limits.body_read_timeout,
            max_connections: limits.max_connections,
            shutdown_grace: limits.shutdown_grace,
        }
    }
}

impl From<RawServerConfig> for ServerConfig {
    fn from(raw: RawServerConfig) -> Self {
        let public_url_is_default = raw.public_url.is_none();
        let public_url = raw
            .public_url
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}", raw.listen));
        Self {
            listen: raw.listen,
            public_url,
            database: raw.database,
            link_secret: raw.link_secret,
            previous_link_secrets: raw.previous_link_secrets,
            receipt_key: raw.receipt_key,
            previous_receipt_keys: raw.previous_receipt_keys,
            max_body_bytes: raw.max_body_bytes,
            metrics_token: raw.metrics_token,
            allow_private_callbacks: raw.allow_private_callbacks,
            connections: ConnectionLimits {
                header_read_timeout: raw.header_read_timeout,
                idle_timeout: raw.idle_timeout,
                body_read_timeout: raw.body_read_timeout,
                max_connections: raw.max_connections,
                shutdown_grace: raw.shutdown_grace,
            },
            public_url_is_default,
        }
    }
}

/// `slack:`; its absence turns Slack off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub bot_token: Secret,
    pub signing_secret: Secret,
    /// Web API base, always ending in `/` so method names append cleanly.
    #[serde(default = "default_slack_api", deserialize_with = "slash_terminated")]
    pub api_url: String,
}

fn default_slack_api() -> String {
    "https://slack.com/api/".to_owned()
}

fn slash_terminated<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let mut s = String::deserialize(d)?;
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

/// `email:`; its absence turns email off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://`, `smtps://` or `file://DIR`; a Secret because it may carry a password.
    pub smtp_url: Secret,
    /// The sender mailbox, e.g. `countersign <approvals@example.com>`.
    pub from: String,
    /// Also mail reviewers the final outcome.
    #[serde(default = "yes")]
    pub send_outcome: bool,
}

impl EmailConfig {
    /// The directory for `.eml` files when `smtp_url` is `file://DIR`.
    pub fn file_dir(&self) -> Option<PathBuf> {
        self.smtp_url
            .expose()
            .strip_prefix("file://")
            .map(PathBuf::from)
    }
}

fn yes() -> bool {
    true
}

/// `delivery:`: retry policy for callbacks and notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Give up on a delivery this long after it was first queued.
    #[serde(with = "duration")]
    pub max_age: Duration,
    #[serde(with = "duration")]
    pub initial_backoff: Duration,
    #[serde(with = "duration")]
    pub max_backoff: Duration,
    /// The deadline of one outbound call (an SMTP conversation, a Slack Web API call, a
    /// callback request); a call that takes longer counts as failed and is retried.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(24 * 3600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `agents[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: AgentId,
    pub name: String,
    pub api_key: Secret,
    /// Standard Webhooks secret: `whsec_` + base64 key.
    pub webhook_secret: Secret,
    pub callback_url: Option<String>,
    /// The `host:port`s a request's `callback_url` may name; default: `callback_url`'s.
    #[serde(default)]
    pub callback_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
}

/// `agents[].rate_limit`: how fast and how much one agent may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained intake requests per second; none: no per-second limit.
    pub per_second: Option<u32>,
    /// Requests allowed at once above the sustained rate; default: `per_second`.
    pub burst: Option<u32>,
    /// Escalations the agent may have open (not yet decided) at a time.
    pub max_pending: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: None,
            burst: None,
            max_pending: 10_000,
        }
    }
}

impl AgentConfig {
    /// Where a request's own `callback_url` may point: `callback_hosts`, or else
    /// the `host:port` of the configured `callback_url` (none without one).
    pub fn allowed_callback_hosts(&self) -> Vec<String> {
        if let Some(hosts) = &self.callback_hosts {
            return hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect();
        }
        self.callback_url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| crate::domain::callback_target::host_port(&u))
            .into_iter()
            .collect()
    }

    /// The HMAC key inside `webhook_secret`; `None` only if validation was bypassed.
    pub fn webhook_key(&self) -> Option<Vec<u8>> {
        super::validate::decode_whsec(self.webhook_secret.expose())
    }
}

/// `reviewers[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewerConfig {
    pub id: ReviewerId,
    pub name: String,
    pub email: String,
    /// When absent, looked up by email through Slack's `users.lookupByEmail`.
    pub slack_user: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub department: Option<String>,
    /// For the reviewer REST API; reviewers without one use Slack or email only.
    pub api_key: Option<Secret>,
    /// An operator: their API key reads `GET /v1/analytics`; they see the Insights pages.
    #[serde(default)]
    pub admin: bool,
}

/// `workflows[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    pub id: String,
    #[serde(rename = "match", default)]
    pub matcher: MatchConfig,
    #[serde(default = "one_day", with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub timeout_action: TimeoutAction,
    #[serde(default = "all_channels")]
    pub channels: Vec<String>,
    /// Labels, or typed conditions with an input and an optional check (design.md §6);
    /// read by hand so validation names each bad field.
    #[serde(default)]
    pub conditions: Vec<ConditionConfig>,
    /// How long after an approval the action may start: the receipt's `exp`.
    #[serde(default = "one_hour", with = "duration")]
    pub execute_within: Duration,
    /// How many times a reviewer may ask for changes and the agent revise (design.md §7).
    #[serde(default = "max_revisions")]
    pub max_revisions: u32,
    #[serde(default)]
    pub separation_of_duties: SeparationConfig,
    #[serde(default)]
    pub stages: Vec<StageConfig>,
    /// Decide at intake without reviewers (design.md §9); only without `stages`.
    #[serde(default)]
    pub auto: Option<AutoDecision>,
}

fn max_revisions() -> u32 {
    crate::domain::workflow::DEFAULT_MAX_REVISIONS
}

fn one_hour() -> Duration {
    crate::domain::workflow::DEFAULT_EXECUTE_WITHIN
}

fn one_day() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn all_channels() -> Vec<String> {
    vec!["slack".to_owned(), "email".to_owned()]
}

/// `match:`; an absent key matches everything.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Globs: `*` any run of characters (dots included), `?` one character.
    pub intents: Vec<String>,
    pub risk: Option<RiskRange>,
    pub agents: Option<Vec<AgentId>>,
    /// Conditions on the request body, all of which must hold (design.md §9).
    pub when: super::when::WhenList,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            intents: vec!["*".to_owned()],
            risk: None,
            agents: None,
            when: Default::default(),
        }
    }
}

/// Inclusive risk score range. Signed and wide so that out-of-range values reach
/// validation (with a clear message) instead of failing as a type error.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskRange {
    pub min: i64,
    pub max: i64,
}

impl Default for RiskRange {
    fn default() -> Self {
        Self { min: 0, max: 100 }
    }
}

/// `separation_of_duties:`; unset fields take the defaults README.md "Configuration
/// reference" lists, which live in one place: `SeparationOfDuties::default()`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeparationConfig {
    pub block_self_approval: Option<bool>,
    pub require_different_approvers: Option<bool>,
    pub require_different_departments: Option<bool>,
    pub minimum_unique_approvers: Option<u32>,
}

impl SeparationConfig {
    pub fn to_spec(self) -> SeparationOfDuties {
        let d = SeparationOfDuties::default();
        SeparationOfDuties {
            block_self_approval: self.block_self_approval.unwrap_or(d.block_self_approval),
            require_different_approvers: self
                .require_different_approvers
                .unwrap_or(d.require_different_approvers),
            require_different_departments: self
                .require_different_departments
                .unwrap_or(d.require_different_departments),
            minimum_unique_approvers: self
                .minimum_unique_approvers
                .unwrap_or(d.minimum_unique_approvers),
        }
    }
}

/// `stages[]`. Reviewer references are `user:ID`, `user:EMAIL` or `role:NAME`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub name: String,
    /// Defaults to empty only so validation can say "no approvers" with a path.
    #[serde(default)]
    pub approvers: Vec<String>,
    #[serde(default = "one")]
    pub required_approvals: u32,
    #[serde(default, with = "duration::option")]
    pub sla: Option<Duration>,
    pub required_role: Option<String>,
    pub required_department: Option<String>,
    pub escalation_target: Option<String>,
    #[serde(default)]
    pub delegation: Vec<DelegationConfig>,
    pub slack_channel: Option<String>,
    #[serde(default)]
    pub on_deny: OnDeny,
}

fn one() -> u32 {
    1
}

/// `delegation[]`: after `after`, `approvers` join the stage's pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationConfig {
    #[serde(with = "duration")]
    pub after: Duration,
    #[serde(default)]
    pub approvers: Vec<String>,
}
