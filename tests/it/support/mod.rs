//! The shared harness: spawn the app on port 0 with a temp database and a manual clock, plus HTTP helpers.
//!
//! A test that needs more than the standard config says so in types:
//!
//! ```ignore
//! let app = TestApp::spawn_with(Options {
//!     config: TestConfig::default()
//!         .agent(|a| a.callback_url(&receiver.url))
//!         .slack(&slack.api_url)
//!         .workflow(Workflow::new("ops").intents(["test.ops"]).stage(
//!             Stage::new("Review").approvers(["user:bob", "user:carol"]).required(2).sla("30m"),
//!         )),
//!     manual_workers: true,
//!     ..Options::default()
//! })
//! .await;
//! ```
//!
//! (`TestApp::spawn_with(config)` when only the config changes.) Request bodies
//! (`requests::rich`), the process harness (`process::Server`) and the fake peers (`fake_slack`,
//! `smtp`, `callbacks`, `browser`) live beside it; put a helper here once a second file needs it.

pub mod browser;
pub mod callbacks;
pub mod config;
pub mod database;
pub mod fake_slack;
mod pg_cluster;
pub mod process;
pub mod pyjwt;
pub mod requests;
pub mod smtp;
pub mod workflows;

pub use config::{RateLimit, TestConfig};
use countersign::app::App;
use countersign::clock::{Clock, ManualClock};
use countersign::service::Service;
use countersign::store::db;
pub use database::{TestDb, on_postgres, postgres_only, sqlite_only};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
pub use workflows::{Stage, Workflow};

pub const AGENT_KEY: &str = "agent-key";
pub const OTHER_AGENT_KEY: &str = "other-agent-key";
/// `whsec_` + base64("countersign-test-webhook-secret!").
pub const AGENT_SECRET: &str = "whsec_Y291bnRlcnNpZ24tdGVzdC13ZWJob29rLXNlY3JldCE=";

/// A running server and what a test needs to drive it.
pub struct TestApp {
    pub base: String,
    pub service: Service,
    pub clock: ManualClock,
    pub client: Client,
    /// The test's own connections to the database, for reading raw rows (and for
    /// tampering as another process would); the app's pools are private to its store.
    /// Statements go through `countersign::store::db`, so they run on either backend.
    pub db: countersign::store::db::Pool,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
}

/// Options for [`TestApp::spawn_with`]: the config and how the harness runs it. A bare
/// [`TestConfig`] converts, for tests that change only the config.
#[derive(Default)]
pub struct Options {
    /// The configuration the server loads (the database path is the harness's).
    pub config: TestConfig,
    /// Turn off background workers: the test drives `run_once` itself.
    pub manual_workers: bool,
    /// Where the SQLite file lives (default: the test's temp dir), e.g. a small tmpfs.
    /// Setting it makes the test SQLite only.
    pub database_dir: Option<std::path::PathBuf>,
    /// A database to run on (one a test shares with a CLI run, say) instead of a fresh one.
    pub database: Option<TestDb>,
}

impl Options {
    /// The standard config with the background workers off.
    pub fn manual() -> Self {
        Self {
            manual_workers: true,
            ..Self::default()
        }
    }
}

impl From<TestConfig> for Options {
    fn from(config: TestConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }
}

/// A small pool of its own on a database file, as another process would open it.
pub async fn open_db(path: &std::path::Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(5));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("test connection to the database")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: impl Into<Options>) -> Self {
        let options = options.into();
        let dir = tempfile::tempdir().expect("temp dir");
        let database = match (&options.database, &options.database_dir) {
            (Some(db), _) => db.clone(),
            (None, Some(d)) => TestDb::Sqlite(d.join("countersign.db")),
            (None, None) => TestDb::fresh(dir.path()).await,
        };
        let yaml = options.config.render_url(&database.url());
        let loaded = countersign::config::load_str_with(&yaml, "test", &|_| None)
            .unwrap_or_else(|e| panic!("test config invalid: {e}\n{yaml}"));
        let clock = ManualClock::new(chrono::Utc::now());
        let mut app = App::build(loaded.config, std::sync::Arc::new(clock.clone()))
            .await
            .expect("app builds");
        if options.manual_workers {
            app = app.without_workers();
        }
        let addr = app.local_addr();
        let service = app.service.clone();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run());
        let db = database.pool().await;
        Self {
            base: format!("http://{addr}"),
            service,
            clock,
            client: Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("client"),
            db,
            shutdown,
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /v1/escalations` as the test agent.
    pub async fn create(&self, body: Value) -> Response {
        self.create_as(AGENT_KEY, body).await
    }

    /// `POST /v1/escalations` with an agent's bearer key.
    pub async fn create_as(&self, api_key: &str, body: Value) -> Response {
        self.client
            .post(self.url("/v1/escalations"))
            .bearer_auth(api_key)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// `POST /v1/escalations/{id}/cancel` as the test agent, with a `reason` or no body.
    pub async fn cancel(&self, id: &str, reason: Option<&str>) -> Response {
        self.cancel_as(AGENT_KEY, id, reason).await
    }

    /// `POST /v1/escalations/{id}/cancel` with an agent's bearer key.
    pub async fn cancel_as(&self, api_key: &str, id: &str, reason: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!("/v1/escalations/{id}/cancel")))
            .bearer_auth(api_key);
        if let Some(reason) = reason {
            request = request.json(&json!({"reason": reason}));
        }
        request.send().await.expect("request")
    }

    /// `POST /v1/webhooks/test-agent` signed with [`AGENT_SECRET`] as of `timestamp`.
    pub fn signed_webhook(&self, msg_id: &str, timestamp: i64, body: &str) -> RequestBuilder {
        let wh = standardwebhooks::Webhook::new(AGENT_SECRET).expect("agent secret");
        let signature = wh.sign(msg_id, timestamp, body.as_bytes()).expect("sign");
        self.client
            .post(self.url("/v1/webhooks/test-agent"))
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_owned())
    }

    /// Creates an escalation that must succeed, returning its status document.
    pub async fn escalate(&self, intent: &str) -> Value {
        self.escalate_with(json!({"intent": intent, "summary": format!("Test {intent}")}))
            .await
    }

    /// Creates an escalation for `intent` and returns its id.
    pub async fn escalate_id(&self, intent: &str) -> String {
        self.escalate(intent).await["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub async fn escalate_with(&self, body: Value) -> Value {
        let r = self.create(body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create failed");
        r.json().await.expect("json")
    }

    pub async fn status(&self, id: &str) -> Value {
        let r = self
            .client
            .get(self.url(&format!("/v1/escalations/{id}")))
            .bearer_auth(AGENT_KEY)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("json")
    }

    /// `POST /v1/escalations/{id}/votes` with `reviewer`'s key (`<id>-key`).
    pub async fn vote(&self, id: &str, reviewer: &str, body: Value) -> Response {
        self.client
            .post(self.url(&format!("/v1/escalations/{id}/votes")))
            .bearer_auth(format!("{reviewer}-key"))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn approve(&self, id: &str, reviewer: &str) -> Value {
        let r = self
            .vote(id, reviewer, json!({"decision": "approve"}))
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "approve by {reviewer}: {}",
            r.text().await.unwrap_or_default()
        );
        r.json().await.expect("json")
    }

    pub fn clock_now(&self) -> countersign::domain::Time {
        self.clock.now()
    }

    /// Moves the manual clock, then runs the timer worker's step once at the new time.
    pub async fn advance(&self, by: Duration) -> usize {
        self.clock.advance(by);
        countersign::workers::timers::run_once(&self.service, self.clock.now())
            .await
            .expect("timer step")
            .fired
    }

    /// Runs the outbox worker's step once at the clock's time.
    pub async fn deliver(&self) -> countersign::workers::outbox::Outcome {
        countersign::workers::outbox::run_once(&self.service, self.clock.now())
            .await
            .expect("outbox step")
    }

    /// Posts a Slack interaction (`payload=<json>`) signed as Slack signs it.
    pub async fn interact(&self, payload: &Value) -> Response {
        let body = fake_slack::form_body(payload);
        let ts = chrono::Utc::now().timestamp();
        self.client
            .post(self.url("/slack/interactions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", fake_slack::sign(ts, &body))
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// Posts a Slack Events API delivery (JSON) signed as Slack signs it, with
    /// `X-Slack-Retry-Num` when `retry` is given.
    pub async fn slack_event(&self, payload: &Value, retry: Option<u32>) -> Response {
        let body = payload.to_string();
        let ts = chrono::Utc::now().timestamp();
        let mut req = self
            .client
            .post(self.url("/slack/events"))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", fake_slack::sign(ts, &body));
        if let Some(n) = retry {
            req = req
                .header("x-slack-retry-num", n.to_string())
                .header("x-slack-retry-reason", "http_timeout");
        }
        req.body(body).send().await.expect("request")
    }

    /// Runs the outbox until nothing is ready: the items of one escalation go one at a time
    /// (an outcome waits for its request), so it takes a few steps.
    pub async fn deliver_all(&self) {
        for _ in 0..50 {
            let o = self.deliver().await;
            if o.delivered + o.retried + o.failed == 0 {
                return;
            }
        }
        panic!("the outbox did not settle");
    }

    /// How many escalations are stored, of every agent.
    pub async fn escalation_count(&self) -> i64 {
        db::query_scalar("SELECT COUNT(*) FROM escalations")
            .fetch_one(&self.db)
            .await
            .expect("count")
    }

    /// Audit event kinds for one escalation, oldest first.
    pub async fn audit_kinds(&self, id: &str) -> Vec<String> {
        (self.service.store)
            .audit_events(id)
            .await
            .expect("audit")
            .into_iter()
            .map(|(_, kind, _, _)| kind)
            .collect()
    }

    /// Graceful stop; waits for the server to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An HTTP client for tests that run outside a `TestApp` (which installs the provider itself).
pub fn client() -> Client {
    countersign::app::install_crypto_provider();
    Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .expect("client")
}

/// Asserts a contract error: status and `error.code`.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "unexpected status from {}", r.url());
    let body: Value = r.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    body
}

/// Polls `f` until it returns Some, for effects of background tasks (delivery to a peer).
/// Bounded: panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
