//! The outbox against slow and dead peers: a destination that hangs delays only its own
//! items, every attempt has a deadline, decisions go before notifications, and a killed
//! process's leases are taken back as soon as it restarts.

use crate::support::callbacks::Receiver;
use crate::support::fake_slack::FakeSlack;
use crate::support::process::{Server, write_config};
use crate::support::smtp::SmtpServer;
use crate::support::{AGENT_SECRET, OTHER_AGENT_KEY, Options, TestApp, TestConfig, eventually};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use countersign::store::db;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// What "delivered at once" means here: well inside any deadline or lease.
const PROMPTLY: Duration = Duration::from_secs(3);

/// A peer that accepts TCP connections and never says a word: no SMTP greeting, no
/// HTTP response. Connections are held open until the test ends.
struct Stalled {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Stalled {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until a delivery has connected (and is now stuck).
    async fn wait_for_connection(&self, n: usize) {
        eventually(Duration::from_secs(10), || async {
            (self.accepted() >= n).then_some(())
        })
        .await;
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates an escalation as the other agent (the one whose callback receiver works).
async fn escalate_as_other(app: &TestApp, summary: &str) -> String {
    let r = app
        .create_as(
            OTHER_AGENT_KEY,
            json!({"intent": "test.single", "summary": summary}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn called_back(receiver: &Receiver, id: &str) -> bool {
    receiver
        .received()
        .iter()
        .any(|r| r.verified && r.body["data"]["id"] == id)
}

fn mails_about(smtp: &SmtpServer, summary: &str) -> usize {
    smtp.messages()
        .iter()
        .filter(|m| m.subject.contains(summary))
        .count()
}

fn slack_posts_about(slack: &FakeSlack, summary: &str) -> usize {
    slack
        .messages()
        .iter()
        .filter(|m| m.all_text().contains(summary))
        .count()
}

#[tokio::test]
async fn a_callback_receiver_that_never_answers_delays_no_other_delivery() {
    let dead = Stalled::start().await;
    let receiver = Receiver::start(AGENT_SECRET).await;
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(
        TestConfig::default()
            .agent(|a| a.callback_url(&format!("http://{}/hooks", dead.addr)))
            .other_agent(|a| a.callback_url(&receiver.url))
            .slack(&slack.api_url)
            .email(&smtp.url()),
    )
    .await;
    let stuck = app.escalate_id("test.single").await;
    app.approve(&stuck, "bob").await;
    dead.wait_for_connection(1).await;

    // While that callback hangs, another agent's escalation is asked and decided.
    let id = escalate_as_other(&app, "Rotate the other agent's key").await;
    eventually(PROMPTLY, || async {
        (slack_posts_about(&slack, "Rotate the other agent") == 2
            && mails_about(&smtp, "Rotate the other agent") == 2)
            .then_some(())
    })
    .await;
    app.approve(&id, "bob").await;
    eventually(PROMPTLY, || async {
        called_back(&receiver, &id).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_stalled_smtp_server_delays_nothing_else_and_its_mail_times_out_and_is_retried() {
    let dead = Stalled::start().await;
    let receiver = Receiver::start(AGENT_SECRET).await;
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(
        TestConfig::default()
            .agent(|a| a.callback_url(&receiver.url))
            .slack(&slack.api_url)
            .email(&format!("smtp://{}", dead.addr))
            .delivery_timeout("500ms"),
    )
    .await;
    let id = app.escalate_id("test.single").await;
    dead.wait_for_connection(1).await;
    eventually(PROMPTLY, || async {
        (slack_posts_about(&slack, "Test test.single") == 2).then_some(())
    })
    .await;
    app.approve(&id, "bob").await;
    eventually(PROMPTLY, || async {
        called_back(&receiver, &id).then_some(())
    })
    .await;

    // The mail attempts hit their deadline, say so, and wait for their backoff.
    let errors = eventually(PROMPTLY, || async {
        let rows: Vec<(i64, Option<String>)> = db::query_as(
            "SELECT attempts, last_error FROM outbox WHERE channel = 'email' AND escalation_id = ?",
        )
        .bind(&id)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let timed_out = |e: &Option<String>| e.as_deref().is_some_and(|e| e.contains("500ms"));
        (rows.len() >= 2 && rows.iter().filter(|(_, e)| timed_out(e)).count() >= 2).then_some(rows)
    })
    .await;
    // The two requests were tried; the outcome mails wait behind them (ordering key).
    assert_eq!(
        errors.iter().filter(|(attempts, _)| *attempts == 1).count(),
        2,
        "{errors:?}"
    );
    let before = dead.accepted();
    app.clock.advance(Duration::from_secs(5));
    app.service.signals.outbox().notify_one();
    dead.wait_for_connection(before + 1).await;
}

#[tokio::test]
async fn a_hanging_slack_delays_neither_email_nor_callbacks() {
    let dead = Stalled::start().await;
    let receiver = Receiver::start(AGENT_SECRET).await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(
        TestConfig::default()
            .agent(|a| a.callback_url(&receiver.url))
            .slack(&format!("http://{}/api/", dead.addr))
            .email(&smtp.url()),
    )
    .await;
    let id = app.escalate_id("test.single").await;
    dead.wait_for_connection(1).await;
    eventually(PROMPTLY, || async {
        (mails_about(&smtp, "Test test.single") == 2).then_some(())
    })
    .await;
    app.approve(&id, "bob").await;
    // The callback, and the outcome mails (which wait for the requests to be recorded).
    eventually(PROMPTLY, || async {
        (called_back(&receiver, &id) && mails_about(&smtp, "Test test.single") == 4).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_decision_callback_goes_before_a_backlog_of_notifications() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default()
            .agent(|a| a.callback_url(&receiver.url))
            .email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    // More request mails than one step of the worker takes, all queued before the decision.
    for i in 0..40 {
        app.escalate_with(json!({"intent": "test.single", "summary": format!("Backlog {i}")}))
            .await;
    }
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;
    app.deliver().await;
    assert!(
        called_back(&receiver, &id),
        "the decision went out in the first step"
    );
}

#[tokio::test]
async fn the_claim_takes_the_decision_before_older_notifications() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let smtp = SmtpServer::reserve();
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default()
            .agent(|a| a.callback_url(&receiver.url))
            .email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;
    // Two request mails were queued before the callback; a claim of one takes the callback.
    let claim = countersign::store::outbox::Claim {
        now: app.clock_now(),
        limit: 1,
        lease: Duration::from_secs(120),
        owner: "test",
        saturated: &[],
    };
    let items = app
        .service
        .store
        .claim_outbox(claim, |_| true)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].channel, "callback");
    let host_port = receiver
        .url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix("/hooks"))
        .unwrap();
    assert_eq!(items[0].destination, format!("callback {host_port}"));
}

/// A callback receiver that hangs (never answers) while `hang` is set, and answers 204 otherwise.
#[derive(Clone, Default)]
struct Switch {
    hang: Arc<AtomicBool>,
    arrived: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

async fn switch_receiver(switch: Switch) -> String {
    async fn hook(State(s): State<Switch>) -> StatusCode {
        s.arrived.fetch_add(1, Ordering::SeqCst);
        if s.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        s.answered.fetch_add(1, Ordering::SeqCst);
        StatusCode::NO_CONTENT
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    let app = Router::new().route("/hooks", post(hook)).with_state(switch);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_callback_leased_by_a_killed_process_goes_out_right_after_restart() {
    let switch = Switch::default();
    switch.hang.store(true, Ordering::SeqCst);
    let url = switch_receiver(switch.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let test_config = TestConfig::default().agent(|a| a.callback_url(&url));
    let (config, _db) = write_config(dir.path(), &test_config).await;
    let server = Server::start(&config).await;
    let client = crate::support::client();
    let id = server
        .escalate_id(
            &client,
            json!({"intent": "test.single", "summary": "Decided, then killed"}),
        )
        .await;
    let r = client
        .post(format!("{}/v1/escalations/{id}/votes", server.base))
        .bearer_auth("bob-key")
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The callback is claimed and in flight when the process dies.
    eventually(Duration::from_secs(10), || async {
        (switch.arrived.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    server.signal("KILL");
    server.wait();

    switch.hang.store(false, Ordering::SeqCst);
    let _server = Server::start(&config).await;
    eventually(PROMPTLY, || async {
        (switch.answered.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
}
