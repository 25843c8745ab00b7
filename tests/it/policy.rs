//! Policies on the request (design.md §9): `match.when` at intake and on revisions, and the
//! simulator — `POST /v1/simulate` and `countersign simulate` — which changes nothing.

use crate::revisions::{request_changes, revise_as};
use crate::support::process::{BIN, write_config};
use crate::support::{AGENT_KEY, Stage, TestApp, TestConfig, Workflow, assert_error};
use countersign::store::db;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Seed 002: a payment over 100 needs finance (two stages), up to 100 one engineer;
/// a payment without a numeric amount matches neither (fail closed).
fn payments() -> TestConfig {
    TestConfig::default()
        .workflow(
            Workflow::new("large-payment")
                .intents(["payment.send"])
                .when("/payload/amount", "gt", json!(100))
                .stage(
                    Stage::new("Finance")
                        .approvers(["user:frank", "user:bob"])
                        .delegate_after("30m", ["user:dave"])
                        .sla("1h")
                        .escalation_target("user:erin"),
                )
                .stage(Stage::new("Security").approvers(["role:security_analyst"])),
        )
        .workflow(
            Workflow::new("small-payment")
                .intents(["payment.send"])
                .when("/payload/amount", "lte", json!(100))
                .when("/resource", "glob", json!("acct/*"))
                .stage(Stage::new("Engineer").approvers(["user:bob", "user:carol"])),
        )
}

fn payment(amount: Value) -> Value {
    json!({
        "intent": "payment.send",
        "summary": "Pay the invoice",
        "resource": "acct/42",
        "payload": {"amount": amount, "to": "ACME"},
        "risk": {"score": 20},
        "requested_by": "bob@example.com",
    })
}

#[tokio::test]
async fn the_amount_picks_the_workflow_and_a_missing_one_fails_closed() {
    let app = TestApp::spawn_with(payments()).await;
    for (amount, workflow) in [
        (json!(150), "large-payment"),
        (json!(100.5), "large-payment"),
        (json!(100), "small-payment"),
        (json!(-3), "small-payment"),
    ] {
        let doc = app.escalate_with(payment(amount.clone())).await;
        assert_eq!(doc["workflow"], workflow, "amount {amount}");
    }
    // A string is not a number, and a missing field matches nothing: no_workflow.
    for body in [payment(json!("150")), payment(Value::Null), {
        let mut b = payment(json!(5));
        b["payload"].as_object_mut().unwrap().remove("amount");
        b
    }] {
        let r = app.create(body).await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "no_workflow").await;
    }
    // Small, but on another resource: the second condition fails too.
    let mut elsewhere = payment(json!(5));
    elsewhere["resource"] = json!("user/7");
    let r = app.create(elsewhere).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "no_workflow").await;
}

#[tokio::test]
async fn a_revision_may_not_cross_a_when_threshold() {
    let app = TestApp::spawn_with(payments()).await;
    let doc = app.escalate_with(payment(json!(50))).await;
    assert_eq!(doc["workflow"], "small-payment");
    let id = crate::support::requests::id_of(&doc);
    request_changes(&app, &id, "carol", "pay the full invoice").await;
    let r = revise_as(&app, AGENT_KEY, &id, &payment(json!(5000)), None).await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("match"), "{message}");
    assert!(message.contains("small-payment"), "{message}");
    // Still on its side of the threshold: accepted.
    let r = revise_as(&app, AGENT_KEY, &id, &payment(json!(80)), None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Rows of every table and the audit chain's head.
async fn state(app: &TestApp) -> (Vec<(String, i64)>, Option<String>) {
    let tables: Vec<String> = db::query_scalar(if crate::support::on_postgres() {
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    })
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(tables.len() >= 8, "{tables:?}");
    let mut counts = Vec::new();
    for t in tables {
        // The names come from sqlite_master, not from input.
        let sql = format!("SELECT COUNT(*) FROM \"{t}\"");
        let n: i64 = db::query_scalar(sql).fetch_one(&app.db).await.unwrap();
        counts.push((t, n));
    }
    let head = db::query_scalar("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&app.db)
        .await
        .unwrap();
    (counts, head)
}

async fn simulate(app: &TestApp, key: Option<&str>, body: &str) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/v1/simulate"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        r = r.bearer_auth(key);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn simulate_explains_and_changes_nothing() {
    let app = TestApp::spawn_with(payments()).await;
    // Something real first, so the tables and the audit chain are not empty.
    app.escalate_with(payment(json!(500))).await;
    let before = state(&app).await;
    assert!(before.1.is_some());

    let r = simulate(&app, Some(AGENT_KEY), &payment(json!(50)).to_string()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sim: Value = r.json().await.unwrap();
    assert_eq!(sim["workflow"], "small-payment");
    let skipped = sim["skipped"].as_array().unwrap();
    // The standard workflows fail on their intents; large-payment on when[0], with the value.
    let large = skipped
        .iter()
        .find(|s| s["workflow"] == "large-payment")
        .unwrap();
    assert_eq!(
        large["failed"],
        json!({"part": "when", "index": 0, "path": "/payload/amount", "wants": "gt 100", "actual": 50})
    );
    assert!(
        skipped
            .iter()
            .filter(|s| s["workflow"] != "large-payment")
            .all(|s| s["failed"]["part"] == "intents")
    );
    // bob asked for it: he may not approve it himself.
    assert_eq!(sim["stages"][0]["eligible"], json!(["carol"]));
    assert_eq!(sim["stages"][0]["excluded"][0]["reviewer"], "bob");

    let r = simulate(&app, Some(AGENT_KEY), &payment(json!(500)).to_string()).await;
    let sim: Value = r.json().await.unwrap();
    assert_eq!(sim["workflow"], "large-payment");
    let one = &sim["stages"][0];
    assert_eq!(one["eligible"], json!(["frank"]));
    assert_eq!(one["joins"][0]["reviewers"], json!(["dave"]));
    assert_eq!(one["joins"][1]["why"], "SLA escalation");
    assert_eq!(sim["stages"][1]["eligible"], json!(["alice", "erin"]));
    let now = app.clock_now();
    let at = |i: usize| {
        sim["timeline"][i]["at"]
            .as_str()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
    };
    assert_eq!(at(0), Some((now + chrono::Duration::minutes(30)).into()));
    assert_eq!(at(1), Some((now + chrono::Duration::hours(1)).into()));
    let timeout = &sim["timeline"][2];
    assert_eq!(timeout["offset_seconds"], 24 * 3600);
    assert_eq!(sim["channels"], json!(["slack", "email"]));
    // The test config has neither section: both are named as off.
    let notes = sim["notes"].to_string();
    assert!(
        notes.contains("slack is off") && notes.contains("email is off"),
        "{notes}"
    );

    // Nothing governs it: 200 with no workflow, and every workflow's reason.
    let r = simulate(&app, Some(AGENT_KEY), &payment(json!("x")).to_string()).await;
    let sim: Value = r.json().await.unwrap();
    assert_eq!(sim["workflow"], Value::Null);
    assert!(sim["stages"].as_array().unwrap().is_empty());

    // As strict as intake; without a key, 401.
    let r = simulate(&app, None, &payment(json!(5)).to_string()).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = simulate(&app, Some("wrong"), &payment(json!(5)).to_string()).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let mut unknown = payment(json!(5));
    unknown["amount"] = json!(5);
    let r = simulate(&app, Some(AGENT_KEY), &unknown.to_string()).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = simulate(&app, Some(AGENT_KEY), r#"{"intent":"a","intent":"b"}"#).await;
    assert_error(r, StatusCode::BAD_REQUEST, "malformed").await;

    assert_eq!(state(&app).await, before, "simulate wrote something");
}

#[tokio::test]
async fn the_cli_simulates_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = write_config(dir.path(), &payments()).await;
    let request = dir.path().join("request.json");
    std::fs::write(&request, payment(json!(500)).to_string()).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["simulate", "--config", &config];
        args.extend_from_slice(extra);
        std::process::Command::new(BIN)
            .args(&args)
            .arg(&request)
            .output()
            .unwrap()
    };
    // Two agents in the config: it must be told which one sends it.
    let out = run(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agent"));

    let out = run(&["--agent", "test-agent"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("workflow: large-payment"), "{text}");
    assert!(text.contains("skipped single: intents"), "{text}");
    assert!(
        text.contains("stage 1 (Finance): 1 approval(s) from frank"),
        "{text}"
    );
    assert!(text.contains("bob: requested this action"), "{text}");
    assert!(text.contains("intake + 30m = "), "{text}");

    let out = run(&["--agent", "test-agent", "--json"]);
    let sim: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sim["workflow"], "large-payment");
    // It opened no database.
    if let crate::support::TestDb::Sqlite(file) = &db {
        assert!(!file.exists());
    }
}
