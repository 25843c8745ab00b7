//! Analytics end to end (design.md §8): a scripted history on the manual clock through the
//! real server, then `GET /v1/analytics` and `countersign report` must show its exact
//! figures; operators only; `since` windows leave older facts out.

use crate::support::process::{run, text};
use crate::support::{AGENT_KEY, Stage, TestApp, TestConfig, Workflow, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

/// `an.deploy`: bob or carol approves; `an.refund`: alice alone, timing out after an hour.
fn config() -> TestConfig {
    TestConfig::default()
        .admin("erin")
        .workflow(
            Workflow::new("deploys")
                .intents(["an.deploy"])
                .stage(Stage::new("Review").approvers(["user:bob", "user:carol"])),
        )
        .workflow(
            Workflow::new("refunds")
                .intents(["an.refund"])
                .timeout("1h")
                .stage(Stage::new("Finance").approvers(["user:alice"])),
        )
}

/// The app, its database (the report command reads it too) and the directory that holds
/// the SQLite file.
async fn spawn() -> (TestApp, crate::support::TestDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::TestDb::fresh(dir.path()).await;
    let app = TestApp::spawn_with(crate::support::Options {
        config: config(),
        manual_workers: true,
        database: Some(db.clone()),
        ..Default::default()
    })
    .await;
    (app, db, dir)
}

async fn analytics(app: &TestApp, key: &str, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/analytics{query}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("request")
}

async fn report(app: &TestApp, query: &str) -> Value {
    let r = analytics(app, "erin-key", query).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn deny(app: &TestApp, id: &str, reviewer: &str, comment: &str) {
    let body = json!({"decision": "deny", "comment": comment});
    let r = app.vote(id, reviewer, body).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

fn find<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v[field] == value)
        .unwrap_or_else(|| panic!("no {field} = {value} in {list}"))
}

#[tokio::test]
async fn a_scripted_history_shows_its_exact_figures() {
    let (app, db, _dir) = spawn().await;
    // Deploy A: bob approves after 60 s. Deploy B: carol denies after 120 s. Deploy C:
    // bob approves after 30 s.
    let a = app.escalate_id("an.deploy").await;
    app.advance(60 * SEC).await;
    app.approve(&a, "bob").await;
    let b = app.escalate_id("an.deploy").await;
    app.advance(120 * SEC).await;
    deny(&app, &b, "carol", "No deploys on Fridays").await;
    let c = app.escalate_id("an.deploy").await;
    app.advance(30 * SEC).await;
    app.approve(&c, "bob").await;
    // Refund D times out after its hour; refund E is cancelled after 10 s.
    let _d = app.escalate_id("an.refund").await;
    app.advance(3600 * SEC).await;
    let e = app.escalate_id("an.refund").await;
    app.advance(10 * SEC).await;
    assert_eq!(app.cancel(&e, None).await.status(), StatusCode::OK);
    // One more deploy waits: it is open, and bob and carol each have it pending.
    let f = app.escalate_id("an.deploy").await;

    let r = report(&app, "?since=24h").await;
    let t = &r["totals"];
    assert_eq!(
        [
            &t["decided"],
            &t["approved"],
            &t["denied"],
            &t["expired"],
            &t["cancelled"],
            &t["open"]
        ],
        [5, 2, 1, 1, 1, 1]
    );
    let deploy = find(&r["by_intent"], "intent", "an.deploy");
    assert_eq!(deploy["decided"], 3);
    // Durations 30, 60, 120: median 60, p90 the 3rd (⌈2.7⌉).
    assert_eq!(deploy["median_seconds"], 60.0);
    assert_eq!(deploy["p90_seconds"], 120.0);
    assert_eq!(deploy["approval_rate"], 2.0 / 3.0);
    assert_eq!(deploy["deny_rate"], 1.0 / 3.0);
    assert_eq!(deploy["latest_denials"][0]["escalation_id"], b);
    assert_eq!(
        deploy["latest_denials"][0]["comment"],
        "No deploys on Fridays"
    );
    let refund = find(&r["by_intent"], "intent", "an.refund");
    // 3600 and 10 s: the mean of the two middle values.
    assert_eq!(refund["median_seconds"], 1805.0);
    assert_eq!(refund["timeout_rate"], 0.5);
    let bob = find(&r["by_reviewer"], "reviewer", "bob");
    assert_eq!(
        (bob["votes"].clone(), bob["approvals"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(bob["median_response_seconds"], 45.0);
    assert_eq!(bob["pending"], 1);
    let carol = find(&r["by_reviewer"], "reviewer", "carol");
    assert_eq!(carol["denials"], 1);
    assert_eq!(carol["median_response_seconds"], 120.0);
    let review = find(&r["by_stage"], "workflow", "deploys");
    assert_eq!(
        [
            &review["stage"],
            &review["name"],
            &review["closed"],
            &review["rejected"]
        ],
        [&json!(1), &json!("Review"), &json!(3), &json!(1)]
    );
    assert_eq!(review["median_seconds"], 60.0);
    assert_eq!(review["rejection_rate"], 1.0 / 3.0);
    let finance = find(&r["by_stage"], "workflow", "refunds");
    assert_eq!([&finance["expired"], &finance["cancelled"]], [1, 1]);
    // Three first votes, all of escalations that arrived in the same hour or the next.
    let first: u64 = r["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["first_votes"].as_u64().unwrap())
        .sum();
    assert_eq!(first, 3);
    let unscored = find(&r["by_risk"], "tier", "unscored");
    assert_eq!(unscored["decided"], 5);
    assert_eq!(r["suggestions"], json!([]));

    // The pending deploy: created now, its one stage's approved median is 45 s (30, 60).
    let status = app.status(&f).await;
    let expected = app.clock_now() + chrono::Duration::seconds(45);
    let at: chrono::DateTime<chrono::Utc> = status["estimated_completion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(at.timestamp_millis(), expected.timestamp_millis());
    assert_eq!(app.status(&a).await["estimated_completion"], Value::Null);

    // A window that starts after the deploys leaves them out.
    app.advance(3 * 3600 * SEC).await;
    let r = report(&app, "?since=1h").await;
    assert_eq!(r["totals"]["decided"], 0);
    assert_eq!(r["by_intent"], json!([]));
    assert_eq!(r["totals"]["open"], 1);

    // The report command reads the same database: the same figures as tables.
    let out = run(&["report", "--since", "1w", "--database", &db.url()]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("an.deploy"), "{printed}");
    assert!(printed.contains("No deploys on Fridays"), "{printed}");
    assert!(printed.contains("66.7%"), "{printed}");
    assert!(printed.contains("30m 5s"), "{printed}");
}

#[tokio::test]
async fn twenty_approvals_suggest_auto_approve() {
    let (app, _db, _dir) = spawn().await;
    for _ in 0..20 {
        let id = app.escalate_id("an.deploy").await;
        app.advance(SEC).await;
        app.approve(&id, "bob").await;
    }
    let r = report(&app, "").await;
    let s = &r["suggestions"][0];
    assert_eq!(
        [&s["intent"], &s["suggestion"], &s["decided"], &s["rate"]],
        [
            &json!("an.deploy"),
            &json!("auto_approve"),
            &json!(20),
            &json!(1.0)
        ]
    );
}

#[tokio::test]
async fn only_operators_read_analytics_and_bad_queries_are_refused() {
    let (app, _db, _dir) = spawn().await;
    let r = analytics(&app, "alice-key", "").await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = analytics(&app, AGENT_KEY, "").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = analytics(&app, "nobody", "").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for bad in ["?since=7x", "?since=367d", "?since=", "?window=7d"] {
        let r = analytics(&app, "erin-key", bad).await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    }
    for good in ["?since=30m", "?since=24h", "?since=2w", ""] {
        assert_eq!(
            analytics(&app, "erin-key", good).await.status(),
            StatusCode::OK
        );
    }
}
