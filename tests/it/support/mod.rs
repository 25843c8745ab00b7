//! The shared harness: spawn the app on port 0 with a temp database and a manual clock, plus HTTP helpers.

pub mod browser;
pub mod callbacks;
pub mod config;
pub mod fake_slack;
pub mod smtp;

use countersign::app::App;
use countersign::clock::{Clock, ManualClock};
use countersign::service::Service;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

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
    /// The test's own connections to the database file, for reading raw rows (and for
    /// tampering as another process would); the app's pools are private to its store.
    pub db: sqlx::SqlitePool,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
}

/// Options for [`TestApp::spawn`]: extra YAML sections and whether the background workers run.
#[derive(Default)]
pub struct Options {
    /// Callback URL given to the test agent.
    pub callback_url: Option<String>,
    /// `delivery.timeout` of the test config (the default when absent).
    pub delivery_timeout: Option<String>,
    /// Callback URL given to the other agent.
    pub other_callback_url: Option<String>,
    /// YAML appended at the top level (e.g. a `slack:` or `email:` section).
    pub extra_yaml: String,
    /// Replace the workflows of the default test config.
    pub workflows_yaml: Option<String>,
    /// Turn off background workers: the test drives `run_once` itself.
    pub manual_workers: bool,
    /// Where the SQLite file lives (default: the test's temp dir), e.g. a small tmpfs.
    pub database_dir: Option<std::path::PathBuf>,
    /// Lines added under `server:`, each indented two spaces.
    pub server_yaml: String,
    /// `server.allow_private_callbacks: false` (the test config allows them: receivers are on loopback).
    pub deny_private_callbacks: bool,
    /// More `host:port`s the test agent's request callback_urls may name.
    pub callback_hosts: Vec<String>,
    /// YAML lines added to the test agent (indented 4 spaces), e.g. a `rate_limit:`.
    pub agent_yaml: String,
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

    pub async fn spawn_with(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_path = options
            .database_dir
            .as_deref()
            .unwrap_or(dir.path())
            .join("countersign.db");
        let yaml = config::yaml(&options, &db_path);
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
        let db = open_db(&db_path).await;
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
        self.client
            .post(self.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .json(&body)
            .send()
            .await
            .expect("request")
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
    assert_eq!(r.status(), status, "unexpected status");
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
