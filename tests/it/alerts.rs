//! Alerts end to end (design.md §8): each kind fires once per subject and window, is
//! audited, reaches the fake Slack channel and a real SMTP server through the outbox, and
//! is closed once its condition clears; the checks run from the timer worker's step on the
//! manual clock (nothing sleeps) and their schedule survives a restart. Also `alerts:`
//! validation, `/metrics`, and the shipped Prometheus rules checked by `promtool`.

use crate::support::fake_slack::{Fail, FakeSlack, check_blocks};
use crate::support::requests::id_of;
use crate::support::smtp::SmtpServer;
use crate::support::{AGENT_KEY, Options, Stage, TestApp, TestConfig, Workflow};
use countersign::store::alerts::AlertRow;
use countersign::store::db;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);
const CHANNEL: &str = "C0ALERTS";
const OPS: &str = "ops@example.com";

async fn spawn(config: TestConfig) -> TestApp {
    TestApp::spawn_with(Options {
        config,
        manual_workers: true,
        ..Options::default()
    })
    .await
}

/// Slack and email on, alerts to [`CHANNEL`] and [`OPS`] with these thresholds.
fn with_alerts(slack: &FakeSlack, smtp: &SmtpServer, thresholds: Value) -> TestConfig {
    let mut alerts = json!({"slack_channel": CHANNEL, "email": OPS});
    for (k, v) in thresholds.as_object().unwrap() {
        alerts[k] = v.clone();
    }
    TestConfig::default()
        .slack(&slack.api_url)
        .email(&smtp.url())
        .alerts(alerts)
}

async fn alerts_of(app: &TestApp, kind: &str) -> Vec<AlertRow> {
    let all = app.service.store.alerts().await.expect("alerts");
    all.into_iter().filter(|a| a.kind == kind).collect()
}

/// Runs the timer step (and so the alert check, when due) at the clock's time.
async fn check(app: &TestApp) -> usize {
    countersign::workers::timers::run_once(&app.service, app.clock_now())
        .await
        .expect("timer step")
        .alerts
}

/// `alert_fired` audit events about no escalation, with their data.
async fn global_alert_audits(app: &TestApp) -> Vec<Value> {
    let rows: Vec<(String,)> = db::query_as(
        "SELECT data FROM audit_events WHERE kind = 'alert_fired' AND escalation_id IS NULL",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(d,)| serde_json::from_str(&d).unwrap())
        .collect()
}

#[tokio::test]
async fn a_stage_stuck_past_its_sla_alerts_once_in_slack_and_by_mail_then_clears() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn(with_alerts(&slack, &smtp, json!({"stuck_after": "15m"}))).await;
    // `delegation`: SLA 30m, timeout 2h.
    let id = app.escalate_id("test.delegation").await;
    app.advance(40 * MIN).await;
    assert!(
        alerts_of(&app, "stuck").await.is_empty(),
        "10m past the SLA is not stuck yet"
    );
    app.advance(10 * MIN).await;
    let stuck = alerts_of(&app, "stuck").await;
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].subject, format!("{id}/stage/1/round/1"));
    assert_eq!(stuck[0].escalation_id.as_deref(), Some(id.as_str()));
    assert!(stuck[0].resolved_at.is_none());
    assert!(
        app.audit_kinds(&id)
            .await
            .contains(&"alert_fired".to_owned())
    );
    // Later checks in the same opening add nothing.
    app.advance(5 * MIN).await;
    app.advance(5 * MIN).await;
    assert_eq!(alerts_of(&app, "stuck").await.len(), 1);
    let fired = app.audit_kinds(&id).await;
    assert_eq!(fired.iter().filter(|k| *k == "alert_fired").count(), 1);

    app.deliver_all().await;
    let posts = slack.messages_in(CHANNEL);
    assert_eq!(posts.len(), 1, "one Slack alert");
    check_blocks(&posts[0].blocks, 50, false).expect("valid Block Kit");
    let text = posts[0].all_text();
    assert!(text.contains("Stage stuck past its SLA"), "{text}");
    assert!(text.contains(&format!("/ui/escalations/{id}")), "{text}");
    let mails = smtp.to(OPS);
    assert_eq!(mails.len(), 1, "one alert email");
    assert!(
        mails[0].subject.contains("Stage stuck"),
        "{}",
        mails[0].subject
    );
    assert_eq!((mails[0].text_parts, mails[0].html_parts), (1, 1));
    assert!(mails[0].text.contains(&format!("/ui/escalations/{id}")));

    // Dave (the escalation target) approves: the stage is no longer open, the alert closes.
    let r = app.vote(&id, "dave", json!({"decision": "approve"})).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    app.advance(MIN).await;
    let stuck = alerts_of(&app, "stuck").await;
    assert_eq!(stuck.len(), 1);
    assert!(
        stuck[0].resolved_at.is_some(),
        "cleared once the stage closed"
    );
}

#[tokio::test]
async fn an_overloaded_reviewer_alerts_once_a_day_and_clears_when_the_queue_shrinks() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn(with_alerts(&slack, &smtp, json!({"max_pending": 2}))).await;
    let first = app.escalate_id("test.single").await;
    check(&app).await;
    assert!(alerts_of(&app, "overloaded").await.is_empty());
    app.escalate_id("test.single").await;
    app.advance(MIN).await;
    // Bob and Carol both have two waiting.
    let mut subjects: Vec<String> = alerts_of(&app, "overloaded")
        .await
        .into_iter()
        .map(|a| a.subject)
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["bob", "carol"]);
    let audits = global_alert_audits(&app).await;
    assert_eq!(audits.len(), 2);
    assert_eq!(audits[0]["kind"], "overloaded");
    assert_eq!(audits[0]["figures"]["pending"], 2);
    // A third and a fourth check in the same day add nothing.
    assert_eq!(app.advance(MIN).await, 0);
    assert_eq!(check(&app).await, 0, "not due again within the minute");
    app.advance(MIN).await;
    assert_eq!(alerts_of(&app, "overloaded").await.len(), 2);
    app.deliver_all().await;
    assert_eq!(slack.messages_in(CHANNEL).len(), 2);
    assert_eq!(smtp.to(OPS).len(), 2);

    app.cancel(&first, Some("not needed")).await;
    app.advance(MIN).await;
    let open: Vec<_> = alerts_of(&app, "overloaded")
        .await
        .into_iter()
        .filter(|a| a.resolved_at.is_none())
        .collect();
    assert!(open.is_empty(), "{open:?}");
}

#[tokio::test]
async fn a_stage_rejecting_too_often_alerts_only_once_twenty_decisions_exist() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn(with_alerts(&slack, &smtp, json!({"rejection_rate": 0.5}))).await;
    let decide = |deny: bool| {
        let app = &app;
        async move {
            let id = app.escalate_id("test.single").await;
            let body = if deny {
                json!({"decision": "deny", "comment": "no"})
            } else {
                json!({"decision": "approve"})
            };
            let r = app.vote(&id, "bob", body).await;
            assert_eq!(r.status(), StatusCode::OK);
        }
    };
    // 10 denied of 19: over half, but fewer than 20 decisions.
    for i in 0..19 {
        decide(i < 10).await;
    }
    app.advance(MIN).await;
    assert!(alerts_of(&app, "rejection_rate").await.is_empty());
    decide(true).await;
    app.advance(MIN).await;
    let fired = alerts_of(&app, "rejection_rate").await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].subject, "single/stage/1");
    let data: Value = serde_json::from_str(&fired[0].data).unwrap();
    assert_eq!(
        (data["rejected"].clone(), data["of"].clone()),
        (json!(11), json!(20))
    );
    app.advance(MIN).await;
    assert_eq!(alerts_of(&app, "rejection_rate").await.len(), 1);
    // Approvals bring the last 20 down to 11 − 2 = 9 rejected: cleared.
    decide(false).await;
    decide(false).await;
    app.advance(MIN).await;
    assert!(
        alerts_of(&app, "rejection_rate").await[0]
            .resolved_at
            .is_some()
    );
}

/// `test.capped`: bob approves a payment (as in execution.rs).
fn capped() -> Workflow {
    Workflow::new("capped")
        .intents(["test.capped"])
        .number_condition("max_amount", "Cap the amount", "/amount", "lte")
        .stage(Stage::new("Finance").approvers(["user:bob"]))
}

#[tokio::test]
async fn an_execution_mismatch_alerts_at_once_with_the_agent_text_escaped() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn(with_alerts(&slack, &smtp, json!({})).workflow(capped())).await;
    let doc = app
        .escalate_with(
            json!({"intent": "test.capped", "summary": "Pay <!channel> ACME",
                              "payload": {"amount": 15000}}),
        )
        .await;
    let id = id_of(&doc);
    let r = app.vote(&id, "bob", json!({"decision": "approve"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/execution")))
        .bearer_auth(AGENT_KEY)
        .json(&json!({"status": "succeeded", "payload": {"amount": 19000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // In the report's own transaction: no timer step ran.
    let fired = alerts_of(&app, "execution_mismatch").await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].subject, id);
    assert!(
        app.audit_kinds(&id)
            .await
            .contains(&"alert_fired".to_owned())
    );

    app.deliver_all().await;
    let post = &slack.messages_in(CHANNEL)[0];
    check_blocks(&post.blocks, 50, false).expect("valid Block Kit");
    let text = post.all_text();
    assert!(text.contains("Pay &lt;!channel&gt; ACME"), "{text}");
    assert!(!text.contains("<!channel>"), "{text}");
    let mail = &smtp.to(OPS)[0];
    assert!(
        mail.html.contains("Pay &lt;!channel&gt; ACME"),
        "{}",
        mail.html
    );

    // An event alert leaves the open list when its day is over.
    app.advance(Duration::from_secs(24 * 3600)).await;
    assert!(
        alerts_of(&app, "execution_mismatch").await[0]
            .resolved_at
            .is_some()
    );
}

#[tokio::test]
async fn a_delivery_given_up_alerts_once_and_a_failing_alert_raises_none() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn(with_alerts(&slack, &smtp, json!({}))).await;
    // Every post fails for good: the reviewers' DMs, then the alerts' own channel posts.
    slack.fail_next("chat.postMessage", 50, Fail::Error("channel_not_found"));
    let id = app.escalate_id("test.single").await;
    app.deliver_all().await;
    let failed = alerts_of(&app, "delivery_failed").await;
    assert_eq!(failed.len(), 2, "bob's and carol's DMs: {failed:?}");
    assert!(
        failed
            .iter()
            .all(|a| a.escalation_id.as_deref() == Some(id.as_str()))
    );
    // The alerts' Slack posts failed too and raised nothing; their emails went out.
    assert_eq!(smtp.to(OPS).len(), 2);
    let open: i64 = db::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(open, 0, "the outbox settled");
    let given_up_alerts: i64 = db::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND failed_at IS NOT NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(given_up_alerts, 2);
}

#[tokio::test]
async fn a_restart_resumes_the_check_schedule() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = with_alerts(&slack, &smtp, json!({"max_pending": 5}));
    let db = crate::support::TestDb::fresh(dir.path()).await;
    let options = |config: TestConfig| Options {
        config,
        manual_workers: true,
        database: Some(db.clone()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(options(config.clone())).await;
    let now = app.clock_now();
    check(&app).await;
    let booked = app.service.store.next_alert_check().await.unwrap().unwrap();
    assert_eq!(booked, now + chrono::Duration::seconds(60));
    app.stop().await;

    let app = TestApp::spawn_with(options(config)).await;
    assert_eq!(
        app.service.store.next_alert_check().await.unwrap(),
        Some(booked)
    );
    let run = |at| countersign::workers::timers::run_once(&app.service, at);
    run(booked - chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(
        app.service.store.next_alert_check().await.unwrap(),
        Some(booked),
        "not due yet"
    );
    run(booked).await.unwrap();
    assert_eq!(
        app.service.store.next_alert_check().await.unwrap(),
        Some(booked + chrono::Duration::seconds(60))
    );
}

/// Loads the test config with this `alerts:` (and these channels); the issues as `path: message`.
fn issues(alerts: Value, slack: bool, email: bool) -> (Vec<String>, Vec<String>) {
    let mut config = TestConfig::default().alerts(alerts);
    if slack {
        config = config.slack("http://127.0.0.1:9/api/");
    }
    if email {
        config = config.email("smtp://127.0.0.1:2525");
    }
    let yaml = config.render(std::path::Path::new("/tmp/unused.db"));
    let show = |i: &countersign::config::ConfigIssue| format!("{}: {}", i.path, i.message);
    let ours = |s: &String| s.starts_with("alerts");
    match countersign::config::load_str_with(&yaml, "test", &|_| None) {
        Ok(loaded) => (
            Vec::new(),
            loaded.warnings.iter().map(show).filter(ours).collect(),
        ),
        Err(e) => (
            e.errors().map(show).filter(ours).collect(),
            e.issues
                .iter()
                .filter(|i| !i.is_error())
                .map(show)
                .filter(ours)
                .collect(),
        ),
    }
}

#[test]
fn check_config_names_each_alerts_problem_by_its_path() {
    let all = json!({"stuck_after": "30m", "max_pending": 5, "rejection_rate": 0.5});
    let with = |extra: Value| {
        let mut a = all.clone();
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    let (errors, warnings) = issues(
        with(json!({"slack_channel": "C1", "email": [OPS, "x@y.z"]})),
        true,
        true,
    );
    assert!(
        errors.is_empty() && warnings.is_empty(),
        "{errors:?} {warnings:?}"
    );

    let (errors, _) = issues(all.clone(), true, true);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("alerts: has no destination")),
        "{errors:?}"
    );
    let (errors, _) = issues(with(json!({"slack_channel": "C1"})), false, true);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("alerts.slack_channel: needs a `slack:`")),
        "{errors:?}"
    );
    let (errors, _) = issues(with(json!({"email": OPS})), true, false);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("alerts.email: needs an `email:`")),
        "{errors:?}"
    );
    let (errors, _) = issues(with(json!({"email": ["not-an-address"]})), true, true);
    assert!(
        errors.iter().any(|e| e.starts_with("alerts.email[0]:")),
        "{errors:?}"
    );
    let (errors, _) = issues(
        with(json!({"email": OPS, "max_pending": 0, "rejection_rate": 1.5})),
        true,
        true,
    );
    assert!(
        errors.iter().any(|e| e.starts_with("alerts.max_pending:")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("alerts.rejection_rate:")),
        "{errors:?}"
    );

    // A missing threshold is valid: its check is off, and check-config says so.
    let (errors, warnings) = issues(json!({"email": OPS}), false, true);
    assert!(errors.is_empty(), "{errors:?}");
    for w in [
        "alerts.stuck_after",
        "alerts.max_pending",
        "alerts.rejection_rate",
    ] {
        assert!(
            warnings
                .iter()
                .any(|x| x.starts_with(w) && x.contains("off")),
            "{w}: {warnings:?}"
        );
    }
}

/// `promtool`, required under CI (`.ci/run` installs Debian's `prometheus`).
fn promtool() -> Option<&'static str> {
    let present = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing under CI"
        );
        eprintln!(
            "SKIPPED: apt-get install prometheus (for promtool) to check the rules file and /metrics"
        );
        return None;
    }
    Some("promtool")
}

#[tokio::test]
async fn metrics_show_alerts_and_time_to_decision_and_promtool_accepts_them_and_the_rules() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn(with_alerts(&slack, &smtp, json!({"max_pending": 1}))).await;
    let id = app.escalate_id("test.single").await;
    app.advance(MIN).await;
    app.clock.advance(5 * MIN);
    app.approve(&id, "bob").await;
    // The gauges are cached for a few seconds; this is the first scrape.
    let body = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("countersign_alerts_total{kind=\"overloaded\"}"),
        "{body}"
    );
    assert!(
        body.contains("countersign_alerts_open{kind=\"overloaded\"} 2"),
        "{body}"
    );
    assert!(
        body.contains("countersign_alerts_open{kind=\"stuck\"} 0"),
        "{body}"
    );
    assert!(
        body.contains("countersign_decision_seconds_bucket{workflow=\"single\",le=\"604800\"}"),
        "{body}"
    );
    let Some(promtool) = promtool() else { return };
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prometheus-rules.yml");
    let out = std::process::Command::new(promtool)
        .args(["check", "rules", rules])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // `check metrics` lints too (exit 3 for lint-only findings); a parse error is exit 1.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(1), "{said}");
    assert!(!said.contains("error while linting"), "{said}");
}

#[tokio::test]
async fn the_checks_read_through_their_indexes() {
    if crate::support::sqlite_only("SQLite's query plans") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let store = countersign::store::Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let db = crate::support::open_db(&path).await;
    for (name, sql, index) in countersign::store::alerts::check_queries() {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for _ in 0..sql.matches('?').count() {
            q = q.bind(None::<String>);
        }
        let plan: Vec<String> = q
            .fetch_all(&db)
            .await
            .unwrap()
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
            .collect();
        let text = plan.join(" | ");
        assert!(text.contains(index), "{name} should use {index}: {text}");
        assert!(!text.contains("TEMP B-TREE"), "{name} sorts: {text}");
    }
}
