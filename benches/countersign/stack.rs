//! The system under test, in process: the real `App` on a loopback port over a temp SQLite file
//! opened by `Store::open` (production pragmas) or a PostgreSQL database, plus the peers it
//! talks to — a callback sink and a fake Slack Web API — on another loopback port.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use countersign::app::App;
use countersign::clock::Clock;
use countersign::domain::Time;
use countersign::service::Service;
use countersign::store::db::Pool;
use serde_json::{Value, json};
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub const AGENT_KEY: &str = "bench-agent-key";
pub const SLACK_SIGNING_SECRET: &str = "bench-slack-signing-secret";
/// `whsec_` + base64("countersign-bench-webhook-secret").
const AGENT_SECRET: &str = "whsec_Y291bnRlcnNpZ24tYmVuY2gtd2ViaG9vay1zZWNyZXQ=";

/// What the bench config contains besides the fixed agent, reviewers and workflow.
#[derive(Default, Clone)]
pub struct Peers {
    /// Where decisions are called back.
    pub callback_url: Option<String>,
    /// Base of the fake Slack Web API; `None` leaves Slack off.
    pub slack_api: Option<String>,
}

/// The bench configuration: one agent, six reviewers (each with a Slack user id),
/// one workflow with a timeout, an SLA and a delegation tier — three armed timers
/// per pending escalation, like a real deployment.
pub fn config_yaml(database: &str, listen: &str, peers: &Peers) -> String {
    let callback = peers
        .callback_url
        .as_deref()
        .map(|u| format!("    callback_url: {u}\n"))
        .unwrap_or_default();
    let slack = peers
        .slack_api
        .as_deref()
        .map(|u| {
            format!(
                "slack:\n  bot_token: xoxb-bench\n  signing_secret: {SLACK_SIGNING_SECRET}\n  api_url: {u}\n"
            )
        })
        .unwrap_or_default();
    let reviewer = |id: &str, name: &str, role: &str, dept: &str| {
        format!(
            "  - {{id: {id}, name: {name}, email: {id}@example.com, slack_user: U0{up}, roles: [{role}], department: {dept}, api_key: {id}-key}}\n",
            up = id.to_uppercase()
        )
    };
    let reviewers: String = [
        ("alice", "Alice Analyst", "security_analyst", "Security"),
        ("bob", "Bob Builder", "senior_engineer", "Platform"),
        ("carol", "Carol Coder", "senior_engineer", "Platform"),
        ("dave", "Dave Director", "executive", "Leadership"),
        ("erin", "Erin Lead", "security_lead", "Security"),
        ("frank", "Frank Finance", "finance", "Finance"),
    ]
    .iter()
    .map(|(id, name, role, dept)| reviewer(id, name, role, dept))
    .collect();
    format!(
        r#"
server:
  listen: {listen}
  database: {database}
  link_secret: bench-link-secret-bench-link-secret-0123456789
{slack}delivery:
  initial_backoff: 1s
  max_backoff: 1m
  max_age: 1h
agents:
  - id: bench-agent
    name: Bench Agent
    api_key: {AGENT_KEY}
    webhook_secret: {AGENT_SECRET}
    # The bench measures throughput, not admission: the default max_pending (10,000)
    # would refuse every intake after the first 10,000 open escalations.
    rate_limit: {{max_pending: 100000000}}
{callback}reviewers:
{reviewers}workflows:
  - id: standard
    match: {{intents: ["bench.*", "infrastructure.*"]}}
    timeout: 2h
    conditions: ["Canary rollout required", "Mask PII fields"]
    stages:
      - name: Approval
        approvers: ["user:bob", "user:carol"]
        sla: 30m
        escalation_target: "user:dave"
        delegation:
          - after: 15m
            approvers: ["user:erin"]
"#
    )
}

/// `server.database` for a SQLite file.
pub fn sqlite_url(db: &FsPath) -> String {
    format!("sqlite://{}", db.display())
}

/// A realistic intake body of about 800 bytes: the fields of `EscalationRequest` but
/// `callback_url` (and `deadline` only when given).
pub fn intake_body(i: usize, deadline: Option<Time>) -> Value {
    let mut body = json!({
        "intent": "infrastructure.deployment.production",
        "summary": format!("Deploy api v2.3.{i} to production"),
        "payload": {"service": "api", "version": format!("2.3.{i}"), "replicas": 12,
                    "image": format!("registry.example.com/api@sha256:{:064x}", i)},
        "resource": "k8s://prod/api",
        "risk": {"score": 95, "reasons": ["Production change outside the change window"]},
        "policy": {"id": "prod-deploy", "reason": "Production deploys need approval"},
        "requested_by": "carol@example.com",
        "context": {
            "recent_activity": [{"at": "2026-11-21T10:00:00Z", "summary": "Deployed api v2.3.0 to staging"}],
            "evidence": [{"label": "CI run", "url": format!("https://ci.example.com/runs/{i}")}]
        }
    });
    if let Some(d) = deadline {
        body["deadline"] = json!(d.to_rfc3339());
    }
    body
}

/// A clock running at the system's pace, shifted by an offset that can be set after the
/// app is built, so rows seeded at one instant can be made due a chosen moment after the
/// server starts.
#[derive(Default)]
pub struct OffsetClock(AtomicI64);

impl OffsetClock {
    pub fn set(&self, offset: chrono::Duration) {
        self.0.store(offset.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Time {
        let t = chrono::Utc::now() + chrono::Duration::milliseconds(self.0.load(Ordering::SeqCst));
        chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
    }
}

/// A connection pool of the harness's own on the service's database (the store keeps its
/// pools private): for reading raw rows, and for seeding as an outside process would.
pub async fn own_db(service: &Service) -> sqlx::SqlitePool {
    let options: sqlx::sqlite::SqliteConnectOptions = service
        .config
        .server
        .database
        .parse()
        .expect("database url");
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.busy_timeout(std::time::Duration::from_secs(5)))
        .await
        .expect("bench connection to the database")
}

/// A small pool of the harness's own on the service's database, either backend, for
/// statements written once through `countersign::store::db`.
pub async fn own_pool(service: &Service) -> Pool {
    let url = &service.config.server.database;
    if countersign::store::is_postgres(url) {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .expect("bench connection to PostgreSQL");
        Pool::Postgres(pool)
    } else {
        Pool::Sqlite(own_db(service).await)
    }
}

/// A built app whose database can be seeded before it starts serving.
pub struct Built {
    pub app: App,
    pub service: Service,
}

/// Builds the real app on the SQLite file `db` (created and migrated through `Store::open`).
pub async fn build(db: &FsPath, peers: &Peers, clock: Arc<dyn Clock>) -> Built {
    build_on(&sqlite_url(db), peers, clock).await
}

/// Builds the real app on the database `url` names (`sqlite://…` or `postgres://…`).
pub async fn build_on(url: &str, peers: &Peers, clock: Arc<dyn Clock>) -> Built {
    let yaml = config_yaml(url, "127.0.0.1:0", peers);
    let loaded = countersign::config::load_str_with(&yaml, "bench", &|_| None)
        .unwrap_or_else(|e| panic!("bench config invalid: {e}\n{yaml}"));
    let app = App::build(loaded.config, clock).await.expect("app builds");
    let service = app.service.clone();
    Built { app, service }
}

/// A running server.
pub struct Server {
    pub base: String,
    pub service: Service,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Built {
    pub fn start(self) -> Server {
        let base = format!("http://{}", self.app.local_addr());
        let shutdown = self.app.shutdown_token();
        let task = tokio::spawn(self.app.run());
        Server {
            base,
            service: self.service,
            shutdown,
            task,
        }
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// A keep-alive HTTP client for the load generator.
pub fn client() -> reqwest::Client {
    countersign::app::install_crypto_provider();
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client")
}

/// The peers: `POST /hooks` answers 204 (callbacks); `POST /slack/api/{method}`
/// answers like Slack's Web API and keeps every message posted.
#[derive(Clone, Default)]
pub struct Peer {
    pub base: String,
    pub posted: Arc<Mutex<Vec<Value>>>,
    pub callbacks: Arc<AtomicU64>,
    ts: Arc<AtomicU64>,
}

impl Peer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind peer");
        let mut peer = Peer {
            base: format!("http://{}", listener.local_addr().expect("addr")),
            ..Peer::default()
        };
        peer.ts = Arc::new(AtomicU64::new(1));
        let router = Router::new()
            .route("/hooks", post(hook))
            .route("/slack/api/{method}", post(slack))
            .route("/slack/response", post(|| async { "ok" }))
            .with_state(peer.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        peer
    }

    pub fn callback_url(&self) -> String {
        format!("{}/hooks", self.base)
    }

    pub fn slack_api(&self) -> String {
        format!("{}/slack/api/", self.base)
    }

    /// Where a click's `response_url` points: private replies land here, not at Slack.
    pub fn slack_response_url(&self) -> String {
        format!("{}/slack/response", self.base)
    }
}

async fn hook(State(peer): State<Peer>) -> StatusCode {
    peer.callbacks.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

/// Enough of Slack's Web API for the bot to post, update and look people up.
async fn slack(
    State(peer): State<Peer>,
    Path(method): Path<String>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let req: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
        // Form-encoded calls: keep them as {key: value}.
        let text = String::from_utf8_lossy(&body);
        Value::Object(
            text.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                .collect(),
        )
    });
    let ts = format!(
        "1700000000.{:06}",
        peer.ts.fetch_add(1, Ordering::Relaxed) % 1_000_000
    );
    let channel = req["channel"].as_str().unwrap_or("D0BENCH").to_owned();
    let answer = match method.as_str() {
        "chat.postMessage" => {
            let mut msg = req.clone();
            msg["ts"] = json!(ts);
            peer.posted.lock().expect("lock").push(msg);
            json!({"ok": true, "channel": channel, "ts": ts, "message": {"ts": ts, "text": ""}})
        }
        "chat.update" => json!({"ok": true, "channel": channel, "ts": req["ts"], "text": ""}),
        "conversations.open" => {
            json!({"ok": true, "channel": {"id": format!("D{}", req["users"].as_str().unwrap_or("0"))}})
        }
        "users.lookupByEmail" | "users.info" => {
            json!({"ok": true, "user": {"id": "U0BENCH", "name": "bench", "profile": {"email": req["email"]}}})
        }
        "views.open" | "views.update" => json!({"ok": true, "view": {"id": "V0BENCH"}}),
        _ => json!({"ok": true}),
    };
    axum::Json(answer)
}
