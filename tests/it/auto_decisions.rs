//! Automatic decisions and templates end to end (design.md §9): an `auto` workflow decides at
//! intake with a receipt PyJWT verifies, a callback, an intact audit chain and nobody
//! notified; a workflow built from a template runs as if written whole; check-config's
//! warnings, errors and exit codes for both.

use crate::support::callbacks::{Received, Receiver};
use crate::support::process::{config_file, run, text};
use crate::support::pyjwt::Executor;
use crate::support::smtp::read_eml_dir;
use crate::support::workflows::{self, Stage, Workflow};
use crate::support::{AGENT_SECRET, TestApp, TestConfig, assert_error, eventually};
use countersign::store::audit::Verdict;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Output;
use std::time::Duration;

/// The standard config plus an auto-approve and an auto-deny workflow, callbacks to
/// `receiver`, and email (with outcomes) written to `mail`.
fn config(receiver: &Receiver, mail: &std::path::Path) -> TestConfig {
    TestConfig::default()
        .agent(|a| a.callback_url(&receiver.url))
        .email(&format!("file://{}", mail.display()))
        .send_outcome(true)
        .workflow(
            Workflow::new("rollbacks")
                .intents(["test.auto.*.rollback"])
                .auto("approve"),
        )
        .workflow(
            Workflow::new("frozen")
                .intents(["test.auto.frozen"])
                .auto("deny"),
        )
}

fn executor(app: &TestApp) -> Executor {
    Executor {
        jwks_url: app.url("/.well-known/jwks.json"),
        agent_id: "test-agent".to_owned(),
        issuer: app.base.clone(),
    }
}

async fn create(app: &TestApp, intent: &str, payload: &Value) -> Value {
    let r = app
        .create(json!({"intent": intent, "summary": "Roll api back", "payload": payload}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn callback_for(receiver: &Receiver, id: &str) -> Received {
    eventually(Duration::from_secs(10), || async {
        receiver
            .received()
            .into_iter()
            .find(|r| r.verified && r.body["data"]["id"] == id)
    })
    .await
}

async fn assert_audit_intact(app: &TestApp) {
    match app.service.store.verify_audit().await.unwrap() {
        Verdict::Intact { .. } => {}
        broken => panic!("{broken:?}"),
    }
}

/// `created` and `decided` at intake, then the callback's delivery; the chain intact.
async fn assert_audited(app: &TestApp, id: &str) {
    let kinds = eventually(Duration::from_secs(10), || async {
        let kinds = app.audit_kinds(id).await;
        (kinds.len() == 3).then_some(kinds)
    })
    .await;
    assert_eq!(kinds, ["created", "decided", "callback_delivered"]);
    assert_audit_intact(app).await;
}

/// The decided document every auto decision answers with.
fn assert_decided_by_policy(doc: &Value, status: &str, policy: &str) {
    assert_eq!(doc["status"], status, "{doc}");
    assert_eq!(doc["workflow"], policy);
    assert_eq!(doc["decision"]["outcome"], status);
    assert_eq!(
        doc["decision"]["decided_by"],
        json!([format!("policy:{policy}")])
    );
    assert_eq!(
        doc["decision"]["reason"],
        format!("Decided automatically by policy {policy}.")
    );
    assert_eq!(doc["total_stages"], 0);
    assert_eq!(doc["current_stage"], 0);
    assert_eq!(doc["stages"], json!([]));
}

#[tokio::test]
async fn auto_approve_decides_at_intake_with_a_receipt_a_callback_and_no_reviewer_asked() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let mail = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(config(&receiver, mail.path())).await;
    let payload = json!({"service": "api", "to": "2.3.0"});
    let doc = create(&app, "test.auto.api.rollback", &payload).await;
    assert_decided_by_policy(&doc, "approved", "rollbacks");
    let id = doc["id"].as_str().unwrap();

    // The receipt an executor verifies independently; it binds this very payload.
    let token = doc["decision"]["receipt"].as_str().expect("a receipt");
    let claims = executor(&app).check(token, &payload).await.claims();
    assert_eq!(claims["outcome"], "approved");
    assert_eq!(claims["workflow"], "rollbacks");
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["approvers"], json!([]));
    let other = json!({"service": "api", "to": "6.6.6"});
    let refusal = executor(&app).check(token, &other).await.refusal();
    assert!(refusal.contains("payload_sha256 mismatch"), "{refusal}");

    let callback = callback_for(&receiver, id).await;
    assert_eq!(callback.body["type"], "escalation.decided");
    assert_eq!(callback.body["data"]["decision"]["receipt"], token);
    assert_eq!(
        callback.body["data"]["decision"]["decided_by"],
        json!(["policy:rollbacks"])
    );
    assert_audited(&app, id).await;

    // Decided for good: a vote is refused, and nobody was ever mailed.
    let r = app.vote(id, "bob", json!({"decision": "approve"})).await;
    assert_error(r, StatusCode::CONFLICT, "already_decided").await;
    assert!(read_eml_dir(mail.path()).is_empty());

    // The execution report works as after any approval.
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/execution")))
        .bearer_auth(crate::support::AGENT_KEY)
        .json(&json!({"status": "succeeded", "payload": payload}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["execution"]["matches"], true);

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The recorder is the process's: other tests count their own workflows beside this one.
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("countersign_auto_decisions_total{")
                && l.contains(r#"outcome="approved""#)
                && l.contains(r#"workflow="rollbacks""#)
        })
        .unwrap_or_else(|| panic!("no auto approval counted:\n{metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
}

#[tokio::test]
async fn auto_deny_decides_denied_with_a_receipt_that_lets_nothing_run() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let mail = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(config(&receiver, mail.path())).await;
    let payload = json!({"service": "api"});
    let doc = create(&app, "test.auto.frozen", &payload).await;
    assert_decided_by_policy(&doc, "denied", "frozen");
    let id = doc["id"].as_str().unwrap();
    let token = doc["decision"]["receipt"].as_str().expect("a receipt");
    let claims = executor(&app).read(token).await.claims();
    assert_eq!(claims["outcome"], "denied");
    let refusal = executor(&app).check(token, &payload).await.refusal();
    assert!(refusal.contains("denied"), "{refusal}");

    let callback = callback_for(&receiver, id).await;
    assert_eq!(callback.body["data"]["status"], "denied");
    assert_audited(&app, id).await;

    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/execution")))
        .bearer_auth(crate::support::AGENT_KEY)
        .json(&json!({"status": "succeeded", "payload": payload}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::CONFLICT, "not_approved").await;
    // The same request again is the same escalation, not a second decision.
    let again = app
        .client
        .post(app.url("/v1/escalations"))
        .bearer_auth(crate::support::AGENT_KEY)
        .header("Idempotency-Key", "frozen-1")
        .json(&json!({"intent": "test.auto.frozen", "summary": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    let first: Value = again.json().await.unwrap();
    let repeat = app
        .client
        .post(app.url("/v1/escalations"))
        .bearer_auth(crate::support::AGENT_KEY)
        .header("Idempotency-Key", "frozen-1")
        .json(&json!({"intent": "test.auto.frozen", "summary": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(repeat.status(), StatusCode::OK);
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat["id"], first["id"]);
    assert_eq!(repeat["decision"]["receipt"], first["decision"]["receipt"]);
}

#[tokio::test]
async fn a_workflow_built_from_a_template_runs_as_if_written_whole() {
    let config = TestConfig::default()
        .template(
            Workflow::new("reviewed")
                .timeout("3h")
                .stage(Stage::new("From the template").approvers(["user:bob"])),
        )
        .workflow(
            Workflow::new("templated")
                .intents(["test.templated"])
                .extends("reviewed"),
        );
    let app = TestApp::spawn_with(config).await;
    let doc = app.escalate("test.templated").await;
    assert_eq!(doc["workflow"], "templated");
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["total_stages"], 1);
    assert_eq!(doc["current_stage"], 1);
    assert_eq!(doc["stages"][0]["name"], "From the template");
    let created =
        chrono::DateTime::parse_from_rfc3339(doc["created_at"].as_str().unwrap()).unwrap();
    let deadline = chrono::DateTime::parse_from_rfc3339(doc["deadline"].as_str().unwrap()).unwrap();
    assert_eq!(deadline - created, chrono::Duration::hours(3));
    let id = doc["id"].as_str().unwrap();
    assert_eq!(app.approve(id, "bob").await["status"], "approved");
}

fn check_config(config: &TestConfig) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), config);
    run(&["check-config", "--config", &path])
}

#[test]
fn check_config_warns_on_an_auto_approve_that_matches_everything() {
    let next = workflows::standard().len();
    let out = check_config(
        &TestConfig::default().workflow(Workflow::new("yes").intents(["*"]).auto("approve")),
    );
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains(&format!("workflows[{next}].auto")),
        "{report}"
    );
    assert!(report.contains("fails open for everything"), "{report}");
}

#[test]
fn check_config_refuses_auto_with_stages_and_names_template_paths() {
    let next = workflows::standard().len();
    let both = TestConfig::default().workflow(
        Workflow::new("both")
            .intents(["x"])
            .auto("deny")
            .stage(Stage::new("S").approvers(["user:bob"])),
    );
    let out = check_config(&both);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("workflows[{next}].stages"))
            && report.contains("remove `stages` or `auto`"),
        "{report}"
    );

    let broken = TestConfig::default()
        .template(
            Workflow::new("broken").stage(Stage::new("S").approvers(["role:nobody-has-this"])),
        )
        .workflow(Workflow::new("derived").intents(["x"]).extends("broken"));
    let out = check_config(&broken);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "workflows[{next}] (extends templates[0]): stages[0].approvers[0]"
        )),
        "{report}"
    );

    let cycle = TestConfig::default()
        .template(Workflow::new("a").extends("b"))
        .template(Workflow::new("b").extends("a"))
        .workflow(Workflow::new("derived").intents(["x"]).extends("a"));
    let out = check_config(&cycle);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("cycle: a → b → a"), "{report}");

    let unknown =
        TestConfig::default().workflow(Workflow::new("derived").intents(["x"]).extends("ghost"));
    let out = check_config(&unknown);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("workflows[{next}].extends"))
            && report.contains("no template has id `ghost`"),
        "{report}"
    );
}
